"""What crosses between the client folders and the ops."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Optional


@dataclass(frozen=True)
class FileError:
    """One problem in a file: `index` is the record's position, None for the whole file."""

    index: Optional[int]
    reason: str


@dataclass
class InboundFile:
    """A top-level inbound file as read: its raw records, or the file-level error."""

    name: str
    records: list[Any] = field(default_factory=list)
    error: Optional[str] = None


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

    def chunks(self, files_per_chunk: int) -> Iterator[InboundChunk]:
        from tracos_integration.client.folder import read_inbound_chunk

        for start in range(0, len(self.names), files_per_chunk):
            yield read_inbound_chunk(self, self.names[start : start + files_per_chunk])


@dataclass
class InboundOutcome:
    """Where each read file goes: processed/ when all its records were valid, else failed/."""

    processed: list[str] = field(default_factory=list)
    failed: dict[str, list[FileError]] = field(default_factory=dict)
    dry_run: bool = False


@dataclass
class ClientFiles:
    """JSON documents to write atomically into one of the client folders, by file name."""

    folder: str  # "inbound" or "outbound"
    documents: dict[str, Any]
