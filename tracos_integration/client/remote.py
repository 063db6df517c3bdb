"""RemoteFolders: the customer's folders on an SFTP server or in S3, as one more
implementation of the client port (ports.ClientSide), beside the local ClientFolder.

The port's rules are kept once, here, over a small store per transport (SftpStore, S3Store):
name order, pages bounded by files and bytes, processed/ or failed/ with the same report,
name clashes suffixed (client/writing.py's names), nothing overwritten. What differs per
transport is how each store keeps "unchanged since read" and "atomic":

- SFTP: a file's identity is its size and modification time (SFTP has no inode); a move is
  an SFTP rename, which OpenSSH's server refuses over an existing name; outbound files are a
  hidden temporary file renamed over the target (posix-rename@openssh.com).
- S3: an object is whole once it exists; its identity is its ETag (64 bits of a hash of it,
  in FileIdentity.inode) with size and LastModified; a move is CopyObject with
  CopySourceIfMatch (only the version read is copied), then DeleteObject; an outbound file is
  one PUT.
"""

from __future__ import annotations

import hashlib
import posixpath
import stat
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable, Iterator, Optional

import paramiko

from tracos_integration.client.archive import FAILED, PROCESSED, report_document
from tracos_integration.client.folder import PAGE_BYTES, SKEW_NS, FolderScan
from tracos_integration.client.formats import FORMATS, ClientFormat, format_for
from tracos_integration.client.reading import NotReadable, StillBeingWritten
from tracos_integration.client.transports import (
    FolderURL,
    RemoteFolderError,
    RemoteRetry,
    is_remote,
    open_s3,
    open_sftp,
    parse_folder_url,
    reason,
)
from tracos_integration.client.writing import (
    ClientFolderError,
    candidate_names,
    json_bytes,
    report_name,
    temp_name,
)
from tracos_integration.core.files import Archived, FileErrors, FileIdentity, Page, ReadFile

DEFAULT_MAX_FILE_BYTES = 16 * 1024 * 1024
S3_PAGE_KEYS = 1000  # objects per ListObjectsV2 page: one page is held at a time


@dataclass(frozen=True, slots=True)
class Entry:
    """One name in a folder listing: "file", "link" or "other" (folders are not listed)."""

    name: str
    kind: str
    size: int
    mtime_ns: int


class ChangedSinceRead(Exception):
    """The file at the name is no longer the one the run read."""


def changed_reason(what: Iterable[str]) -> str:
    return f"changed after this run read it ({', '.join(what)} differ); it stays for the next run to read"


def _differences(before: FileIdentity, now: FileIdentity) -> list[str]:
    return [what for what, a, b in (("identity", before.inode, now.inode), ("size", before.size, now.size),
                                    ("modification time", before.mtime_ns, now.mtime_ns)) if a != b]


# -- SFTP ----------------------------------------------------------------------------------
class SftpStore:
    """One folder on an SFTP server, through fsspec's SFTPFileSystem (its paramiko client)."""

    def __init__(self, url: FolderURL, key_file: Optional[str], known_hosts: Optional[str]) -> None:
        self.url, self.key_file, self.known_hosts = url, key_file, known_hosts
        self._fs = None
        self._orphans: list[str] = []  # temporary files a dropped connection left

    @property
    def ftp(self):
        if self._fs is None:
            self._fs = open_sftp(self.url, self.key_file, self.known_hosts)
        return self._fs.ftp

    def reconnect(self) -> None:
        self.close()

    def close(self) -> None:
        if self._fs is not None:
            try:
                self._fs.client.close()
            except Exception:  # already broken: nothing to close
                pass
            self._fs = None

    def _path(self, name: str, sub: str = "") -> str:
        return posixpath.join(self.url.path, sub, name) if sub else posixpath.join(self.url.path, name)

    def check_root(self) -> None:
        try:
            mode = self.ftp.stat(self.url.path).st_mode
        except FileNotFoundError:
            mode = None
        if mode is None or not stat.S_ISDIR(mode):
            raise ClientFolderError(f"the folder {self.url.shown} does not exist or is not a folder; create it")

    def entries(self) -> Iterator[Entry]:
        """The folder's names, as the server sends them (listdir_iter: a batch of replies at a
        time, never the whole folder in one list)."""
        for attr in self.ftp.listdir_iter(self.url.path, read_aheads=16):
            mode = attr.st_mode or 0
            if stat.S_ISDIR(mode):
                continue
            kind = "file" if stat.S_ISREG(mode) else "link" if stat.S_ISLNK(mode) else "other"
            yield Entry(attr.filename, kind, attr.st_size or 0, int(attr.st_mtime or 0) * 1_000_000_000)

    def identity(self, name: str, sub: str = "") -> FileIdentity:
        attr = self.ftp.lstat(self._path(name, sub))
        return FileIdentity(0, attr.st_size or 0, int(attr.st_mtime or 0) * 1_000_000_000)

    def read(self, name: str, max_bytes: int) -> tuple[bytes, FileIdentity, Optional[str]]:
        path = self._path(name)
        try:
            if stat.S_ISLNK(self.ftp.lstat(path).st_mode or 0):
                raise NotReadable("is a symbolic link; links are not read")
            handle = self.ftp.open(path, "rb")
        except PermissionError as error:
            raise NotReadable(f"permission denied: {error.strerror or error}") from None
        with handle:
            attr = handle.stat()
            if not stat.S_ISREG(attr.st_mode or 0):
                raise NotReadable("is not a regular file")
            identity = FileIdentity(0, attr.st_size or 0, int(attr.st_mtime or 0) * 1_000_000_000)
            if identity.size > max_bytes:
                return b"", identity, too_big(identity.size, max_bytes)
            handle.prefetch(identity.size)
            data = handle.read(max_bytes + 1)
        if len(data) > max_bytes:
            return b"", identity, grew(max_bytes)
        return data, identity, None

    def move(self, name: str, sub: str, target: str, identity: FileIdentity) -> None:
        """Rename `name` to `sub/target`, never over an existing name (FileExistsError); then
        check that what moved is what the run read, else move it back (ChangedSinceRead)."""
        source, destination = self._path(name), self._path(target, sub)
        changed = _differences(identity, self.identity(name))
        if changed:
            raise ChangedSinceRead(changed_reason(changed))
        self._rename_new(source, destination)
        changed = _differences(identity, self.identity(target, sub))  # rewritten between the look and the move
        if changed:
            try:
                self._rename_new(destination, source)
            except OSError:
                return  # another file took the name meanwhile: keep both; this one stays in `sub`
            raise ChangedSinceRead(changed_reason(changed))

    def rename_new(self, sub: str, name: str, target: str) -> None:
        self._rename_new(self._path(name, sub), self._path(target, sub))

    def _rename_new(self, source: str, destination: str) -> None:
        try:
            self.ftp.rename(source, destination)  # OpenSSH: link() then unlink(); fails if the name exists
        except OSError as error:
            if isinstance(error, (FileNotFoundError, PermissionError)):
                raise
            if self._exists(destination):
                raise FileExistsError(destination) from None
            raise

    def _exists(self, path: str) -> bool:
        try:
            self.ftp.lstat(path)
            return True
        except FileNotFoundError:
            return False

    def exists(self, name: str, sub: str = "") -> bool:
        return self._exists(self._path(name, sub))

    def write_new(self, sub: str, name: str, data: bytes) -> None:
        temp = self._write_temp(sub, name, data)
        try:
            self._rename_new(temp, self._path(name, sub))
        finally:
            self._remove_quietly(temp)

    def replace(self, name: str, data: bytes) -> None:
        """A hidden temporary file renamed over the name (posix-rename@openssh.com)."""
        temp = self._write_temp("", name, data)
        try:
            self.ftp.posix_rename(temp, self._path(name))
        except BaseException:
            self._remove_quietly(temp)
            raise

    def _write_temp(self, sub: str, name: str, data: bytes) -> str:
        self._remove_orphans()
        temp = self._path(temp_name(name), sub)
        with self.ftp.open(temp, "wbx") as handle:  # x: SFTP's O_EXCL
            handle.write(data)
            handle.chmod(0o644)
        return temp

    def _remove_quietly(self, path: str) -> None:
        """Remove a temporary file of ours. One whose connection dropped cannot be removed
        now: it is removed when the next attempt writes, on its new connection."""
        try:
            self.ftp.remove(path)
        except FileNotFoundError:
            pass
        except (OSError, EOFError, paramiko.SSHException):
            self._orphans.append(path)

    def _remove_orphans(self) -> None:
        orphans, self._orphans = self._orphans, []
        for path in orphans:
            self._remove_quietly(path)

    def ensure_folder(self, sub: str) -> None:
        path = self._path(sub)
        try:
            attr = self.ftp.lstat(path)
        except FileNotFoundError:
            try:
                self.ftp.mkdir(path)
                return
            except PermissionError as error:
                raise ClientFolderError(f"cannot create the folder {self.url.shown}/{sub}: {error.strerror or error}") from None
        if stat.S_ISLNK(attr.st_mode or 0):
            raise ClientFolderError(f"{self.url.shown}/{sub} is a symbolic link; replace it with a real folder")
        if not stat.S_ISDIR(attr.st_mode or 0):
            raise ClientFolderError(f"cannot create the folder {self.url.shown}/{sub}: a file with that name is "
                                    "in the way; move it elsewhere")

    def blocked(self, names: Iterable[str]) -> dict[str, str]:
        blocked = {}
        for name in names:
            try:
                mode = self.ftp.lstat(self._path(name)).st_mode or 0
            except FileNotFoundError:
                continue
            if stat.S_ISDIR(mode):
                blocked[name] = f"{name} in {self.url.shown} is a folder, so the file cannot be written; move the folder away"
            elif not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
                blocked[name] = f"{name} in {self.url.shown} is not a regular file, so it cannot be replaced; move it away"
        return blocked


# -- S3 ------------------------------------------------------------------------------------
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
            raise ClientFolderError(f"the bucket of {self.url.shown} does not exist; create it or fix the URL") from None

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
            return b"", identity, too_big(identity.size, max_bytes)
        if len(data) > max_bytes:
            return b"", identity, grew(max_bytes)
        return data, identity, None

    def move(self, name: str, sub: str, target: str, identity: FileIdentity) -> None:
        """Copy the version read (CopySourceIfMatch) to `sub/target` unless that name is taken
        (FileExistsError), then delete the source."""
        head = self._head(name)
        changed = _differences(identity, _identity(head))
        if changed:
            raise ChangedSinceRead(changed_reason(changed))
        if self.exists(target, sub):
            raise FileExistsError(self.key(target, sub))
        try:
            self._call("copy_object", Key=self.key(target, sub), CopySourceIfMatch=head["ETag"],
                       CopySource={"Bucket": self.bucket, "Key": self.key(name)})
        except OSError as error:
            if "precondition" in str(error).lower():
                raise ChangedSinceRead(changed_reason(["ETag"])) from None
            raise
        if _identity(self._head(name)).inode != identity.inode:
            return  # replaced between the copy and now: the version read is archived, the new one stays
        self._call("delete_object", Key=self.key(name))

    def rename_new(self, sub: str, name: str, target: str) -> None:
        if self.exists(target, sub):
            raise FileExistsError(self.key(target, sub))
        head = self._head(name, sub)
        self._call("copy_object", Key=self.key(target, sub), CopySourceIfMatch=head["ETag"],
                   CopySource={"Bucket": self.bucket, "Key": self.key(name, sub)})
        self._call("delete_object", Key=self.key(name, sub))

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

    def blocked(self, names: Iterable[str]) -> dict[str, str]:
        return {}  # an object can always take a key, even one that is also a prefix


def _ns(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def _identity(response: dict) -> FileIdentity:
    size = response.get("ContentLength", response.get("Size", 0))
    return FileIdentity(etag_tag(response["ETag"]), size, _ns(response["LastModified"]))


def too_big(size: int, max_bytes: int) -> str:
    return f"file is {size} bytes, over the INBOUND_MAX_FILE_BYTES limit of {max_bytes}; split it into smaller files"


def grew(max_bytes: int) -> str:
    return f"file grew past the INBOUND_MAX_FILE_BYTES limit of {max_bytes} while being read"


# -- the port ------------------------------------------------------------------------------
class RemoteFolders:
    """The customer's inbound and outbound folders on SFTP or S3 (ports.ClientSide, plus `scan`
    for the sensor). Built from plain values; connects on first use."""

    def __init__(self, inbound: str, outbound: str, *, file_format: str = "json", client_timezone: str = "UTC",
                 settle_seconds: float = 10.0, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
                 sftp_key_file: Optional[str] = None, sftp_known_hosts: Optional[str] = None,
                 retry: Optional[RemoteRetry] = None, log: Callable[[str], None] = lambda message: None) -> None:
        self.urls = {"inbound": parse_folder_url(inbound, "the inbound folder"),
                     "outbound": parse_folder_url(outbound, "the outbound folder")}
        if self.urls["inbound"] == self.urls["outbound"]:
            raise RemoteFolderError(f"the inbound and outbound folders are the same ({self.urls['inbound'].shown}): "
                                    "inbound would read the files outbound writes; give each its own folder")
        self._format = format_for(file_format)
        self.client_timezone, self.settle_seconds, self.max_file_bytes = client_timezone, settle_seconds, max_file_bytes
        self.stores = {which: self._store(url, sftp_key_file, sftp_known_hosts) for which, url in self.urls.items()}
        self.retry = retry or RemoteRetry(on_retry=log)

    @staticmethod
    def _store(url: FolderURL, key_file: Optional[str], known_hosts: Optional[str]):
        return SftpStore(url, key_file, known_hosts) if url.scheme == "sftp" else S3Store(url)

    @property
    def format(self) -> ClientFormat:
        return self._format

    def close(self) -> None:
        for store in self.stores.values():
            store.close()

    def _call(self, which: str, operation: Callable[[], Any], what: str) -> Any:
        """One idempotent call on a folder's store, retried on a new connection; a folder that
        cannot be reached is one line naming the server, never the user name."""
        store, url = self.stores[which], self.urls[which]
        where = f"the {which} folder {url.shown}"
        try:
            return self.retry.call(operation, what, where, store.reconnect, scrub=self._scrub)
        except (RemoteFolderError, ClientFolderError, NotReadable, StillBeingWritten, ChangedSinceRead, FileExistsError,
                FileNotFoundError):
            raise
        except PermissionError as error:
            raise PermissionError(error.errno, self._scrub(f"permission denied in {where} ({error})")) from None
        except Exception as error:  # refused host key, refused login, ...: never retried
            raise RemoteFolderError(f"{where} cannot be used: {self._scrub(reason(error))}") from None

    def _scrub(self, text: str) -> str:
        for url in self.urls.values():
            if url.user:
                text = text.replace(f"{url.user}@", "")
        return text

    # -- inbound ---------------------------------------------------------------------------
    def scan(self, now: Optional[float] = None) -> FolderScan:
        """What the sensor sees, as ClientFolder.scan: settled files "name\\0mtime_ns\\0size".
        On S3 every object is settled (it is whole once it exists)."""
        now_ns = int((time.time() if now is None else now) * 1e9)
        settled_before = now_ns - int(self.settle_seconds * 1e9)
        suffix, others = self.format.suffix, tuple(f.suffix for f in FORMATS.values())
        s3 = self.urls["inbound"].scheme == "s3"

        def look() -> FolderScan:
            self.stores["inbound"].check_root()
            scan = FolderScan()
            for entry in self.stores["inbound"].entries():
                name = entry.name
                if name[0] == "." or not name.endswith(suffix):
                    if name[0] != "." and name.lower().endswith(others):
                        scan.other_format.append(posixpath.splitext(name)[1])
                    continue
                if entry.kind != "file":
                    continue
                if not s3 and settled_before < entry.mtime_ns <= now_ns + SKEW_NS:
                    scan.changing += 1
                    continue
                scan.ready.append(f"{name}\0{entry.mtime_ns}\0{entry.size}")
                if scan.oldest_mtime_ns is None or entry.mtime_ns < scan.oldest_mtime_ns:
                    scan.oldest_mtime_ns = entry.mtime_ns
            return scan

        return self._call("inbound", look, "list the inbound folder")

    def list_inbound(self) -> tuple[list[str], list[str]]:
        def look() -> tuple[list[str], list[str]]:
            self.stores["inbound"].check_root()
            names, links = [], []
            for entry in self.stores["inbound"].entries():
                if self.format.is_candidate(entry.name) and entry.kind in ("file", "link"):
                    (names if entry.kind == "file" else links).append(entry.name)
            return sorted(names), sorted(links)

        return self._call("inbound", look, "list the inbound folder")

    def list_other_formats(self) -> list[str]:
        others = tuple(f.suffix for f in FORMATS.values())
        return sorted(
            entry.name for entry in self._call("inbound", lambda: list(self._other_entries(others)), "list the inbound folder")
        )

    def _other_entries(self, others: tuple[str, ...]) -> Iterator[Entry]:
        for entry in self.stores["inbound"].entries():
            if entry.name[0] != "." and entry.name.lower().endswith(others) and not entry.name.endswith(self.format.suffix):
                yield entry

    def read(self, names: list[str], files_per_page: int, now: Optional[float] = None) -> Iterator[Page]:
        """The files, a page at a time (at most `files_per_page` files and, past the first file,
        PAGE_BYTES). SFTP: a file younger than the settle time is looked at twice (before and
        after reading); if its size or time moved, or it does not parse yet, it is left for
        the next run. S3: an object is whole, so it is read as it is."""
        settled_before = int(((time.time() if now is None else now) - self.settle_seconds) * 1e9)
        s3 = self.urls["inbound"].scheme == "s3"
        page, held = Page(), 0
        for name in names:
            if len(page.files) >= files_per_page:
                yield page
                page, held = Page(), 0
            try:
                read = self._call("inbound", lambda: self._read_one(name, settled_before, s3), f"read {name}")
            except StillBeingWritten:
                page.deferred.append(name)
                continue
            except NotReadable as why:
                page.unreadable[name] = str(why)
                continue
            except FileNotFoundError:
                continue  # taken by someone else meanwhile
            if page.files and held + read.identity.size > PAGE_BYTES:
                yield page
                page, held = Page(), 0
            page.files.append(read)
            held += read.identity.size
        if page.files or page.deferred or page.unreadable:
            yield page

    def _read_one(self, name: str, settled_before: int, s3: bool) -> ReadFile:
        store = self.stores["inbound"]
        data, identity, error = store.read(name, self.max_file_bytes)
        if error:
            return ReadFile(name, identity, error=error)
        settling = not s3 and identity.mtime_ns > settled_before
        if settling and store.identity(name) != identity:  # the second look: still being written
            raise StillBeingWritten
        try:
            return ReadFile(name, identity, records=self.format.records(data, may_be_cut_off=settling))
        except ValueError as why:
            if settling:
                raise StillBeingWritten from None
            return ReadFile(name, identity, error=str(why))

    def archive(self, files: dict[str, int], failed: dict[str, FileErrors]) -> Archived:
        """Move each read file to processed/ or failed/ (with its report), unless it changed
        since it was read. The sub-folders are made ready first: one that cannot be made, or
        a server that cannot be reached, moves nothing."""
        archived = Archived()
        needed = {FAILED if name in failed else PROCESSED for name in files}
        for sub in sorted(needed, reverse=True):
            self._call("inbound", lambda: self.stores["inbound"].ensure_folder(sub), f"create {sub}/")
        for name, packed in files.items():
            errors = failed.get(name)
            sub = FAILED if errors else PROCESSED
            try:
                destination = self._move(name, sub, FileIdentity.unpacked(packed), failed=bool(errors))
            except ChangedSinceRead as changed:
                archived.stayed[name] = str(changed)
                continue
            except (OSError, ClientFolderError) as error:
                archived.stayed[name] = self._scrub(f"{type(error).__name__}: {getattr(error, 'strerror', None) or error}")
                continue
            if not errors:
                archived.processed += 1
                continue
            try:
                destination = self._write_report(name, destination, errors)
            except OSError as error:
                archived.unreported[destination] = f"{type(error).__name__}: {getattr(error, 'strerror', None) or error}"
            archived.failed.append(destination)
        return archived

    def _move(self, name: str, sub: str, identity: FileIdentity, failed: bool) -> str:
        """Move to the first free name in `sub` (its report name free too, for failed/).
        A move whose answer was lost (the connection dropped) is found done on the retry."""
        store, tried = self.stores["inbound"], []

        def attempt() -> str:
            if tried and not store.exists(name) and store.exists(tried[-1], sub):
                if store.identity(tried[-1], sub).size == identity.size:
                    return tried[-1]  # the lost answer's move
            for target in candidate_names(name):
                if failed and store.exists(report_name(target), sub):
                    continue
                tried.append(target)
                try:
                    store.move(name, sub, target, identity)
                    return target
                except FileExistsError:
                    continue
            raise ClientFolderError(f"no free name for {name!r} in {self.urls['inbound'].shown}/{sub}")

        return self._call("inbound", attempt, f"move {name} to {sub}/")

    def _write_report(self, name: str, destination: str, errors: FileErrors) -> str:
        """`<its name>.error.json` beside the failed file, never over an existing report: if
        one appeared meanwhile, the file moves on to a name whose report is free."""
        payload = json_bytes(report_document(name, errors))
        store = self.stores["inbound"]
        while True:
            try:
                self._call("inbound", lambda: store.write_new(FAILED, report_name(destination), payload),
                           f"write the report of {destination}")
                return destination
            except FileExistsError:
                current = destination
                destination = self._call(
                    "inbound", lambda: self._move_on(current), f"move {current} to a name whose report is free")

    def _move_on(self, name: str) -> str:
        store = self.stores["inbound"]
        for target in candidate_names(name):
            if target == name or store.exists(report_name(target), FAILED):
                continue
            try:
                store.rename_new(FAILED, name, target)
                return target
            except FileExistsError:
                continue
        raise ClientFolderError(f"no free name for {name!r} in {self.urls['inbound'].shown}/{FAILED}")

    # -- outbound --------------------------------------------------------------------------
    def require(self, which: str) -> str:
        """Fail at once, with what to fix, when the folder cannot be used; its URL as shown."""
        self._call(which, self.stores[which].check_root, f"open the {which} folder")
        return self.urls[which].shown

    def blocked(self, which: str, names: Iterable[str]) -> dict[str, str]:
        names = list(names)
        return self._call(which, lambda: self.stores[which].blocked(names), f"look at the {which} folder")

    def write_files(self, which: str, files: Iterable[tuple[str, bytes]]) -> list[str]:
        """Each file whole or not at all: SFTP, a hidden temporary file renamed over the name;
        S3, one PUT."""
        self.require(which)
        written = []
        for name, payload in files:
            self._call(which, lambda: self.stores[which].replace(name, payload), f"write {name}")
            written.append(name)
        return written

    def export_file(self, record: dict[str, Any], timezone: Optional[str] = None) -> tuple[str, bytes]:
        return self.format.file_name(record["orderNo"]), self.format.render(record, timezone or self.client_timezone)


def open_client_side(inbound: str, outbound: str, **options: Any):
    """The client side for these folders: RemoteFolders when both are sftp:// or s3:// URLs,
    the local ClientFolder when both are paths (its own options: inbound_dir, ...)."""
    remote = is_remote(inbound), is_remote(outbound)
    if all(remote):
        return RemoteFolders(inbound, outbound, **options)
    if any(remote):
        raise RemoteFolderError("the inbound and outbound folders must both be remote (sftp://, s3://) or both local paths")
    from tracos_integration.client.folder import ClientFolder

    return ClientFolder(inbound_dir=inbound, outbound_dir=outbound, **options)
