"""Inbound: validated client records become TracOS writes (CONTRACT section 5).

Files arrive a page at a time, so memory stays bounded by bytes. Within a page the latest
record per order wins; across pages, TracOS itself tells: a document whose `syncedAt` is
this run's timestamp was written by an earlier page of this run.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable, Optional
from zoneinfo import ZoneInfo

from tracos_integration.core.client import RecordRejected, parse_client_record
from tracos_integration.core.files import FileError, FileErrors, Page, ReadFile
from tracos_integration.core.rules import Candidate, Decision, RecordSource, decide, pick_winners, same_content
from tracos_integration.core.translation import to_tracos_fields
from tracos_integration.core.writes import IndexReport, Update
from tracos_integration.ports import ClientSide, Format, TracOS

COUNTS = ("read", "inserted", "updated", "unchanged", "stale", "rejected")
BULK_SIZE = 1000  # records per $in find and per bulk_write: one round trip each
MAX_WRITE_ROUNDS = 3  # a record whose write did not apply is re-decided against fresh state
MAX_REJECTIONS_KEPT = 500  # for the metadata table; every reason is in the failed/ reports


@dataclass(frozen=True)
class Rejection:
    file: str
    index: Optional[int]
    order_no: Any
    reason: str


@dataclass
class InboundReport:
    """What one inbound run did: counts, the first rejections, and where each file goes.
    Small however many records were read: errors are capped per file."""

    counts: Counter = field(default_factory=Counter)
    rejections: list[Rejection] = field(default_factory=list)
    files: dict[str, int] = field(default_factory=dict)  # every file read: its identity (FileIdentity.packed)
    failed: dict[str, FileErrors] = field(default_factory=dict)  # those that go to failed/, with their errors
    being_written: list[str] = field(default_factory=list)  # do not parse yet, younger than the settle time: left
    unreadable: dict[str, str] = field(default_factory=dict)  # left, with why
    symlinks: list[str] = field(default_factory=list)
    other_format: list[str] = field(default_factory=list)  # files of another client format: never read
    duplicate_numbers: list[Any] = field(default_factory=list)
    dry_run: bool = False

    def count_rejection(self, rejection: Rejection) -> None:
        self.counts["rejected"] += 1
        if len(self.rejections) < MAX_REJECTIONS_KEPT:
            self.rejections.append(rejection)


def apply_files(tracos: TracOS, client: ClientSide, *, page_size: int, dry_run: bool, now: datetime,
                client_timezone: str, on_listed: Callable[[int], None] = lambda count: None) -> InboundSync:
    """The inbound loop: list the client's files, then validate, decide and write them a page
    at a time. The run's report (`.report`) says what happened to each record and file."""
    names, symlinks = client.list_inbound()
    other_format = client.list_other_formats()
    on_listed(len(names))
    run = InboundSync(tracos, now=now, client_timezone=client_timezone, dry_run=dry_run, client_format=client.format)
    for page in client.read(names, files_per_page=page_size):
        run.apply(page)
    run.report.symlinks, run.report.other_format = symlinks, other_format
    return run


class InboundSync:
    """One inbound run: feed it pages of read files, then take its report."""

    def __init__(self, repository: TracOS, *, now: datetime, client_timezone: str, client_format: Format,
                 dry_run: bool = False) -> None:
        self.repository = repository
        self.now = now
        self.zone = ZoneInfo(client_timezone)
        self.format = client_format
        self.dry_run = dry_run
        self.report = InboundReport(dry_run=dry_run)
        self.indexes = IndexReport() if dry_run else repository.ensure_indexes()
        self.report.duplicate_numbers = self.indexes.duplicate_numbers
        self.duplicates: set[Any] = set(self.indexes.duplicate_numbers)
        self._page_errors: defaultdict[str, FileErrors] = defaultdict(FileErrors)  # the current page's files with errors

    def apply(self, page: Page) -> None:
        """Validate, decide and write one page; record where each of its files goes."""
        self.report.being_written.extend(page.being_written)
        self.report.unreadable.update(page.unreadable)
        self._page_errors.clear()
        candidates = self._validate(page.files)
        winners, superseded = pick_winners(candidates)
        self.report.counts["stale"] += len(superseded)
        ordered = [winners[number] for number in sorted(winners)]
        for start in range(0, len(ordered), BULK_SIZE):
            self._write(ordered[start : start + BULK_SIZE])
        for read_file in page.files:
            self.report.files[read_file.name] = read_file.identity.packed()
            errors = self._page_errors.get(read_file.name)
            if errors is not None:
                self.report.failed[read_file.name] = errors

    def _validate(self, files: list[ReadFile]) -> list[Candidate]:
        candidates, read = [], 0
        record_problem, zone = self.format.record_problem, self.zone
        for read_file in files:
            if read_file.error is not None:  # counted as one record read and rejected: the counts add up
                read += 1
                self.reject(read_file.name, None, None, read_file.error)
                continue
            for index, raw in enumerate(read_file.records):
                read += 1
                problem = record_problem(raw)  # e.g. a key named twice, a row that does not fit
                try:
                    if problem is not None:
                        raise RecordRejected(problem)
                    order = parse_client_record(raw, zone)
                except RecordRejected as rejection:
                    self.reject(read_file.name, index, _order_no(raw), self.format.locate(index, str(rejection)))
                    continue
                candidates.append(Candidate(RecordSource(read_file.name, index), to_tracos_fields(order)))
            read_file.records = []  # validated: only the candidates are needed from here on
        self.report.counts["read"] += read
        return candidates

    def _write(self, candidates: list[Candidate]) -> None:
        """Decide against what TracOS holds, write, and confirm. A record whose write did
        not apply (TracOS changed meanwhile) is decided again against the fresh state; what
        still cannot be written is rejected with the reason, never counted as stale."""
        pending, refusals = candidates, {}
        for _ in range(MAX_WRITE_ROUNDS):
            stored = self.repository.find_by_numbers([candidate.number for candidate in pending])
            planned: dict[int, tuple[Candidate, Decision]] = {}
            inserts, updates = [], []
            for candidate in pending:
                documents = stored.get(candidate.number, [])
                if len(documents) > 1 or candidate.number in self.duplicates:
                    self._reject(
                        candidate,
                        f"TracOS holds {max(len(documents), 2)} documents with number {candidate.number}; "
                        "remove the duplicates so the unique index on number can be created",
                    )
                    continue
                current = documents[0] if documents else None
                if current is not None and isinstance(current.get("number"), list):
                    self._reject(candidate, (
                        f"TracOS document {current.get('_id')} holds number {current['number']!r}, a list, not one "
                        f"number; fix that document in TracOS so work order {candidate.number} can be written"
                    ))
                    continue
                decision = decide(candidate.fields, current, written_this_run=self._written_this_run(current))
                if decision in (Decision.UNCHANGED, Decision.STALE):
                    self.report.counts[decision.counted_as] += 1
                    continue
                planned[candidate.number] = (candidate, decision)
                if decision is Decision.INSERT:
                    inserts.append(candidate.fields)
                else:
                    updates.append(Update(candidate.fields, current))
            if self.dry_run or not planned:
                self._count(planned.values())
                return
            written = self.repository.apply_client_changes(inserts, updates, self.now)
            if not written.refused and len(written.inserted) == len(inserts) and written.matched == len(updates):
                self._count(planned.values())
                return
            for number, refusal in written.refused.items():
                refusals[number] = refusal
                if not refusal.lost_race_on_number:
                    self._reject(planned.pop(number)[0], f"{refusal.describe()}; fix it and drop the file again")
            pending = self._unconfirmed(planned)
            if not pending:
                return
        for candidate in pending:
            refusal = refusals.get(candidate.number)
            self._reject(candidate, (
                f"{refusal.describe()}; fix it and drop the file again" if refusal else
                f"TracOS kept changing work order {candidate.number} while this run wrote it "
                f"({MAX_WRITE_ROUNDS} attempts); drop the file again to retry"
            ))

    def _unconfirmed(self, planned: dict[int, tuple[Candidate, Decision]]) -> list[Candidate]:
        """Count the planned writes TracOS now holds (this run's `syncedAt`, same content);
        return the others, to be decided again."""
        fresh = self.repository.find_by_numbers(list(planned))
        unconfirmed = []
        for number, (candidate, decision) in planned.items():
            documents = fresh.get(number, [])
            if len(documents) == 1 and self._written_this_run(documents[0]) and same_content(candidate.fields, documents[0]):
                self.report.counts[decision.counted_as] += 1
            else:
                unconfirmed.append(candidate)
        return unconfirmed

    def reject(self, file: str, index: Optional[int], order_no: Any, reason: str) -> None:
        """A record (or with `index` None, a whole file) that is not applied, with why."""
        self.report.count_rejection(Rejection(file, index, order_no, reason))
        self._page_errors[file].add(FileError(index, reason))

    def _reject(self, candidate: Candidate, reason: str) -> None:
        self.reject(candidate.source.file, candidate.source.index, candidate.number, reason)

    def _written_this_run(self, stored: Optional[dict[str, Any]]) -> bool:
        return stored is not None and stored.get("syncedAt") == self.now

    def _count(self, planned: Iterable[tuple[Candidate, Decision]]) -> None:
        for _, decision in planned:
            self.report.counts[decision.counted_as] += 1


def _order_no(raw: Any) -> Optional[int]:
    """A rejected record's orderNo, when it has a whole number there, for the report."""
    order_no = raw.get("orderNo") if isinstance(raw, dict) else None
    return order_no if type(order_no) is int else None
