"""The jobs (CONTRACT section 1). Steps share TracOS state, so they run in one process
(in_process_executor): required for mongomock:// and cheap for a handful of steps."""


import dagster as dg

from tracos_integration.ops.inbound import apply_inbound_chunk, plan_inbound_chunks, settle_inbound_files
from tracos_integration.ops.outbound import collect_unsynced, mark_synced, summarize_outbound, write_outbound_files
from tracos_integration.ops.samples import write_samples

INBOUND_CONCURRENCY_TAG = "tracos/inbound"
OUTBOUND_CONCURRENCY_TAG = "tracos/outbound"


def _inbound():
    chunks, listing = plan_inbound_chunks()
    return settle_inbound_files(listing, chunks.map(apply_inbound_chunk).collect())


def _write_and_mark(batch):
    _files, conditions = write_outbound_files(batch)
    return mark_synced(conditions)


def _outbound(after=None):
    batches, skipped = collect_unsynced(after) if after is not None else collect_unsynced()
    return summarize_outbound(skipped, batches.map(_write_and_mark).collect())


@dg.job(
    executor_def=dg.in_process_executor,
    tags={INBOUND_CONCURRENCY_TAG: "true"},
    description="Client files in the inbound folder -> TracOS.",
)
def inbound_job():
    _inbound()


@dg.job(
    executor_def=dg.in_process_executor,
    tags={OUTBOUND_CONCURRENCY_TAG: "true"},
    description="Unsynced TracOS work orders -> files in the outbound folder, then marked synced.",
)
def outbound_job():
    _outbound()


@dg.job(
    executor_def=dg.in_process_executor,
    tags={INBOUND_CONCURRENCY_TAG: "true", OUTBOUND_CONCURRENCY_TAG: "true"},
    description="Inbound, then outbound, in one run.",
)
def sync_job():
    _outbound(after=_inbound())


@dg.job(executor_def=dg.in_process_executor, description="Writes sample work orders to both sides.")
def samples_job():
    write_samples()
