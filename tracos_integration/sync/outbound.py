"""Outbound: unsynced TracOS documents become client files (CONTRACT section 6)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable, Mapping, Optional

from bson.datetime_ms import DatetimeMS

from tracos_integration.core.tracos import DATE_FIELDS, DocumentUntranslatable, parse_tracos_document
from tracos_integration.core.translation import to_client_record
from tracos_integration.tracos.bson_order import bson_type_alias, bson_type_rank
from tracos_integration.tracos.queries import unchanged_since_read


@dataclass(frozen=True)
class Skipped:
    number: Any
    document_id: str
    reason: str


@dataclass(frozen=True)
class Export:
    """One client file to write, and the condition that marks its document synced after."""

    file_name: str
    record: dict[str, Any]
    mark_condition: dict[str, Any]
    blocked: Optional[str] = None  # why the file cannot be written (its name is held by a folder)


@dataclass
class ExportPage:
    exports: list[Export] = field(default_factory=list)

    @property
    def files(self) -> dict[str, dict[str, Any]]:
        return {export.file_name: export.record for export in self.exports}

    @property
    def mark_conditions(self) -> list[dict[str, Any]]:
        return [export.mark_condition for export in self.exports]


def outbound_file_name(number: int) -> str:
    return f"{number}.json"


def translate_page(
    documents: Iterable[Mapping[str, Any]],
    same_number: Optional[Mapping[Any, list[Mapping[str, Any]]]] = None,
    numbers_done: Optional[set] = None,
    file_name: Optional[Callable[[int], str]] = None,
) -> tuple[ExportPage, list[Skipped]]:
    """Translate a page of unsynced documents. `same_number` holds, for the page's
    numbers, every unsynced document with that number (when TracOS may hold duplicates):
    only the latest of them is exported and marked (CONTRACT 6.5); the others are
    skipped as duplicates. `numbers_done` remembers duplicated numbers across pages."""
    page, skipped = ExportPage(), []
    numbers_done = set() if numbers_done is None else numbers_done
    for raw in documents:
        number = raw.get("number")
        group = (same_number or {}).get(number, [raw]) if _hashable(number) else [raw]
        if len(group) > 1:
            if number in numbers_done:
                continue
            numbers_done.add(number)
            raw = max(group, key=_latest_first_key)
            skipped.extend(_duplicates(group, raw))
        try:
            out_of_range = _out_of_range_date(raw)
            if out_of_range:
                raise DocumentUntranslatable(out_of_range)
            document = parse_tracos_document(dict(raw))
        except DocumentUntranslatable as error:
            skipped.append(Skipped(number, str(raw.get("_id")), str(error)))
            continue
        name = (file_name or outbound_file_name)(document.number)  # the customer's format names it
        page.exports.append(Export(name, to_client_record(document), unchanged_since_read(raw)))
    return page, skipped


def _duplicates(group: list[Mapping[str, Any]], winner: Mapping[str, Any]) -> list[Skipped]:
    return [
        Skipped(
            document.get("number"), str(document.get("_id")),
            f"duplicate number {document.get('number')}: document {winner.get('_id')} has the latest updatedAt "
            "and is the one exported; this one stays unsynced until the duplicates are removed",
        )
        for document in group if document is not winner
    ]


def _latest_first_key(document: Mapping[str, Any]) -> tuple:
    """Latest `updatedAt` wins (a missing or odd one is oldest); on a tie, the greatest
    `_id`, compared as MongoDB sorts it (by BSON type first)."""
    updated = document.get("updatedAt")
    moment = updated.timestamp() if isinstance(updated, datetime) else float("-inf")
    identifier = document.get("_id")
    rank = bson_type_rank(identifier)
    return (moment, rank, identifier if bson_type_alias(identifier) == "number" else str(identifier))


def _out_of_range_date(raw: Mapping[str, Any]) -> Optional[str]:
    """A date outside years 1-9999 reaches us as DatetimeMS (pymongo's DATETIME_AUTO
    keeps it from failing the whole read): name it plainly."""
    for name in sorted(DATE_FIELDS):
        if name == "deletedAt" and raw.get("deleted", False) is False:
            continue  # not exported (deletedDate is null): it cannot block the export
        value = raw.get(name)
        if isinstance(value, DatetimeMS):
            return f"{name}: the date {int(value)} ms from 1970 is outside years 1-9999, which the client format cannot carry"
    return None


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True
