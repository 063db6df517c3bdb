"""inbound: client files -> TracOS."""


from datetime import datetime

import dagster as dg
from pydantic import Field

from tracos_integration.client.batches import InboundBatch, InboundOutcome
from tracos_integration.core.timestamps import UTC, to_utc_millis
from tracos_integration.ops.metadata import table
from tracos_integration.sync.inbound import sync_inbound
from tracos_integration.tracos.resource import MongoResource
from tracos_integration.tracos.retry import TracosUnavailable

INBOUND_COUNTS = ("read", "inserted", "updated", "unchanged", "stale", "rejected")


class InboundConfig(dg.Config):
    batch_size: int = Field(default=1000, ge=1, description="Files read per chunk, and records per $in find and bulk_write")
    dry_run: bool = Field(default=False, description="Decide and report, but write nothing and move no file")


@dg.op(
    ins={"batch": dg.In(InboundBatch, input_manager_key="client_folder")},
    out=dg.Out(InboundOutcome, io_manager_key="client_folder", description="Files to move to processed/ or failed/"),
    tags={"kind": "mongodb"},
)
def apply_inbound(
    context: dg.OpExecutionContext, config: InboundConfig, mongo: MongoResource, batch: InboundBatch
) -> dg.Output[InboundOutcome]:
    """Validate, translate and upsert every inbound work order into TracOS."""
    try:
        report = sync_inbound(
            batch,
            mongo.repository(),
            now=to_utc_millis(datetime.now(UTC)),
            batch_size=config.batch_size,
            dry_run=config.dry_run,
        )
    except TracosUnavailable as error:
        raise dg.Failure(description=f"{error}. No inbound file was moved.") from None

    counts = {name: report.counts[name] for name in INBOUND_COUNTS}
    for name, reason in report.unreadable.items():
        context.log.warning(f"inbound/{name} could not be read ({reason}); it stays in place for the next run")
    if report.deferred:
        context.log.info(
            f"{len(report.deferred)} inbound file(s) do not parse yet and changed less than "
            f"{batch.settle_seconds:g}s ago; left for the next run: {', '.join(report.deferred[:10])}"
        )
    for rejection in report.rejections[:20]:
        where = f"inbound/{rejection.file}" + ("" if rejection.index is None else f" record {rejection.index}")
        context.log.warning(f"rejected {where}: {rejection.reason}")
    if report.duplicate_numbers:
        context.log.warning(
            f"TracOS holds duplicate numbers {report.duplicate_numbers[:20]}; the unique index on number "
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
            "symlinks_skipped": len(batch.symlinks),
            "symlinks": dg.MetadataValue.json(batch.symlinks[:200]),
            "unreadable_files": dg.MetadataValue.json(dict(list(report.unreadable.items())[:200])),
            "duplicate_numbers_in_tracos": dg.MetadataValue.json(report.duplicate_numbers[:200]),
            "dry_run": config.dry_run,
            "tracos": mongo.display_name,
            "rejected_records": table(
                [("file", "string"), ("index", "int"), ("orderNo", "int"), ("reason", "string")],
                (
                    {"file": r.file, "index": r.index, "orderNo": r.order_no, "reason": r.reason}
                    for r in report.rejections
                ),
            ),
        },
    )
