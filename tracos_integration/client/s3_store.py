"""One prefix of an S3 bucket, as RemoteFolders (remote.py) uses it.

An object is whole once it exists. Its identity is its ETag (64 bits of a hash of it, in
FileIdentity.inode, so a read file's identity still travels as one int between a run's
steps) with its size and LastModified. A move is CopyObject with CopySourceIfMatch (only the
version read is copied), then DeleteObject; a file is written with one PUT."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Iterable, Iterator, Optional

from tracos_integration.client.reading import NotReadable, grew_reason, too_big_reason
from tracos_integration.client.remote_store import ChangedSinceRead, Entry, changed_reason, differences
from tracos_integration.client.transports import FolderURL, open_s3
from tracos_integration.client.writing import ClientFolderError
from tracos_integration.core.files import FileIdentity

S3_PAGE_KEYS = 1000  # objects per ListObjectsV2 page: one page is held at a time


def etag_tag(etag: str) -> int:
    """64 bits of a hash of an ETag: fits FileIdentity.inode, so a read file's identity still
    travels as one int between the run's steps."""
    return int.from_bytes(hashlib.sha256(etag.encode()).digest()[:8], "big")


class S3Store:
    """One prefix of an S3 bucket, through s3fs (its aiobotocore client, called directly so
    listings come a page at a time and copies are conditional)."""

    def __init__(self, url: FolderURL) -> None:
        self.url = url
        self.bucket, self.prefix = url.host, url.path
        self._fs = None

    @property
    def fs(self):
        if self._fs is None:
            self._fs = open_s3()
        return self._fs

    def reconnect(self) -> None:
        self._fs = None

    def close(self) -> None:
        self._fs = None

    def key(self, name: str, sub: str = "") -> str:
        return "/".join(part for part in (self.prefix, sub, name) if part)

    def _call(self, method: str, **kwargs: Any) -> dict:
        return self.fs.call_s3(method, Bucket=self.bucket, **kwargs)

    def check_root(self) -> None:
        try:
            self._call("list_objects_v2", Prefix=self.key("", ""), MaxKeys=1)
        except FileNotFoundError:
            raise ClientFolderError(
                f"the bucket of {self.url.shown} does not exist; create it or fix the URL") from None

    def entries(self) -> Iterator[Entry]:
        """The objects directly under the prefix, one ListObjectsV2 page (1,000) at a time."""
        prefix = self.key("", "") + "/" if self.prefix else ""
        token = None
        while True:
            extra = {"ContinuationToken": token} if token else {}
            page = self._call("list_objects_v2", Prefix=prefix, Delimiter="/", MaxKeys=S3_PAGE_KEYS, **extra)
            for item in page.get("Contents", ()):
                name = item["Key"][len(prefix):]
                if name:  # "" is a folder marker object
                    yield Entry(name, "file", item["Size"], _ns(item["LastModified"]))
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

    def _head(self, name: str, sub: str = "") -> dict:
        return self._call("head_object", Key=self.key(name, sub))

    def identity(self, name: str, sub: str = "") -> FileIdentity:
        return _identity(self._head(name, sub))

    def read(self, name: str, max_bytes: int) -> tuple[bytes, FileIdentity, Optional[str]]:
        from fsspec.asyn import sync

        async def get() -> tuple[dict, bytes]:
            response = await self.fs._call_s3("get_object", Bucket=self.bucket, Key=self.key(name))
            body = response["Body"]
            try:
                if response["ContentLength"] > max_bytes:  # failed without being read
                    return response, b""
                return response, await body.read(max_bytes + 1)
            finally:
                body.close()

        try:
            response, data = sync(self.fs.loop, get)
        except PermissionError as error:
            raise NotReadable(f"permission denied: {error}") from None
        identity = _identity(response)
        if identity.size > max_bytes:
            return b"", identity, too_big_reason(identity.size, max_bytes)
        if len(data) > max_bytes:
            return b"", identity, grew_reason(max_bytes)
        return data, identity, None

    def move(self, name: str, sub: str, target: str, identity: FileIdentity) -> None:
        """Copy the version read (CopySourceIfMatch) to `sub/target` unless that name is taken
        (FileExistsError), then delete the source if it is still that version."""
        head = self._head(name)
        changed = differences(identity, _identity(head))
        if changed:
            raise ChangedSinceRead(changed_reason(changed))
        if self.exists(target, sub):
            raise FileExistsError(self.key(target, sub))
        try:
            self._copy_new(name, "", target, sub, head["ETag"])
        except FileExistsError:  # If-None-Match: the name was taken since the look
            raise
        except OSError as error:
            if _code(error) == "PreconditionFailed":  # CopySourceIfMatch: the source changed since the look
                raise ChangedSinceRead(changed_reason(["ETag"])) from None
            raise
        self._delete_version(name, "", head["ETag"])

    def delete_if_unchanged(self, name: str, identity: FileIdentity) -> None:
        """Delete the object if it is still the version read (a move whose copy is done)."""
        head = self._head(name)
        if not differences(identity, _identity(head)):
            self._delete_version(name, "", head["ETag"])

    def rename_new(self, sub: str, name: str, target: str) -> None:
        if self.exists(target, sub):
            raise FileExistsError(self.key(target, sub))
        head = self._head(name, sub)
        self._copy_new(name, sub, target, sub, head["ETag"])
        self._delete_version(name, sub, head["ETag"])

    def _delete_version(self, name: str, sub: str, etag: str) -> None:
        """Delete the object only if it is still the version copied (DeleteObject If-Match): one
        replaced since stays for the next run, the version read being archived already. A
        server without conditional deletes is asked with a HEAD first instead."""
        try:
            self._call("delete_object", Key=self.key(name, sub), IfMatch=etag)
        except FileNotFoundError:
            pass  # deleted by someone else meanwhile
        except OSError as error:
            if _code(error) == "PreconditionFailed":
                return
            if _code(error) not in ("NotImplemented", "InvalidArgument", "InvalidRequest"):
                raise
            if self._head(name, sub)["ETag"] == etag:
                self._call("delete_object", Key=self.key(name, sub))

    def _copy_new(self, name: str, sub: str, target: str, target_sub: str, etag: str) -> None:
        """Copy the version `etag` of the object to a name that must be free: the HEAD before
        spares a request, If-None-Match: * refuses a name taken since (FileExistsError)."""
        self._call("copy_object", Key=self.key(target, target_sub), CopySourceIfMatch=etag, IfNoneMatch="*",
                   CopySource={"Bucket": self.bucket, "Key": self.key(name, sub)})

    def exists(self, name: str, sub: str = "") -> bool:
        try:
            self._head(name, sub)
            return True
        except FileNotFoundError:
            return False

    def write_new(self, sub: str, name: str, data: bytes) -> None:
        if self.exists(name, sub):
            raise FileExistsError(self.key(name, sub))
        self._call("put_object", Key=self.key(name, sub), Body=data, IfNoneMatch="*")

    def replace(self, name: str, data: bytes) -> None:
        self._call("put_object", Key=self.key(name), Body=data)  # one PUT: whole or nothing

    def ensure_folder(self, sub: str) -> None:
        """S3 has no folders: a key under `sub/` is enough."""

    def taken_names(self, names: Iterable[str]) -> dict[str, str]:
        return {}  # an object can always take a key, even one that is also a prefix


def _code(error: BaseException) -> str:
    """The S3 error code behind an error s3fs translated (it keeps botocore's as the cause)."""
    cause = error.__cause__ if error.__cause__ is not None else error
    return str(getattr(cause, "response", {}).get("Error", {}).get("Code", ""))


def _ns(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def _identity(response: dict) -> FileIdentity:
    size = response.get("ContentLength", response.get("Size", 0))
    return FileIdentity(etag_tag(response["ETag"]), size, _ns(response["LastModified"]))
