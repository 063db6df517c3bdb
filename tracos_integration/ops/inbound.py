"""inbound: client files -> TracOS, a chunk of files per step.

plan_inbound_chunks lists the folder (through the client-folder IO manager) and fans
out; apply_inbound_chunk validates, translates and upserts one chunk; settle_inbound_files
adds up the chunks and hands the outcome back to the IO manager, which moves the files."""

from dataclasses import dataclass, field
from datetime import datetime

import dagster as dg
from pydantic import Field

from tracos_integration.client.batches import InboundBatch, InboundOutcome
from tracos_integration.client.folder import display_name
from tracos_integration.core.timestamps import UTC, to_utc_millis
from tracos_integration.ops.metadata import table
from tracos_integration.sync.inbound import InboundReport, InboundSync, prepare_tracos
from tracos_integration.tracos.queries import IndexReport, WritesNotConfirmed
from tracos_integration.tracos.resource import MongoResource
from tracos_integration.tracos.retry import TracosUnavailable

INBOUND_COUNTS = ("read", "inserted", "updated", "unchanged", "stale", "rejected")


class InboundConfig(dg.Config):
    batch_size: int = Field(default=1000, ge=1, description="Files per chunk, and records per $in find and bulk_write")
    dry_run: bool = Field(default=False, description="Decide and report, but write nothing and move no file")


@dataclass
class InboundChunkPlan:
    """One chunk of the run: its files, and what every chunk of the run shares."""

    batch: InboundBatch
    now: datetime  # this run's syncedAt: marks what earlier chunks of the run wrote
    duplicate_numbers: list[int]
    batch_size: int
    dry_run: bool


@dataclass
class InboundListing:
    files: int
    symlinks: list[str] = field(default_factory=list)
    settle_seconds: float = 0.0
    duplicate_numbers: list[int] = field(default_factory=list)
    dry_run: bool = False


def _unavailable(error: Exception) -> dg.Failure:
    return dg.Failure(description=f"{error}. No inbound file was moved.")


@dg.op(
    ins={"batch": dg.In(InboundBatch, input_manager_key="client_folder")},
    out={
        "chunks": dg.DynamicOut(InboundChunkPlan, description="batch_size files each"),
        "listing": dg.Out(InboundListing),
    },
    tags={"kind": "mongodb"},
)
def plan_inbound_chunks(context: dg.OpExecutionContext, config: InboundConfig, mongo: MongoResource, batch: InboundBatch):
    """List the inbound folder, ensure TracOS's indexes once, and fan out in chunks."""
    now = to_utc_millis(datetime.now(UTC))
    try:
        indexes = IndexReport() if config.dry_run else prepare_tracos(mongo.repository())
    except TracosUnavailable as error:
        raise _unavailable(error) from None
    for warning in indexes.warnings:
        context.log.warning(warning)
    duplicates = indexes.duplicate_numbers
    starts = range(0, len(batch.names), config.batch_size)
    for number, start in enumerate(starts):
        chunk = InboundBatch(**{**batch.__dict__, "names": batch.names[start : start + config.batch_size], "symlinks": []})
        yield dg.DynamicOutput(
            InboundChunkPlan(chunk, now, duplicates, config.batch_size, config.dry_run),
            mapping_key=f"chunk_{number:05d}", output_name="chunks",
        )
    yield dg.Output(
        InboundListing(len(batch.names), batch.symlinks, batch.settle_seconds, duplicates, config.dry_run),
        output_name="listing",
        metadata={"files": len(batch.names), "chunks": len(starts), "symlinks_skipped": len(batch.symlinks)},
    )


@dg.op(tags={"kind": "mongodb"})
def apply_inbound_chunk(context: dg.OpExecutionContext, mongo: MongoResource, plan: InboundChunkPlan) -> InboundReport:
    """Validate, translate and upsert one chunk: one $in find and one bulk_write per batch."""
    try:
        run = InboundSync(mongo.repository(), now=plan.now, batch_size=plan.batch_size, dry_run=plan.dry_run,
                          duplicate_numbers=plan.duplicate_numbers)
        for chunk in plan.batch.chunks(plan.batch_size):
            run.apply_chunk(chunk, plan.batch.client_timezone)
    except (TracosUnavailable, WritesNotConfirmed) as error:
        raise _unavailable(error) from None
    context.add_output_metadata({name: run.report.counts[name] for name in INBOUND_COUNTS})
    return run.report


@dg.op(out=dg.Out(InboundOutcome, io_manager_key="client_folder", description="Files to move to processed/ or failed/"))
def settle_inbound_files(
    context: dg.OpExecutionContext, listing: InboundListing, reports: list[InboundReport]
) -> dg.Output[InboundOutcome]:
    """Add up the chunks; the client-folder IO manager then moves every file read."""
    report = InboundReport(outcome=InboundOutcome(dry_run=listing.dry_run))
    for chunk_report in reports:
        report.merge(chunk_report)
    counts = {name: report.counts[name] for name in INBOUND_COUNTS}
    unreadable = {display_name(name): reason for name, reason in report.unreadable.items()}
    deferred = [display_name(name) for name in report.deferred]
    symlinks = [display_name(name) for name in listing.symlinks]
    for name, reason in unreadable.items():
        context.log.warning(f"inbound/{name} could not be read ({reason}); it stays in place for the next run")
    if report.deferred:
        context.log.info(
            f"{len(report.deferred)} inbound file(s) do not parse yet and changed less than "
            f"{listing.settle_seconds:g}s ago; left for the next run: {', '.join(deferred[:10])}"
        )
    for rejection in report.rejections[:20]:
        where = f"inbound/{display_name(rejection.file)}"
        where += "" if rejection.index is None else f" record {rejection.index}"
        context.log.warning(f"rejected {where}: {rejection.reason}")
    if listing.duplicate_numbers:
        context.log.warning(
            f"TracOS holds duplicate numbers {listing.duplicate_numbers[:20]}; the unique index on number "
            "cannot be created until they are removed. Records with other numbers were applied."
        )
    context.log.info("inbound: " + ", ".join(f"{name} {value}" for name, value in counts.items()))
    return dg.Output(
        report.outcome,
        metadata={
            **counts,
            "files_read": len(report.outcome.processed) + len(report.outcome.failed),
            "files_deferred": len(report.deferred),
            "files_unreadable": len(report.unreadable),
            "symlinks_skipped": len(listing.symlinks),
            "symlinks": dg.MetadataValue.json(symlinks[:200]),
            "unreadable_files": dg.MetadataValue.json(dict(list(unreadable.items())[:200])),
            "duplicate_numbers_in_tracos": dg.MetadataValue.json(listing.duplicate_numbers[:200]),
            "dry_run": listing.dry_run,
            "rejected_records": table(
                [("file", "string"), ("index", "int"), ("orderNo", "int"), ("reason", "string")],
                (
                    {"file": display_name(r.file), "index": r.index, "orderNo": r.order_no, "reason": r.reason}
                    for r in report.rejections
                ),
            ),
        },
    )
