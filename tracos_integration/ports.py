"""Ports: what the sync loops (sync/) need of each side, and nothing more.

`ClientSide` is the customer's files; the local folder (client/folder.py, ClientFolder) is one
implementation, and a new transport is another class with these methods. `TracOS` is the
work order collection (tracos/queries.py, WorkOrderRepository). The loops see only these
and the plain values in core/, so either side can be swapped, or faked in a test.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Iterator, Mapping, Optional, Protocol, Sequence, runtime_checkable

from tracos_integration.core.files import Archived, FileErrors, Page
from tracos_integration.core.writes import IndexReport, Update, WriteResult


@runtime_checkable
class Format(Protocol):
    """The customer's file format, as the inbound loop checks records and the outbound loop names files."""

    name: str

    def record_problem(self, raw: Any) -> Optional[str]: ...

    def locate(self, index: int, reason: str) -> str: ...

    def file_name(self, number: int) -> str: ...


@runtime_checkable
class ClientSide(Protocol):
    """The customer's files: list, read a page, archive (inbound); check and write (outbound)."""

    @property
    def format(self) -> Format: ...

    def list_inbound(self) -> tuple[list[str], list[str]]:
        """The inbound files to read, in name order, and the symbolic links (never read)."""

    def list_other_formats(self) -> list[str]:
        """Inbound files of another client format: never read, reported."""

    def read(self, names: list[str], files_per_page: int) -> Iterator[Page]:
        """The files, read a page at a time."""

    def archive(self, files: dict[str, int], failed: dict[str, FileErrors]) -> Archived:
        """Move each read file to processed/ or failed/, unless it changed since it was read."""

    def require(self, which: str) -> Any:
        """Fail at once, with what to fix, when the folder `which` cannot be used."""

    def taken_names(self, which: str, names: Iterable[str]) -> dict[str, str]:
        """Names in the folder that something else takes, so a file cannot, with why."""

    def export_file(self, record: dict[str, Any], timezone: Optional[str] = None) -> tuple[str, bytes]:
        """The outbound file for a client record; ValueError when the format cannot write it."""

    def write_files(self, which: str, files: Iterable[tuple[str, bytes]]) -> list[str]:
        """Write the files atomically and durably."""


@runtime_checkable
class TracOS(Protocol):
    """The TracOS work orders: find by numbers and apply changes (inbound); page the unsynced
    and mark synced (outbound)."""

    def ensure_indexes(self) -> IndexReport: ...

    def find_by_numbers(self, numbers: Sequence[int]) -> dict[Any, list[dict[str, Any]]]: ...

    def apply_client_changes(self, inserts: Sequence[Mapping[str, Any]], updates: Sequence[Update],
                             synced_at: datetime) -> WriteResult: ...

    def iter_unsynced(self, page_size: int) -> Iterator[list[dict[str, Any]]]: ...

    def find_same_numbers(self, documents: Iterable[Mapping[str, Any]]) -> dict[Any, list[dict[str, Any]]]: ...

    def mark_synced(self, conditions: Iterable[Mapping[str, Any]], synced_at: datetime) -> int: ...
