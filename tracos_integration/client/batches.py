"""What crosses between the client folders and the ops."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Optional

MAX_ERRORS_LISTED = 1000  # per file, in its report and wherever a run holds its errors (CONTRACT 5.5)
CHUNK_BYTES = 16 * 1024 * 1024  # a chunk takes no more files once it holds this many bytes (CONTRACT 5.8)


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

    @classmethod
    def of(cls, errors: Iterable[FileError]) -> "FileErrors":
        collected = cls()
        for error in errors:
            collected.add(error)
        return collected


@dataclass(frozen=True)
class FileIdentity:
    """What a file was when the run read it (from fstat of the descriptor it read): a file
    replaced or rewritten since then differs in one of these, and is not moved (CONTRACT 5.5)."""

    inode: int
    size: int
    mtime_ns: int


@dataclass
class InboundFile:
    """A top-level inbound file as read: its raw records, or the file-level error."""

    name: str
    records: list[Any] = field(default_factory=list)
    error: Optional[str] = None
    identity: Optional[FileIdentity] = None


@dataclass
class InboundChunk:
    """Some of the batch's files, read: their records or errors, and the files left alone."""

    files: list[InboundFile] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)  # unparseable but still being written
    unreadable: dict[str, str] = field(default_factory=dict)  # left in place, e.g. permission denied


@dataclass
class InboundBatch:
    """The inbound folder at the start of a run: the names of its ready files, read a
    chunk at a time so memory stays bounded however many files wait."""

    folder: str
    client_timezone: str
    settle_seconds: float
    max_file_bytes: int
    names: list[str] = field(default_factory=list)
    symlinks: list[str] = field(default_factory=list)

    def chunks(self, files_per_chunk: int, max_bytes: int = CHUNK_BYTES) -> Iterator[InboundChunk]:
        """At most `files_per_chunk` files and, past the first file, at most `max_bytes`
        (by their size on disk) per chunk, so 1,000 files of 16 MiB are never held at once."""
        from tracos_integration.client.folder import read_inbound_chunk, size_on_disk

        names: list[str] = []
        held = 0
        for name in self.names:
            size = size_on_disk(self.folder, name)
            if names and (len(names) >= files_per_chunk or held + size > max_bytes):
                yield read_inbound_chunk(self, names)
                names, held = [], 0
            names.append(name)
            held += size
        if names:
            yield read_inbound_chunk(self, names)


@dataclass
class InboundOutcome:
    """Where each read file goes: processed/ when all its records were valid, else failed/."""

    processed: list[str] = field(default_factory=list)
    failed: dict[str, FileErrors] = field(default_factory=dict)
    dry_run: bool = False
    read_as: dict[str, FileIdentity] = field(default_factory=dict)  # checked again before moving


@dataclass
class ClientFiles:
    """JSON documents to write atomically into one of the client folders, by file name."""

    folder: str  # "inbound" or "outbound"
    documents: dict[str, Any]
