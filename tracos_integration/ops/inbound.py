"""inbound: client files -> TracOS, then archive the files.

apply_inbound_files reads the inbound folder a page at a time, validates, translates
and writes each page to TracOS, and returns a small report; archive_inbound_files moves
each read file to processed/ or failed/ (with its report)."""

from datetime import datetime

import dagster as dg
from pydantic import Field

from tracos_integration.assets import (
    CLIENT_INBOUND, TRACOS_WORK_ORDERS, files_left_check, left_reasons, rejected_records_check,
)
from tracos_integration.core.files import Archived
from tracos_integration.client.folder import ClientFolder, clear_failure
from tracos_integration.client.reading import shown_name
from tracos_integration.core.timestamps import UTC, to_utc_millis
from tracos_integration.ops.metadata import (
    REJECTED_TAG,
    failed_files_lines,
    failed_files_table,
    table,
    tag_counts,
)
from tracos_integration.ops.scope import partition_of, scoped
from tracos_integration.sync.inbound import COUNTS, InboundReport, apply_files
from tracos_integration.tags import FILES_LEFT_TAG
from tracos_integration.totals import daily_totals
from tracos_integration.tracos.resource import MongoResource, tracos_failure

NOT_MOVED = "No inbound file was moved."


class InboundConfig(dg.Config):
    page_size: int = Field(default=1000, ge=1, description="Files read per page")
    dry_run: bool = Field(default=False, description="Decide and report, but write nothing and move no file")


@dg.op(tags={"kind": "mongodb"})
def apply_inbound_files(
    context: dg.OpExecutionContext, config: InboundConfig, mongo: MongoResource, client_folder: ClientFolder
) -> dg.Output[InboundReport]:
    """Read, validate, decide and write: every ready file in the inbound folder, a page at a time."""
    client_folder, mongo = scoped(context, client_folder, mongo)
    with clear_failure(f"No inbound file was read. {NOT_MOVED}"), tracos_failure(NOT_MOVED):
        settings, folder = client_folder.settings(), client_folder.shown("inbound")
        run = apply_files(
            mongo.repository(), client_folder.side(), page_size=config.page_size, dry_run=config.dry_run,
            now=to_utc_millis(datetime.now(UTC)), client_timezone=settings.client_timezone,
            # None listed: the closing counts line names the folder instead (_log)
            on_listed=lambda count: context.log.info(f"{count} inbound file(s) to read in {folder}") if count else None,
        )
    _log(context, run.report, run.indexes.warnings, settings.inbound_settle_seconds, client_folder.format.name, folder)
    _record_applied(context, run.report)
    # The counts themselves are in archive_inbound_files' summary: each figure in one place.
    return dg.Output(run.report, metadata=_applied_metadata(run.report))


def _record_applied(context: dg.OpExecutionContext, report: InboundReport) -> None:
    """Tags, and (unless a dry run) the TracOS materialization, rejected-records check and (when it read
    something) today's totals."""
    counts = {name: report.counts[name] for name in COUNTS}
    tag_counts(context, REJECTED_TAG, "rejected", counts["rejected"])
    if not report.dry_run:
        partition = partition_of(context)
        context.log_event(dg.AssetMaterialization(TRACOS_WORK_ORDERS, description="inbound run", metadata=counts,
                                                  partition=partition))
        context.log_event(rejected_records_check(counts["rejected"], partition, run_id=context.run_id,
                                                 failed_files=failed_files_table(report.failed)))
        if counts["read"]:  # a run that read nothing leaves today's totals as they were: no repeated point
            context.log_event(daily_totals(context.instance, partition, run_id=context.run_id, inbound=counts))


def _applied_metadata(report: InboundReport) -> dict:
    return {
        "rejected_records": table(
            [("file", "string"), ("index", "int"), ("orderNo", "int"), ("reason", "string")],
            ({"file": shown_name(r.file), "index": r.index, "orderNo": r.order_no, "reason": r.reason}
             for r in report.rejections),
        ),
        "symlinks": dg.MetadataValue.json([shown_name(name) for name in report.symlinks[:200]]),
        "other_format_files": dg.MetadataValue.json([shown_name(name) for name in report.other_format[:200]]),
        "unreadable_files": dg.MetadataValue.json(
            {shown_name(name): reason for name, reason in list(report.unreadable.items())[:200]}
        ),
        "duplicate_numbers_in_tracos": dg.MetadataValue.json(report.duplicate_numbers[:200]),
    }


# Its counts are its output's metadata; no value to store (the IO manager writes nothing).
@dg.op(out=dg.Out(dg.Nothing))
def archive_inbound_files(context: dg.OpExecutionContext, client_folder: ClientFolder, report: InboundReport) -> None:
    """Move each read file to processed/ or failed/ (with `<name>.error.json`); a file that
    changed since it was read is left for the next run. Then the run's summary, in one place."""
    client_folder, = scoped(context, client_folder)
    archived = Archived()
    if not report.dry_run:
        with clear_failure(f"{NOT_MOVED} The next run reads them again and finds them applied."):
            archived = client_folder.side().archive(report.files, report.failed)
    _record_archived(context, client_folder, report, archived)


def _record_archived(context: dg.OpExecutionContext, client_folder: ClientFolder, report: InboundReport,
                     archived: Archived) -> None:
    """Logs, the inbound folder's observation and files-left check, and the run's summary."""
    not_moved = {shown_name(name): reason for name, reason in archived.not_moved.items()}
    for name, reason in not_moved.items():
        context.log.warning(f"inbound/{name} was not moved: {reason}")
    for where, reason in archived.not_durable.items():
        context.log.warning(f"the moves into {where} may not be on disk yet: its fsync failed ({reason}); a move "
                            "a crash undoes brings the file back to the inbound folder, where the next run finds it applied")
    unreported = {f"failed/{shown_name(name)}": reason for name, reason in archived.unreported.items()}
    for name, reason in unreported.items():
        context.log.warning(f"{name} was moved, but its error report could not be written ({reason})")
    left = {  # files left in the inbound folder for the next run, by why (assets.LEFT_REASONS)
        "files_left_being_written": len(report.being_written), "files_left_unreadable": len(report.unreadable),
        "files_left_not_moved": len(not_moved), "files_left_symlinks": len(report.symlinks),
        "files_left_other_format": len(report.other_format),
    }
    files = {
        "files_read": len(report.files), "files_processed": archived.processed, "files_failed": len(archived.failed),
        "files_left": sum(left.values()),
    }
    counts = {name: report.counts[name] for name in COUNTS}
    failed = {name: errors for name, errors in report.failed.items() if name not in archived.not_moved}
    if not report.dry_run:
        partition = partition_of(context)
        context.log_event(dg.AssetObservation(CLIENT_INBOUND, description="inbound run", partition=partition,
                                              metadata={**files, **counts, "failed_files": failed_files_table(failed)}))
        context.log_event(files_left_check(left, partition))
        if files["files_left"]:
            context.instance.add_run_tags(context.run_id, {FILES_LEFT_TAG: str(files["files_left"])})
    context.add_output_metadata({
        "summary": dg.MetadataValue.md(_summary(counts, files, left, report.dry_run, failed_files_lines(failed))),
        **counts,
        **files,
        **left,
        "dry_run": report.dry_run,
        "failed_files": dg.MetadataValue.json([f"failed/{shown_name(name)}" for name in archived.failed[:200]]),
        "not_moved_files": dg.MetadataValue.json(dict(list(not_moved.items())[:200])),
        "reports_not_written": dg.MetadataValue.json(dict(list(unreported.items())[:200])),
        "inbound_folder": dg.MetadataValue.path(client_folder.shown("inbound")),
    })


def _summary(counts: dict[str, int], files: dict[str, int], left: dict[str, int], dry_run: bool,
             failed_lines: list[str]) -> str:
    """Records read = inserted + updated + unchanged + stale + rejected; files read (plus
    files left unread) = processed + failed + left."""
    why_left = left_reasons(left) or "none"
    lines = [
        "**Dry run**: decided and reported, nothing written or moved." if dry_run else "",
        "| records | |", "| --- | ---: |",
        *(f"| {name} | {counts[name]} |" for name in COUNTS),
        "", "| files | |", "| --- | ---: |",
        f"| read | {files['files_read']} |", f"| processed/ | {files['files_processed']} |",
        f"| failed/ | {files['files_failed']} |", f"| left in place | {files['files_left']} ({why_left}) |",
        *(["", "**Failed files** (the reasons are in each `<name>.error.json`):", *failed_lines] if failed_lines else []),
    ]
    return "\n".join(line for line in lines if line is not None).strip()


def _log(context: dg.OpExecutionContext, report: InboundReport, warnings: list[str], settle_seconds: float,
         format_name: str, folder: str) -> None:
    for warning in warnings:
        context.log.warning(warning)
    for name in report.other_format[:20]:
        context.log.warning(
            f"inbound/{shown_name(name)} is not a {format_name} file, this customer's format: it was not read and "
            "was left in place; convert or rename it (suffixes are case-sensitive), or move it to the right "
            "customer's folder"
        )
    for name in report.symlinks:
        context.log.warning(f"inbound/{shown_name(name)} is a symbolic link; links are not read, so it was left in place")
    for name, reason in report.unreadable.items():
        context.log.warning(f"inbound/{shown_name(name)} could not be read ({reason}); left in place for the next run")
    if report.being_written:
        context.log.info(
            f"{len(report.being_written)} inbound file(s) do not parse yet and changed less than {settle_seconds:g}s "
            f"ago (still being written?); left for the next run: "
            f"{', '.join(shown_name(name) for name in report.being_written[:10])}"
        )
    for rejection in report.rejections[:20]:
        where = f"inbound/{shown_name(rejection.file)}" + ("" if rejection.index is None else f" record {rejection.index}")
        context.log.warning(f"rejected {where}: {rejection.reason}")
    if report.duplicate_numbers:
        context.log.warning(
            f"TracOS holds duplicate numbers {report.duplicate_numbers[:20]}; the unique index on number "
            "cannot be created until they are removed. Records with other numbers were applied."
        )
    # An empty folder gets this line only (one log event less per run of the schedule).
    listed = report.files or report.being_written or report.unreadable
    empty = "" if listed else f"no inbound file to read in {folder}; "
    context.log.info(f"inbound: {empty}" + ", ".join(f"{name} {report.counts[name]}" for name in COUNTS))
