"""outbound: TracOS -> client files, then mark synced, a page at a time."""

from datetime import datetime

import dagster as dg
from pydantic import Field

from tracos_integration.assets import CLIENT_OUTBOUND, TRACOS_WORK_ORDERS, outbound_freshness_check, overdue_unsynced
from tracos_integration.client.folder import ClientFolder, clear_failure
from tracos_integration.core.timestamps import UTC, to_utc_millis
from tracos_integration.ops.metadata import SKIPPED_TAG, table, tag_counts
from tracos_integration.ops.scope import partition_of, scoped
from tracos_integration.sync.outbound import OutboundReport, export
from tracos_integration.totals import daily_totals
from tracos_integration.tracos.resource import MongoResource, tracos_failure

BACKLOG_COUNT_LIMIT = 10_000  # the backlog figure counts this far, so it stays cheap
STAYS_UNSYNCED = "Documents not marked synced stay unsynced and go out on the next run."


class OutboundConfig(dg.Config):
    page_size: int = Field(default=500, ge=1, description="Documents per page: one find, one bulk_write of marks")
    dry_run: bool = Field(default=False, description="Translate and report, but write no file and mark nothing")


# Its counts are its output's metadata; no value to store (the IO manager writes nothing).
@dg.op(ins={"after": dg.In(dg.Nothing, description="Runs after inbound when part of sync_job")},
       out=dg.Out(dg.Nothing), tags={"kind": "mongodb"})
def export_unsynced(
    context: dg.OpExecutionContext, config: OutboundConfig, mongo: MongoResource, client_folder: ClientFolder
) -> None:
    """Read unsynced documents a page at a time; write each page's client files, then mark
    those documents synced, each only if unchanged since it was read."""
    client_folder, mongo = scoped(context, client_folder, mongo)
    with clear_failure(STAYS_UNSYNCED), tracos_failure(STAYS_UNSYNCED):
        settings = client_folder.settings()  # once: a bad setting fails the step, never a skip
        report = export(mongo.repository(), client_folder.side(), page_size=config.page_size, dry_run=config.dry_run,
                        timezone=settings.client_timezone, now=lambda: to_utc_millis(datetime.now(UTC)),
                        warn=context.log.warning)
    _record(context, mongo, report, settings.freshness_window_seconds, config.dry_run)


def _record(context: dg.OpExecutionContext, mongo: MongoResource, report: OutboundReport, window: float,
            dry_run: bool) -> None:
    """Logs, tags, the backlog, and (unless a dry run) the assets' events; then the run's metadata."""
    for item in report.skipped[:20]:
        context.log.warning(f"skipped TracOS document {item.document_id} (number {item.number}): {item.reason}")
    if changed := report.counts["changed_meanwhile"]:
        context.log.info(f"{changed} document(s) changed after being read; they stay unsynced for the next run")
    summary = report.summary
    tag_counts(context, SKIPPED_TAG, "skipped", report.skipped_total)
    with tracos_failure("The exported files are written and marked; only the backlog figures are missing."):
        backlog = mongo.repository().count_unsynced(limit=BACKLOG_COUNT_LIMIT)
        overdue = overdue_unsynced(mongo, window)
    if not dry_run:
        partition = partition_of(context)
        context.log_event(dg.AssetMaterialization(CLIENT_OUTBOUND, description="outbound run", metadata=summary,
                                                  partition=partition))
        context.log_event(dg.AssetObservation(TRACOS_WORK_ORDERS, description="unsynced after the outbound run",
                                              metadata={"backlog": backlog}, partition=partition))
        context.log_event(outbound_freshness_check(overdue, window, partition))
        if summary["exported"]:  # a run that exported nothing leaves today's totals as they were
            context.log_event(daily_totals(context.instance, partition, run_id=context.run_id, outbound=summary))
    context.log.info("outbound: " + ", ".join(f"{name} {value}" for name, value in summary.items()))
    context.add_output_metadata({
        "summary": dg.MetadataValue.md(_summary(summary, backlog, dry_run, report.to_export)),
        **summary,
        "backlog": backlog,
        "to_export": report.to_export,
        "pages": report.pages,
        "dry_run": dry_run,
        "tracos": mongo.server_label,
        "skipped_documents": table(
            [("number", "int"), ("document_id", "string"), ("reason", "string")],
            ({"number": int(s.number) if isinstance(s.number, int) and not isinstance(s.number, bool) else None,
              "document_id": s.document_id, "reason": s.reason}
             for s in report.skipped),
        ),
    })


def _summary(summary: dict[str, int], backlog: int, dry_run: bool, to_export: int) -> str:
    """Exported = marked synced + changed meanwhile; skipped documents stay unsynced."""
    at_least = "≥ " if backlog >= BACKLOG_COUNT_LIMIT else ""
    lines = [
        f"**Dry run**: {to_export} would be exported; nothing written or marked." if dry_run else "",
        "| work orders | |", "| --- | ---: |",
        *(f"| {name.replace('_', ' ')} | {value} |" for name, value in summary.items()),
        f"| still unsynced in TracOS | {at_least}{backlog} |",
    ]
    return "\n".join(lines).strip()
