"""What crosses between the client folders and the ops."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional


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
class InboundBatch:
    """The inbound folder at the start of a run."""

    folder: str
    client_timezone: str
    files: list[InboundFile] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)  # unparseable but still being written
    unreadable: dict[str, str] = field(default_factory=dict)  # left in place, e.g. permission denied
    symlinks: list[str] = field(default_factory=list)


@dataclass
class InboundOutcome:
    """Where each read file goes: processed/ when all its records were valid, else failed/."""

    errors_by_file: dict[str, list[FileError]]
    dry_run: bool = False


@dataclass
class ClientFiles:
    """JSON documents to write atomically into one of the client folders, by file name."""

    folder: str  # "inbound" or "outbound"
    documents: dict[str, Any]
