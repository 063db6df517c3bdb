"""Reading one inbound file safely: never following a link, never blocking on a FIFO,
never reading more than the size limit, and remembering what the file was when read."""

from __future__ import annotations

import errno
import json
import os
import stat
from dataclasses import dataclass, field
from typing import Any, Optional

from tracos_integration.core.timestamps import type_name

MAX_ERRORS_LISTED = 1000  # per file, in its report and wherever a run holds its errors (CONTRACT 5.5)


def is_candidate_name(name: str) -> bool:
    """Top-level `*.json` files that are not hidden (temporary files start with '.')."""
    return name.endswith(".json") and not name.startswith(".")


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


@dataclass(frozen=True)
class FileIdentity:
    """What a file was when the run read it (from fstat of the descriptor it read): a file
    replaced or rewritten since then differs in one of these, and is not moved (CONTRACT 5.5)."""

    inode: int
    size: int
    mtime_ns: int


@dataclass(frozen=True)
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
    records: list[Any] = field(default_factory=list)
    error: Optional[str] = None


class StillBeingWritten(Exception):
    """An unparseable file young enough that its writer may not have finished (CONTRACT 5.6)."""


class NotReadable(Exception):
    """Left in place with this reason: a link, not a regular file, permission denied."""


def read_file(folder: str, name: str, max_file_bytes: int, settled_before_ns: int) -> ReadFile:
    """Read and parse one file. Raises StillBeingWritten, NotReadable or FileNotFoundError."""
    data, identity, too_big = _read_limited(os.path.join(folder, name), max_file_bytes)
    if too_big:
        return ReadFile(name, identity, error=too_big)
    try:
        return ReadFile(name, identity, records=_parse_records(data))
    except ValueError as error:
        if identity.mtime_ns > settled_before_ns:
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


def _parse_records(data: bytes) -> list[Any]:
    """The file's work orders: one object or an array of them. ValueError says why not."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start}); save the file as UTF-8"
        ) from None
    try:
        document = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_note_duplicate_keys)
    except json.JSONDecodeError as error:
        raise ValueError(f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno}") from None
    except (ValueError, RecursionError) as error:
        raise ValueError(f"not valid JSON: {_short(error)}") from None
    if isinstance(document, dict):
        return [document]
    if isinstance(document, list):
        return document
    raise ValueError(f"expected a work order object or an array of them, found {type_name(document)}")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON number")


class ObjectWithDuplicateKeys(dict):
    """A JSON object that named a key twice (the last value kept, as JSON parsers do). Only
    a work order's own keys matter: the record is rejected, the rest of the file goes on;
    inside an ignored extra field it is harmless."""

    duplicate_keys: tuple[str, ...] = ()


def _note_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) == len(pairs):
        return result
    seen: set[str] = set()
    marked = ObjectWithDuplicateKeys(result)
    marked.duplicate_keys = tuple(key for key, _ in pairs if key in seen or seen.add(key))
    return marked


def _short(error: BaseException) -> str:
    text = "nested too deeply" if isinstance(error, RecursionError) else (str(error) or type(error).__name__)
    return text if len(text) <= 200 else text[:197] + "..."
