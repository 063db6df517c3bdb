"""outbound: TracOS -> client files, then mark synced."""


from datetime import datetime
from typing import Any

import dagster as dg
from pydantic import Field

from tracos_integration.client.batches import ClientFiles
from tracos_integration.core.timestamps import UTC, to_utc_millis
from tracos_integration.ops.metadata import table
from tracos_integration.sync.outbound import ExportBatch, outbound_file_name, translate_batch
from tracos_integration.tracos.queries import WritesNotConfirmed
from tracos_integration.tracos.resource import MongoResource
from tracos_integration.tracos.retry import TracosUnavailable


class OutboundConfig(dg.Config):
    batch_size: int = Field(default=500, ge=1, description="Documents per cursor batch and per mark bulk_write")
    dry_run: bool = Field(default=False, description="Translate and report, but write no file and mark nothing")


@dg.op(
    ins={"after": dg.In(dg.Nothing, description="Runs after inbound when part of sync_job")},
    out={
        "batches": dg.DynamicOut(ExportBatch, description="One batch of translated documents per chunk"),
        "skipped": dg.Out(int, description="Documents that could not be translated"),
    },
    tags={"kind": "mongodb"},
)
def collect_unsynced(context: dg.OpExecutionContext, config: OutboundConfig, mongo: MongoResource):
    """Stream every unsynced document in batches and translate it to the client format."""
    exported, skipped = 0, []
    repository = mongo.repository()
    try:
        if not config.dry_run:
            for warning in repository.ensure_outbound_index().warnings:
                context.log.warning(warning)
        # Without a unique index on number, TracOS may hold duplicates: look them up per page.
        may_hold_duplicates = not repository.has_unique_numbers()
        duplicated_numbers_done: set = set()
        for index, documents in enumerate(repository.iter_unsynced(config.batch_size)):
            same_number = None
            if may_hold_duplicates:
                same_number = repository.find_unsynced_by_numbers(
                    sorted({d["number"] for d in documents if isinstance(d.get("number"), int)})
                )
            batch, batch_skipped = translate_batch(documents, same_number, duplicated_numbers_done)
            skipped.extend(batch_skipped)
            exported += len(batch.mark_conditions)
            if batch.files and not config.dry_run:
                yield dg.DynamicOutput(batch, mapping_key=f"batch_{index}", output_name="batches")
    except TracosUnavailable as error:
        raise dg.Failure(description=f"{error}. No document was marked synced.") from None
    for item in skipped[:20]:
        context.log.warning(f"skipped TracOS document {item.document_id} (number {item.number}): {item.reason}")
    context.log.info(f"outbound: {exported} to export, {len(skipped)} skipped")
    yield dg.Output(
        len(skipped),
        output_name="skipped",
        metadata={
            "to_export": exported,
            "skipped": len(skipped),
            "dry_run": config.dry_run,
            "tracos": mongo.display_name,
            "skipped_documents": table(
                [("number", "int"), ("document_id", "string"), ("reason", "string")],
                ({"number": s.number if isinstance(s.number, int) else None, "document_id": s.document_id,
                  "reason": s.reason} for s in skipped),
            ),
        },
    )


@dg.op(
    out={
        "files": dg.Out(ClientFiles, io_manager_key="client_folder", description="Written atomically to the outbound folder"),
        "mark_conditions": dg.Out(list, description="Marks for the documents now on disk"),
    },
    required_resource_keys={"client_folder"},
)
def write_outbound_files(context: dg.OpExecutionContext, batch: ExportBatch):
    """Hand one batch to the client folder; its documents are marked only after this step.
    A document whose file name is held by something a file cannot replace (a folder named
    `3.json`) is left out with the reason: it stays unsynced, and the others go out."""
    blocked = context.resources.client_folder.blocked_outbound_names(batch.files)
    for name, reason in blocked.items():
        context.log.warning(f"skipped {name}: {reason}; its document stays unsynced and goes out once the name is free")
    files = {name: record for name, record in batch.files.items() if name not in blocked}
    conditions = [
        condition for condition in batch.mark_conditions
        if outbound_file_name(condition["number"]["$eq"]) not in blocked  # see unchanged_since_read
    ]
    yield dg.Output(ClientFiles(folder="outbound", documents=files), output_name="files")
    yield dg.Output(conditions, output_name="mark_conditions", metadata={
        "documents": len(conditions),
        "skipped": len(blocked),
        "skipped_files": dg.MetadataValue.json(blocked),
    })


@dg.op(tags={"kind": "mongodb"})
def mark_synced(context: dg.OpExecutionContext, mongo: MongoResource, mark_conditions: list) -> dict[str, int]:
    """Mark written documents synced, each only if unchanged since it was read."""
    try:
        marked = mongo.repository().mark_synced(mark_conditions, to_utc_millis(datetime.now(UTC)))
    except (TracosUnavailable, WritesNotConfirmed) as error:
        raise dg.Failure(description=f"{error}. These documents stay unsynced and go out next run.") from None
    changed = len(mark_conditions) - marked
    if changed:
        context.log.info(f"{changed} document(s) changed after being read; they stay unsynced for the next run")
    counts = {"exported": len(mark_conditions), "marked_synced": marked, "changed_meanwhile": changed}
    context.add_output_metadata(counts)
    return counts


@dg.op
def summarize_outbound(context: dg.OpExecutionContext, skipped: int, results: list[dict[str, Any]]) -> dict[str, int]:
    """Totals for the whole outbound run."""
    totals = {
        "exported": sum(r["exported"] for r in results),
        "marked_synced": sum(r["marked_synced"] for r in results),
        "changed_meanwhile": sum(r["changed_meanwhile"] for r in results),
        "skipped": skipped,
    }
    context.log.info("outbound: " + ", ".join(f"{name} {value}" for name, value in totals.items()))
    context.add_output_metadata(totals)
    return totals
