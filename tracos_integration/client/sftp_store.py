"""One folder on an SFTP server, as RemoteFolders (remote.py) uses it.

A file's identity is its size and modification time (SFTP has no inode; OpenSSH's server sends
whole seconds). A move is an SFTP rename, which OpenSSH's server does as link() then unlink(),
so it never replaces an existing name. A file is written as a hidden temporary file renamed
over the name with posix-rename@openssh.com (atomic, as os.replace)."""

from __future__ import annotations

import posixpath
import stat
from typing import Iterable, Iterator, Optional

import paramiko

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
        handle = self.ftp.open(temp, "wbx")  # x: SFTP's O_EXCL; the server's umask sets the mode, as os.open's
        try:
            with handle:
                handle.set_pipelined(True)  # the write's answer comes with close's: one round trip
                handle.write(data)
        except BaseException:
            self._remove_quietly(temp)
            raise
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
                raise ClientFolderError(
                    f"cannot create the folder {self.url.shown}/{sub}: {error.strerror or error}") from None
        if stat.S_ISLNK(attr.st_mode or 0):
            raise ClientFolderError(f"{self.url.shown}/{sub} is a symbolic link; replace it with a real folder")
        if not stat.S_ISDIR(attr.st_mode or 0):
            raise ClientFolderError(f"cannot create the folder {self.url.shown}/{sub}: a file with that name is "
                                    "in the way; move it elsewhere")

    def blocked(self, names: Iterable[str]) -> dict[str, str]:
        blocked, where = {}, self.url.shown
        for name in names:
            try:
                mode = self.ftp.lstat(self._path(name)).st_mode or 0
            except FileNotFoundError:
                continue
            if stat.S_ISDIR(mode):
                blocked[name] = f"{name} in {where} is a folder, so the file cannot be written; move the folder away"
            elif not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
                blocked[name] = f"{name} in {where} is not a regular file, so it cannot be replaced; move it away"
        return blocked
