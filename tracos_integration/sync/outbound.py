"""Outbound: unsynced TracOS documents become client files (CONTRACT section 6)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Callable, Iterable, Mapping, Optional

from bson.datetime_ms import DatetimeMS

from tracos_integration.core.bson_order import bson_type_alias, number_key, sort_key
from tracos_integration.core.tracos import (
    DATE_FIELDS,
    DocumentUntranslatable,
    parse_tracos_document,
    unchanged_since_read,
)
from tracos_integration.core.translation import to_client_record
from tracos_integration.ports import ClientSide, TracOS

MAX_SKIPPED_KEPT = 500  # for the metadata table and the log; `skipped_total` counts them all


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
    skip_reason: Optional[str] = None  # why it is skipped: its name is taken (by a folder), or unrenderable


@dataclass
class ExportPage:
    exports: list[Export] = field(default_factory=list)

    @property
    def files(self) -> dict[str, dict[str, Any]]:
        return {export.file_name: export.record for export in self.exports}

    @property
    def mark_conditions(self) -> list[dict[str, Any]]:
        return [export.mark_condition for export in self.exports]


@dataclass
class OutboundReport:
    """What one outbound run did. Exported = marked synced + changed meanwhile; skipped
    documents stay unsynced."""

    counts: dict[str, int] = field(default_factory=lambda: {"exported": 0, "marked_synced": 0, "changed_meanwhile": 0})
    skipped: list[Skipped] = field(default_factory=list)  # the first MAX_SKIPPED_KEPT
    skipped_total: int = 0
    to_export: int = 0
    pages: int = 0

    @property
    def summary(self) -> dict[str, int]:
        return {**self.counts, "skipped": self.skipped_total}

    def add_page(self, page: ExportPage, skipped: list[Skipped]) -> None:
        self.skipped_total += len(skipped)
        self.skipped.extend(skipped[: max(0, MAX_SKIPPED_KEPT - len(self.skipped))])
        self.to_export += len(page.exports)
        self.pages += 1


def export(tracos: TracOS, client: ClientSide, *, page_size: int, dry_run: bool, timezone: str,
           now: Callable[[], datetime], warn: Callable[[str], None] = lambda message: None) -> OutboundReport:
    """The outbound loop: read unsynced documents a page at a time; write each page's client
    files, then mark those documents synced, each only if unchanged since it was read."""
    report = OutboundReport()
    if not dry_run:
        client.require("outbound")  # before reading anything: a missing folder fails at once
        for warning in tracos.ensure_indexes().warnings:  # the index the pages walk, and the one on number
            warn(warning)
    for documents in tracos.iter_unsynced(page_size):
        # Every document with the page's numbers, synced or not: only the latest goes out. Asked
        # even with a unique index on number: one indexed query a page, and no index, store or
        # number type (7, an int64 7, 7.0) can let an older duplicate into a file.
        same_number = tracos.find_same_numbers(documents)
        page, skipped = translate_page(documents, same_number, client.format.file_name)
        skipped += _skip_taken_names(client, page) if not dry_run else []
        files, not_rendered = _render(client, page, timezone)
        report.add_page(page, skipped + not_rendered)
        if dry_run or not page.exports:
            continue
        exports = [export for export in page.exports if export.skip_reason is None]
        client.write_files("outbound", files)
        marked = tracos.mark_synced([export.mark_condition for export in exports], now())
        report.counts["exported"] += len(exports)
        report.counts["marked_synced"] += marked
        report.counts["changed_meanwhile"] += len(exports) - marked
    return report


def _skip_taken_names(client: ClientSide, page: ExportPage) -> list[Skipped]:
    """Exports whose file name something else takes (a folder named `3.json`): skipped with
    the reason; their documents stay unsynced, the others go out."""
    taken = client.taken_names("outbound", [export.file_name for export in page.exports])
    skipped = []
    for index, export in enumerate(page.exports):
        if export.file_name in taken:
            page.exports[index] = export = replace(export, skip_reason=taken[export.file_name])
            skipped.append(Skipped(export.record["orderNo"], str(export.mark_condition["_id"]), export.skip_reason))
    return skipped


def _render(client: ClientSide, page: ExportPage, timezone: str) -> tuple[list[tuple[str, bytes]], list[Skipped]]:
    """Each export's file in the customer's format. One the format cannot write (a CSV local
    time outside years 1-9999 in the customer's zone) is skipped with the reason; its document
    stays unsynced and the others go out (CONTRACT 6.4)."""
    files, skipped = [], []
    for index, export in enumerate(page.exports):
        if export.skip_reason is not None:
            continue
        try:
            files.append(client.export_file(export.record, timezone))
        except ValueError as error:
            page.exports[index] = export = replace(export, skip_reason=str(error))
            skipped.append(Skipped(export.record["orderNo"], str(export.mark_condition["_id"]), export.skip_reason))
    return files, skipped


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
    found = same_number.get(key, [])
    if len(found) == 1 and type(found[0].get("_id")) is type(raw.get("_id")) and found[0].get("_id") == raw.get("_id"):
        return raw  # the usual case: the only document with its number is this one
    identity = sort_key(raw.get("_id"))
    others = [d for d in found if sort_key(d.get("_id")) != identity]
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
