"""One folder on an SFTP server, as RemoteFolders (remote.py) uses it.

A file's identity is its size and modification time (SFTP has no inode; OpenSSH's server sends
whole seconds). A move is an SFTP rename, which OpenSSH's server does as link() then unlink(),
so it never replaces an existing name. A file is written as a hidden temporary file renamed
over the name with posix-rename@openssh.com (atomic, as os.replace)."""

from __future__ import annotations

import os
import posixpath
import stat
from typing import Iterable, Iterator, Optional

import paramiko
from paramiko.sftp import CMD_CLOSE, CMD_HANDLE, CMD_NAME, CMD_OPENDIR, CMD_READDIR
from paramiko.sftp_attr import SFTPAttributes

from tracos_integration.client.reading import NotReadable, grew_reason, too_big_reason
from tracos_integration.client.remote_store import ChangedSinceRead, Entry, changed_reason, differences
from tracos_integration.client.transports import FolderURL, open_sftp
from tracos_integration.client.writing import ClientFolderError, temp_name
from tracos_integration.core.files import FileIdentity


class SftpStore:
    """One folder on an SFTP server, through fsspec's SFTPFileSystem (its paramiko client)."""

    def __init__(self, url: FolderURL, key_file: Optional[str], known_hosts: Optional[str]) -> None:
        self.url, self.key_file, self.known_hosts = url, key_file, known_hosts
        self._fs = None
        self._orphans: list[bytes] = []  # temporary files a dropped connection left

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

    def _path(self, name: str, sub: str = "") -> bytes:
        """As bytes: a name need not be UTF-8 (it comes back from `entries` as os.fsdecode
        makes it), and paramiko encodes a str path as strict UTF-8."""
        return os.fsencode(posixpath.join(self.url.path, sub, name) if sub else posixpath.join(self.url.path, name))

    def check_root(self) -> None:
        try:
            mode = self.ftp.stat(self.url.path).st_mode
        except FileNotFoundError:
            mode = None
        if mode is None or not stat.S_ISDIR(mode):
            raise ClientFolderError(f"the folder {self.url.shown} does not exist or is not a folder; create it")
        # The customers file compares folders by their URL's path (it cannot see the server's
        # links): a folder reached through a link could be another customer's (CONTRACT 9).
        real = os.fsdecode(self.ftp.normalize(os.fsencode(self.url.path)))
        if real != posixpath.normpath(self.url.path):
            raise ClientFolderError(f"the folder {self.url.shown} is reached through a symbolic link on the server "
                                    f"(its real path is {real}); write its real path in the URL")

    def entries(self) -> Iterator[Entry]:
        """The folder's names, one READDIR reply (a batch of names) at a time, never the whole
        folder in one list. Read here, not with paramiko's listdir_iter: it decodes each name
        as strict UTF-8, so one name that is not would fail the whole listing."""
        ftp = self.ftp
        kind, reply = ftp._request(CMD_OPENDIR, os.fsencode(self.url.path))
        if kind != CMD_HANDLE:
            raise paramiko.SFTPError("the server did not open the folder for listing")
        handle = reply.get_binary()
        try:
            while True:
                try:
                    kind, reply = ftp._request(CMD_READDIR, handle)
                except EOFError as end:
                    if _listing_complete(ftp, end):
                        return
                    raise ConnectionError("the SFTP connection closed during the listing") from None
                if kind != CMD_NAME:
                    raise paramiko.SFTPError("the server's listing reply is not a list of names")
                for _ in range(reply.get_int()):
                    name = os.fsdecode(reply.get_string())
                    attr = SFTPAttributes._from_msg(reply, name, reply.get_string())
                    mode = attr.st_mode or 0
                    if name in (".", "..") or stat.S_ISDIR(mode):
                        continue
                    kind_of = "file" if stat.S_ISREG(mode) else "link" if stat.S_ISLNK(mode) else "other"
                    yield Entry(name, kind_of, attr.st_size or 0, int(attr.st_mtime or 0) * 1_000_000_000)
        finally:
            try:
                ftp._request(CMD_CLOSE, handle)
            except Exception:  # the connection is gone, and the handle with it
                pass

    def identity(self, name: str, sub: str = "") -> FileIdentity:
        attr = self.ftp.lstat(self._path(name, sub))
        return FileIdentity(0, attr.st_size or 0, int(attr.st_mtime or 0) * 1_000_000_000)

    def read(self, name: str, max_bytes: int) -> tuple[bytes, FileIdentity, Optional[str]]:
        """The file's bytes and identity. The identity is the name's lstat before opening (no
        fstat after: a round trip fewer); a change after that look, during the read included,
        shows at the archive's check, and the file stays for the next run."""
        path = self._path(name)
        try:
            attr = self.ftp.lstat(path)
            if stat.S_ISLNK(attr.st_mode or 0):
                raise NotReadable("is a symbolic link; links are not read")
            if not stat.S_ISREG(attr.st_mode or 0):
                raise NotReadable("is not a regular file")
            identity = FileIdentity(0, attr.st_size or 0, int(attr.st_mtime or 0) * 1_000_000_000)
            if identity.size > max_bytes:
                return b"", identity, too_big_reason(identity.size, max_bytes)
            handle = self.ftp.open(path, "rb")
        except PermissionError as error:
            raise NotReadable(f"permission denied: {error.strerror or error}") from None
        with handle:
            if identity.size > handle.MAX_REQUEST_SIZE:  # more than one read: all sent at once
                handle.prefetch(identity.size)
            data = handle.read(max_bytes + 1)
        if len(data) > max_bytes:
            return b"", identity, grew_reason(max_bytes)
        return data, identity, None

    def move(self, name: str, sub: str, target: str, identity: FileIdentity) -> None:
        """Rename `name` to `sub/target`, never over an existing name (FileExistsError); then
        check that what moved is what the run read, else move it back (ChangedSinceRead)."""
        source, destination = self._path(name), self._path(target, sub)
        changed = differences(identity, self.identity(name))
        if changed:
            raise ChangedSinceRead(changed_reason(changed))
        self._rename_new(source, destination)
        changed = differences(identity, self.identity(target, sub))  # rewritten between the look and the move
        if changed:
            try:
                self._rename_new(destination, source)
            except OSError:
                return  # another file took the name meanwhile: keep both; this one stays in `sub`
            raise ChangedSinceRead(changed_reason(changed))

    def rename_new(self, sub: str, name: str, target: str) -> None:
        self._rename_new(self._path(name, sub), self._path(target, sub))

    def _rename_new(self, source: bytes, destination: bytes) -> None:
        try:
            self.ftp.rename(source, destination)  # OpenSSH: link() then unlink(); fails if the name exists
        except OSError as error:
            if isinstance(error, (FileNotFoundError, PermissionError)):
                raise
            if self._exists(destination):
                raise FileExistsError(os.fsdecode(destination)) from None
            raise

    def _exists(self, path: bytes) -> bool:
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

    def _write_temp(self, sub: str, name: str, data: bytes) -> bytes:
        self._remove_orphans()
        temp = self._path(temp_name(name), sub)
        handle = self.ftp.open(temp, "wbx")  # x: SFTP's O_EXCL; the server's umask sets the mode, as os.open's
        try:
            with handle:
                handle.set_pipelined(True)  # the write's answer comes with close's: one round trip
                handle.write(data)
        except BaseException:
            self._remove_quietly(temp)
            raise
        return temp

    def _remove_quietly(self, path: bytes) -> None:
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
                raise ClientFolderError(
                    f"cannot create the folder {self.url.shown}/{sub}: {error.strerror or error}") from None
        if stat.S_ISLNK(attr.st_mode or 0):
            raise ClientFolderError(f"{self.url.shown}/{sub} is a symbolic link; replace it with a real folder")
        if not stat.S_ISDIR(attr.st_mode or 0):
            raise ClientFolderError(f"cannot create the folder {self.url.shown}/{sub}: a file with that name is "
                                    "in the way; move it elsewhere")

    def taken_names(self, names: Iterable[str]) -> dict[str, str]:
        taken, where = {}, self.url.shown
        for name in names:
            try:
                mode = self.ftp.lstat(self._path(name)).st_mode or 0
            except FileNotFoundError:
                continue
            if stat.S_ISDIR(mode):
                taken[name] = f"{name} in {where} is a folder, so the file cannot be written; move the folder away"
            elif not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
                taken[name] = f"{name} in {where} is not a regular file, so it cannot be replaced; move it away"
        return taken


def _listing_complete(ftp: paramiko.SFTPClient, end: EOFError) -> bool:
    """paramiko raises EOFError for two things: the server's SSH_FX_EOF status (the folder
    is listed whole; it carries the server's text) and a request it could not send on a closed
    channel (bare). Only the first ends a listing."""
    channel = ftp.get_channel()
    return bool(end.args) and not (channel.closed or channel.eof_received)
