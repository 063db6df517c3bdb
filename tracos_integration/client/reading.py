"""Reading one inbound file safely: never following a link, never blocking on a FIFO,
never reading more than the size limit, and remembering what the file was when read; and
reading many a page at a time, on any transport."""

from __future__ import annotations

import errno
import os
import stat
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Optional

from tracos_integration.core.files import (  # noqa: F401 (re-exported)
    MAX_ERRORS_LISTED,
    FileError,
    FileErrors,
    FileIdentity,
    Page,
    ReadFile,
)

if TYPE_CHECKING:
    from tracos_integration.client.formats import ClientFormat


def shown_name(name: str) -> str:
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


def read_in_pages(names: Iterable[str], read_one: Callable[[str], ReadFile], files_per_page: int,
                  page_bytes: int) -> Iterator[Page]:
    """The files `read_one` reads, a page at a time: at most `files_per_page` files and (past
    the first file) `page_bytes`, so memory is bounded by bytes, not by the number of files.
    Files left in place go in the page with why; a file gone meanwhile is skipped. The same
    pages on every transport."""
    page, held = Page(), 0
    for name in names:
        if len(page.files) >= files_per_page:
            yield page
            page, held = Page(), 0
        try:
            read = read_one(name)
        except StillBeingWritten:
            page.being_written.append(name)
            continue
        except NotReadable as reason:
            page.unreadable[name] = str(reason)
            continue
        except FileNotFoundError:
            continue  # taken by someone else meanwhile
        if page.files and held + read.identity.size > page_bytes:  # this file opens the next page
            yield page
            page, held = Page(), 0
        page.files.append(read)
        held += read.identity.size
    if page.files or page.being_written or page.unreadable:
        yield page


class StillBeingWritten(Exception):
    """An unparseable file young enough that its writer may not have finished (CONTRACT 5.6)."""


class NotReadable(Exception):
    """Left in place with this reason: a link, not a regular file, permission denied."""


def read_file(folder: int, name: str, max_file_bytes: int, settled_before_ns: int,
              client_format: "ClientFormat") -> ReadFile:
    """Read one file of `folder` (an open descriptor: a run reads thousands, and neither joins
    paths nor has the kernel walk them per file) and check it with its customer's format
    (client/formats). Raises StillBeingWritten, NotReadable or FileNotFoundError."""
    data, identity, too_big = _read_limited(name, max_file_bytes, folder)
    if too_big:
        return ReadFile(name, identity, error=too_big)
    maybe_being_written = identity.mtime_ns > settled_before_ns
    try:
        return ReadFile(name, identity, records=client_format.records(data, may_be_cut_off=maybe_being_written))
    except ValueError as error:
        if maybe_being_written:
            raise StillBeingWritten from None
        return ReadFile(name, identity, error=str(error))


def too_big_reason(size: int, max_file_bytes: int) -> str:
    return (f"file is {size} bytes, over the INBOUND_MAX_FILE_BYTES limit of {max_file_bytes}; "
            "split it into smaller files")


def grew_reason(max_file_bytes: int) -> str:
    return f"file grew past the INBOUND_MAX_FILE_BYTES limit of {max_file_bytes} while being read"


def _read_limited(name: str, max_file_bytes: int, folder: int) -> tuple[bytes, FileIdentity, Optional[str]]:
    try:
        descriptor = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder)
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
            return b"", identity, too_big_reason(info.st_size, max_file_bytes)
        parts, total = [], 0
        while total <= max_file_bytes:
            part = os.read(descriptor, max(info.st_size + 1 - total, 65536))
            if not part:
                break
            parts.append(part)
            total += len(part)
            if total == info.st_size:
                # All fstat promised, and each read asked for a byte more: the end, without a
                # read to confirm it. A file that changes after this changes its size or mtime,
                # and the archive sees that.
                break
    finally:
        os.close(descriptor)
    if total < info.st_size:  # cut short while read: being rewritten; half of it is no file to parse
        raise StillBeingWritten
    if total > max_file_bytes:
        return b"", identity, grew_reason(max_file_bytes)
    return b"".join(parts), identity, None
