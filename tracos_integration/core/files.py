"""What the sync reads from and reports to the client side: plain values, so the sync loops
and the client port (tracos_integration/ports.py) share them, whatever the transport."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

MAX_ERRORS_LISTED = 1000  # per file, in its report and wherever a run holds its errors (CONTRACT 5.5)


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
        return self.pack(self.inode, self.size, self.mtime_ns)

    @staticmethod
    def pack(inode: int, size: int, mtime_ns: int) -> int:
        return inode | size << 64 | mtime_ns << 128

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


@dataclass
class Page:
    """Some inbound files, read; and the files of that page left in place, with why."""

    files: list[ReadFile] = field(default_factory=list)
    being_written: list[str] = field(default_factory=list)  # do not parse yet and younger than the settle time
    unreadable: dict[str, str] = field(default_factory=dict)


@dataclass
class Archived:
    processed: int = 0
    failed: list[str] = field(default_factory=list)  # names in failed/, as moved
    not_moved: dict[str, str] = field(default_factory=dict)  # left in the inbound folder: name -> why
    unreported: dict[str, str] = field(default_factory=dict)  # moved to failed/, its report not written
    not_durable: dict[str, str] = field(default_factory=dict)  # a folder moved into whose fsync failed: why
