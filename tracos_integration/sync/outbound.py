"""Outbound: unsynced TracOS documents become client files (CONTRACT section 6)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Optional

from bson.datetime_ms import DatetimeMS

from tracos_integration.core.tracos import DATE_FIELDS, DocumentUntranslatable, parse_tracos_document
from tracos_integration.core.translation import to_client_record
from tracos_integration.tracos.bson_order import bson_type_alias, number_key, sort_key
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
    file_name: Optional[Callable[[int], str]] = None,
) -> tuple[ExportPage, list[Skipped]]:
    """Translate a page of unsynced documents. `same_number` holds, by `number_key`, every
    document TracOS holds with the page's numbers, synced or not: a document is exported
    only when it is the latest of its number, so no run ever puts an older duplicate's
    content in the file; the others stay unsynced and are reported as duplicates (CONTRACT 6.5)."""
    page, skipped = ExportPage(), []
    for raw in documents:
        latest = _latest_of_its_number(raw, same_number or {})
        if latest is not raw:
            skipped.append(_duplicate(raw, latest))
            continue
        try:
            out_of_range = _out_of_range_date(raw)
            if out_of_range:
                raise DocumentUntranslatable(out_of_range)
            document = parse_tracos_document(dict(raw))
        except DocumentUntranslatable as error:
            skipped.append(Skipped(raw.get("number"), str(raw.get("_id")), str(error)))
            continue
        name = (file_name or outbound_file_name)(document.number)  # the customer's format names it
        page.exports.append(Export(name, to_client_record(document), unchanged_since_read(raw)))
    return page, skipped


def _latest_of_its_number(raw: Mapping[str, Any], same_number: Mapping[Any, list[Mapping[str, Any]]]) -> Mapping[str, Any]:
    """The document the file of `raw`'s number must hold: the page's own copy of `raw`
    stands for it (its mark checks that copy), beside every other document with its number."""
    key = number_key(raw.get("number"))
    if key is None:
        return raw
    identity = sort_key(raw.get("_id"))
    others = [d for d in same_number.get(key, []) if sort_key(d.get("_id")) != identity]
    return max([raw, *others], key=latest_first_key)


def _duplicate(document: Mapping[str, Any], latest: Mapping[str, Any]) -> Skipped:
    number = document.get("number")
    return Skipped(
        number, str(document.get("_id")),
        f"duplicate number {number}: document {latest.get('_id')} has the latest updatedAt (on a tie, the "
        "greatest _id), so the file holds that one, never this one; this one stays unsynced until the "
        "duplicates are removed",
    )


def latest_first_key(document: Mapping[str, Any]) -> tuple:
    """Latest `updatedAt` wins (a missing or odd one is oldest); on a tie, the greatest
    `_id`, compared as MongoDB sorts it (by BSON type first)."""
    updated = document.get("updatedAt")
    moment = sort_key(updated)[1] if bson_type_alias(updated) == "date" else float("-inf")
    return (moment, sort_key(document.get("_id")))


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
