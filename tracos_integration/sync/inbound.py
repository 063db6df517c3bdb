"""Inbound: validated client records become TracOS writes (CONTRACT section 5).

Records arrive a chunk of files at a time, so memory stays bounded. Within a chunk the
latest record per order wins; across chunks, TracOS itself tells: a document whose
`syncedAt` is this run's timestamp was written by an earlier chunk of this run.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Optional
from zoneinfo import ZoneInfo

from tracos_integration.client.batches import FileError, FileErrors, InboundChunk, InboundFile, InboundOutcome
from tracos_integration.core.client import RecordRejected, parse_client_record
from tracos_integration.core.rules import Candidate, Decision, RecordSource, decide, pick_winners, same_content
from tracos_integration.core.translation import to_tracos_fields
from tracos_integration.tracos.queries import IndexReport, Update, WorkOrderRepository

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
    counts: Counter = field(default_factory=Counter)
    rejections: list[Rejection] = field(default_factory=list)
    outcome: InboundOutcome = field(default_factory=InboundOutcome)
    deferred: list[str] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)

    def merge(self, other: "InboundReport") -> None:
        """Add another chunk's report to this one."""
        self.counts.update(other.counts)
        self.rejections.extend(other.rejections[: max(0, MAX_REJECTIONS_KEPT - len(self.rejections))])
        self.outcome.processed.extend(other.outcome.processed)
        self.outcome.failed.update(other.outcome.failed)
        self.outcome.read_as.update(other.outcome.read_as)
        self.deferred.extend(other.deferred)
        self.unreadable.update(other.unreadable)

    def reject(self, file: str, index: Optional[int], order_no: Any, reason: str) -> None:
        self.counts["rejected"] += 1
        if len(self.rejections) < MAX_REJECTIONS_KEPT:
            self.rejections.append(Rejection(file, index, order_no, reason))
        self.outcome.failed.setdefault(file, FileErrors()).add(FileError(index, reason))


class InboundSync:
    """One inbound run: feed it chunks of read files, then take its report."""

    def __init__(self, repository: WorkOrderRepository, *, now: datetime, batch_size: int = 1000,
                 dry_run: bool = False, duplicate_numbers: Optional[list[int]] = None) -> None:
        """`duplicate_numbers`: already known (from prepare_tracos); else indexes are ensured here."""
        self.repository = repository
        self.now = now
        self.batch_size = batch_size
        self.dry_run = dry_run
        self.report = InboundReport(outcome=InboundOutcome(dry_run=dry_run))
        if duplicate_numbers is None:
            duplicate_numbers = [] if dry_run else prepare_tracos(repository).duplicate_numbers
        self.duplicates: set[int] = set(duplicate_numbers)

    def apply_chunk(self, chunk: InboundChunk, client_timezone: str) -> None:
        """A chunk as read: its files are applied; what was left unread is reported."""
        self.apply(chunk.files, client_timezone)
        self.report.deferred.extend(chunk.deferred)
        self.report.unreadable.update(chunk.unreadable)

    def apply(self, files: Iterable[InboundFile], client_timezone: str) -> None:
        files = list(files)
        candidates = self._validate(files, ZoneInfo(client_timezone))
        winners, superseded = pick_winners(candidates)
        self.report.counts["stale"] += len(superseded)
        ordered = [winners[number] for number in sorted(winners)]
        for start in range(0, len(ordered), self.batch_size):
            self._apply_batch(ordered[start : start + self.batch_size])
        for inbound_file in files:
            if inbound_file.identity is not None:
                self.report.outcome.read_as[inbound_file.name] = inbound_file.identity
            if inbound_file.name not in self.report.outcome.failed:
                self.report.outcome.processed.append(inbound_file.name)

    def _validate(self, files: list[InboundFile], zone: ZoneInfo) -> list[Candidate]:
        candidates = []
        for inbound_file in files:
            if inbound_file.error is not None:
                self.report.reject(inbound_file.name, None, None, inbound_file.error)
                continue
            for index, raw in enumerate(inbound_file.records):
                self.report.counts["read"] += 1
                try:
                    order = parse_client_record(raw, zone)
                except RecordRejected as rejection:
                    order_no = raw.get("orderNo") if isinstance(raw, dict) else None
                    self.report.reject(
                        inbound_file.name, index, order_no if type(order_no) is int else None, str(rejection)
                    )
                    continue
                candidates.append(Candidate(RecordSource(inbound_file.name, index), to_tracos_fields(order)))
            inbound_file.records = []  # validated: only the candidates are needed from here on
        return candidates

    def _apply_batch(self, batch: list[Candidate]) -> None:
        """Decide against what TracOS holds, write, and confirm. A record whose write did
        not apply (TracOS changed meanwhile) is decided again against the fresh state; what
        still cannot be written is rejected with the reason, never counted as stale."""
        pending, refusals = batch, {}
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

    def _reject(self, candidate: Candidate, reason: str) -> None:
        self.report.reject(candidate.source.file, candidate.source.index, candidate.number, reason)

    def _written_this_run(self, stored: Optional[dict[str, Any]]) -> bool:
        return stored is not None and stored.get("syncedAt") == self.now

    def _count(self, planned: Iterable[tuple[Candidate, Decision]]) -> None:
        for _, decision in planned:
            self.report.counts[decision.counted_as] += 1


def prepare_tracos(repository: WorkOrderRepository) -> IndexReport:
    """Ensure the indexes once per run: the numbers TracOS already holds twice, and warnings."""
    return repository.ensure_indexes()
