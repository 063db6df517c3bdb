"""Reading one inbound file safely: never following a link, never blocking on a FIFO,
never reading more than the size limit, and remembering what the file was when read."""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Optional

if TYPE_CHECKING:
    from tracos_integration.client.formats import ClientFormat


MAX_ERRORS_LISTED = 1000  # per file, in its report and wherever a run holds its errors (CONTRACT 5.5)


def display_name(name: str) -> str:
    """A file name as reports, metadata and logs show it. os.scandir hands back bytes that
    are not UTF-8 as lone surrogates, which JSON and the run storage cannot hold; they are
    shown as backslash escapes of the raw bytes instead (b'caf\\xe9.json' -> 'caf\\\\xe9.json')."""
    text = os.fsencode(name).decode("utf-8", "backslashreplace")
    # Control characters escaped too: a name with a newline cannot forge a log line.
    if any(ord(character) < 0x20 or ord(character) == 0x7F for character in text):
        text = "".join(
            repr(character)[1:-1] if ord(character) < 0x20 or ord(character) == 0x7F else character
            for character in text
        )
    return text


@dataclass(frozen=True, slots=True)  # one per file a run reads: slots keep 200,000 of them small
class FileIdentity:
    """What a file was when the run read it (from fstat of the descriptor it read): a file
    replaced or rewritten since then differs in one of these, and is not moved (CONTRACT 5.5)."""

    inode: int
    size: int
    mtime_ns: int

    def packed(self) -> int:
        """One exact int for all three: what a run keeps per file until it archives it
        (a 200,000-file run holds 200,000 of these)."""
        return self.inode | self.size << 64 | self.mtime_ns << 128

    @classmethod
    def unpacked(cls, packed: int) -> "FileIdentity":
        mask = (1 << 64) - 1
        return cls(inode=packed & mask, size=packed >> 64 & mask, mtime_ns=packed >> 128)


@dataclass(frozen=True, slots=True)
class FileError:
    """One problem in a file: `index` is the record's position, None for the whole file."""

    index: Optional[int]
    reason: str


@dataclass
class FileErrors:
    """A file's problems: the first MAX_ERRORS_LISTED of them, and how many in all. A 16 MiB
    file can hold millions of bad records; holding (and pickling) each reason would not fit."""

    listed: list[FileError] = field(default_factory=list)
    total: int = 0

    def add(self, error: FileError) -> None:
        self.total += 1
        if len(self.listed) < MAX_ERRORS_LISTED:
            self.listed.append(error)


@dataclass
class ReadFile:
    """An inbound file as read: its raw records, or the reason the whole file is rejected."""

    name: str
    identity: FileIdentity
    records: Iterable[Any] = field(default_factory=list)  # a format may make them as iterated
    error: Optional[str] = None


class StillBeingWritten(Exception):
    """An unparseable file young enough that its writer may not have finished (CONTRACT 5.6)."""


class NotReadable(Exception):
    """Left in place with this reason: a link, not a regular file, permission denied."""


def read_file(folder: str, name: str, max_file_bytes: int, settled_before_ns: int,
              client_format: "ClientFormat") -> ReadFile:
    """Read one file and check it with its customer's format (client/formats). Raises
    StillBeingWritten, NotReadable or FileNotFoundError."""
    data, identity, too_big = _read_limited(os.path.join(folder, name), max_file_bytes)
    if too_big:
        return ReadFile(name, identity, error=too_big)
    settling = identity.mtime_ns > settled_before_ns
    try:
        return ReadFile(name, identity, records=client_format.records(data, may_be_cut_off=settling))
    except ValueError as error:
        if settling:
            raise StillBeingWritten from None
        return ReadFile(name, identity, error=str(error))


def _read_limited(path: str, max_file_bytes: int) -> tuple[bytes, FileIdentity, Optional[str]]:
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise NotReadable("is a symbolic link; links are not read") from None
        if isinstance(error, PermissionError):
            raise NotReadable(f"permission denied: {error.strerror}") from None
        raise
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise NotReadable("is not a regular file")
        identity = FileIdentity(inode=info.st_ino, size=info.st_size, mtime_ns=info.st_mtime_ns)
        if info.st_size > max_file_bytes:
            return b"", identity, (
                f"file is {info.st_size} bytes, over the INBOUND_MAX_FILE_BYTES limit of {max_file_bytes}; "
                "split it into smaller files"
            )
        parts, total = [], 0
        while total <= max_file_bytes:
            part = os.read(descriptor, max(info.st_size + 1 - total, 65536))
            if not part:
                break
            parts.append(part)
            total += len(part)
    finally:
        os.close(descriptor)
    if total > max_file_bytes:
        return b"", identity, f"file grew past the INBOUND_MAX_FILE_BYTES limit of {max_file_bytes} while being read"
    return b"".join(parts), identity, None
