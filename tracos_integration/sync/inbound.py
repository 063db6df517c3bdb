"""Inbound: validated client records become TracOS writes (CONTRACT section 5)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional
from zoneinfo import ZoneInfo

from tracos_integration.client.batches import FileError, InboundBatch, InboundOutcome
from tracos_integration.core.client import RecordRejected, parse_client_record
from tracos_integration.core.rules import Candidate, Decision, RecordSource, decide, pick_winners, same_content
from tracos_integration.core.translation import to_tracos_fields
from tracos_integration.tracos.queries import DUPLICATE_KEY, WorkOrderRepository

MAX_WRITE_ROUNDS = 3  # a record whose write lost a race is re-decided against fresh state


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
    errors_by_file: dict[str, list[FileError]] = field(default_factory=dict)
    duplicate_numbers: list[int] = field(default_factory=list)

    def reject(self, file: str, index: Optional[int], order_no: Any, reason: str) -> None:
        self.counts["rejected"] += 1
        self.rejections.append(Rejection(file, index, order_no, reason))
        self.errors_by_file.setdefault(file, []).append(FileError(index, reason))

    def outcome(self, dry_run: bool) -> InboundOutcome:
        return InboundOutcome(errors_by_file=self.errors_by_file, dry_run=dry_run)


def sync_inbound(
    batch: InboundBatch,
    repository: WorkOrderRepository,
    *,
    now: datetime,
    batch_size: int = 1000,
    dry_run: bool = False,
) -> InboundReport:
    report = InboundReport()
    candidates = _validate(batch, report)
    winners, superseded = pick_winners(candidates)
    report.counts["stale"] += len(superseded)

    duplicates: set[int] = set()
    if not dry_run:
        index_report = repository.ensure_indexes()
        report.duplicate_numbers = index_report.duplicate_numbers
        duplicates = set(index_report.duplicate_numbers)

    ordered = [winners[number] for number in sorted(winners)]
    for start in range(0, len(ordered), batch_size):
        _apply_chunk(ordered[start : start + batch_size], repository, report, duplicates, now, dry_run)
    return report


def _validate(batch: InboundBatch, report: InboundReport) -> list[Candidate]:
    zone = ZoneInfo(batch.client_timezone)
    candidates = []
    for inbound_file in batch.files:
        report.errors_by_file.setdefault(inbound_file.name, [])
        if inbound_file.error is not None:
            report.counts["files_rejected_whole"] += 1
            report.reject(inbound_file.name, None, None, inbound_file.error)
            continue
        for index, raw in enumerate(inbound_file.records):
            report.counts["read"] += 1
            try:
                order = parse_client_record(raw, zone)
            except RecordRejected as rejection:
                order_no = raw.get("orderNo") if isinstance(raw, dict) else None
                report.reject(inbound_file.name, index, order_no if isinstance(order_no, int) else None, str(rejection))
                continue
            candidates.append(Candidate(RecordSource(inbound_file.name, index), to_tracos_fields(order)))
    return candidates


def _apply_chunk(
    chunk: list[Candidate],
    repository: WorkOrderRepository,
    report: InboundReport,
    duplicates: set[int],
    now: datetime,
    dry_run: bool,
) -> None:
    pending = chunk
    for _ in range(MAX_WRITE_ROUNDS):
        stored = repository.find_by_numbers([candidate.number for candidate in pending])
        planned: dict[int, tuple[Candidate, Decision]] = {}
        for candidate in pending:
            documents = stored.get(candidate.number, [])
            if len(documents) > 1 or candidate.number in duplicates:
                report.reject(
                    candidate.source.file, candidate.source.index, candidate.number,
                    f"TracOS holds {max(len(documents), 2)} documents with number {candidate.number}; "
                    "remove the duplicates so the unique index on number can be created",
                )
                continue
            decision = decide(candidate.fields, documents[0] if documents else None)
            if decision in (Decision.UNCHANGED, Decision.STALE):
                report.counts[decision.value] += 1
            else:
                planned[candidate.number] = (candidate, decision)
        if dry_run or not planned:
            for candidate, decision in planned.values():
                report.counts[decision.value] += 1
            return
        inserts = [c.fields for c, d in planned.values() if d is Decision.INSERT]
        updates = [c.fields for c, d in planned.values() if d is Decision.UPDATE]
        written = repository.apply_client_changes(inserts, updates, now)
        if not written.refused and len(written.inserted) == len(inserts) and written.matched == len(updates):
            for candidate, decision in planned.values():
                report.counts[decision.value] += 1
            return
        for number, (code, message) in written.refused.items():
            if code != DUPLICATE_KEY:  # a race on a new number is re-decided below; others are final
                candidate, _ = planned.pop(number)
                report.reject(
                    candidate.source.file, candidate.source.index, number,
                    f"TracOS refused the write (code {code}: {message[:200]}); fix the record and drop it again",
                )
        # Someone else wrote some of these numbers meanwhile: keep what is confirmed, re-decide the rest.
        fresh = repository.find_by_numbers(list(planned))
        pending = []
        for number, (candidate, decision) in planned.items():
            documents = fresh.get(number, [])
            if len(documents) == 1 and same_content(candidate.fields, documents[0]):
                report.counts[decision.value] += 1
            else:
                pending.append(candidate)
        if not pending:
            return
    for candidate in pending:
        report.counts[Decision.STALE.value] += 1
