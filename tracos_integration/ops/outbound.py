"""outbound: TracOS -> client files, then mark synced, a page at a time."""

from dataclasses import replace
from datetime import datetime

import dagster as dg
from pydantic import Field

from tracos_integration.assets import CLIENT_OUTBOUND, TRACOS_WORK_ORDERS, outbound_freshness_check, overdue_unsynced
from tracos_integration.client.folder import ClientFolder, clear_failure
from tracos_integration.core.timestamps import UTC, to_utc_millis
from tracos_integration.ops.metadata import MAX_TABLE_ROWS, SKIPPED_TAG, table, tag_result, tag_run
from tracos_integration.ops.scope import partition_of, scoped
from tracos_integration.sync.outbound import ExportPage, Skipped, translate_page
from tracos_integration.totals import daily_totals
from tracos_integration.tracos.resource import MongoResource, tracos_failure

BACKLOG_COUNT_LIMIT = 10_000  # the backlog figure counts this far, so it stays cheap
STAYS_UNSYNCED = "Documents not marked synced stay unsynced and go out on the next run."


class OutboundConfig(dg.Config):
    page_size: int = Field(default=500, ge=1, description="Documents per page: one find, one bulk_write of marks")
    dry_run: bool = Field(default=False, description="Translate and report, but write no file and mark nothing")


@dg.op(ins={"after": dg.In(dg.Nothing, description="Runs after inbound when part of sync_job")}, tags={"kind": "mongodb"})
def export_unsynced(
    context: dg.OpExecutionContext, config: OutboundConfig, mongo: MongoResource, client_folder: ClientFolder
) -> dict:
    """Read unsynced documents a page at a time; write each page's client files, then mark
    those documents synced, each only if unchanged since it was read."""
    client_folder, mongo = scoped(context, client_folder, mongo)
    counts = {"exported": 0, "marked_synced": 0, "changed_meanwhile": 0}
    to_export = pages = 0
    skipped: list[Skipped] = []  # the first MAX_TABLE_ROWS, for the table and the log
    skipped_total = 0
    with clear_failure(STAYS_UNSYNCED), tracos_failure(STAYS_UNSYNCED):
        if not config.dry_run:
            client_folder.require("outbound")  # before reading anything: a missing folder fails at once
        repository = mongo.repository()
        if not config.dry_run:  # the outbound index its pages walk, and the one on number its duplicate check uses
            for warning in repository.ensure_indexes().warnings:
                context.log.warning(warning)
        for documents in repository.iter_unsynced(config.page_size):
            # Every document with the page's numbers, synced or not: only the latest goes out. Asked
            # even with a unique index on number: one indexed query a page, and no index, store or
            # number type (7, an int64 7, 7.0) can let an older duplicate into a file.
            same_number = repository.find_same_numbers(documents)
            page, page_skipped = translate_page(documents, same_number, client_folder.format.file_name)
            page_skipped += _blocked(client_folder, page) if not config.dry_run else []
            files, unwritable = _render(client_folder, page)
            page_skipped += unwritable
            skipped_total += len(page_skipped)
            skipped.extend(page_skipped[: max(0, MAX_TABLE_ROWS - len(skipped))])
            to_export += len(page.exports)
            pages += 1
            if config.dry_run or not page.exports:
                continue
            exports = [export for export in page.exports if export.blocked is None]
            client_folder.write_files("outbound", files)
            marked = repository.mark_synced([export.mark_condition for export in exports], to_utc_millis(datetime.now(UTC)))
            counts["exported"] += len(exports)
            counts["marked_synced"] += marked
            counts["changed_meanwhile"] += len(exports) - marked
    for item in skipped[:20]:
        context.log.warning(f"skipped TracOS document {item.document_id} (number {item.number}): {item.reason}")
    if counts["changed_meanwhile"]:
        context.log.info(f"{counts['changed_meanwhile']} document(s) changed after being read; they stay unsynced for the next run")
    summary = {**counts, "skipped": skipped_total}
    tag_run(context, SKIPPED_TAG, skipped_total)
    tag_result(context, "skipped", skipped_total)
    window = client_folder.settings().freshness_window_seconds
    with tracos_failure("The exported files are written and marked; only the backlog figures are missing."):
        backlog = mongo.repository().count_unsynced(limit=BACKLOG_COUNT_LIMIT)
        overdue = overdue_unsynced(mongo, window)
    if not config.dry_run:
        partition = partition_of(context)
        context.log_event(dg.AssetMaterialization(CLIENT_OUTBOUND, description="outbound run", metadata=summary,
                                                  partition=partition))
        context.log_event(dg.AssetObservation(TRACOS_WORK_ORDERS, description="unsynced after the outbound run",
                                              metadata={"backlog": backlog}, partition=partition))
        context.log_event(outbound_freshness_check(overdue, window, partition))
        context.log_event(daily_totals(context.instance, partition, run_id=context.run_id, outbound=summary))
    context.log.info("outbound: " + ", ".join(f"{name} {value}" for name, value in summary.items()))
    context.add_output_metadata({
        "summary": dg.MetadataValue.md(_summary(summary, backlog, config.dry_run, to_export)),
        **summary,
        "backlog": backlog,
        "to_export": to_export,
        "pages": pages,
        "dry_run": config.dry_run,
        "tracos": mongo.display_name,
        "skipped_documents": table(
            [("number", "int"), ("document_id", "string"), ("reason", "string")],
            ({"number": int(s.number) if isinstance(s.number, int) and not isinstance(s.number, bool) else None,
              "document_id": s.document_id, "reason": s.reason}
             for s in skipped),
        ),
    })
    return summary


def _blocked(client_folder: ClientFolder, page: ExportPage) -> list[Skipped]:
    """Exports whose file name something else holds (a folder named `3.json`): skipped with
    the reason; their documents stay unsynced, the others go out."""
    blocked = client_folder.blocked("outbound", [export.file_name for export in page.exports])
    skipped = []
    for index, export in enumerate(page.exports):
        if export.file_name in blocked:
            page.exports[index] = export = replace(export, blocked=blocked[export.file_name])
            skipped.append(Skipped(export.record["orderNo"], str(export.mark_condition["_id"]), export.blocked))
    return skipped


def _render(client_folder: ClientFolder, page: ExportPage) -> tuple[list[tuple[str, bytes]], list[Skipped]]:
    """Each export's file in the customer's format. One the format cannot write (a CSV local
    time outside years 1-9999 in the customer's zone) is skipped with the reason; its document
    stays unsynced and the others go out (CONTRACT 6.4)."""
    files, skipped = [], []
    timezone = client_folder.settings().client_timezone  # a bad setting fails the step, never a skip
    for index, export in enumerate(page.exports):
        if export.blocked is not None:
            continue
        try:
            files.append(client_folder.export_file(export.record, timezone))
        except ValueError as error:
            page.exports[index] = export = replace(export, blocked=str(error))
            skipped.append(Skipped(export.record["orderNo"], str(export.mark_condition["_id"]), export.blocked))
    return files, skipped


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
