"""The jobs (CONTRACT section 1): one straight path per direction. Steps share TracOS
state, so they run in one process (in_process_executor): required for mongomock:// and
cheap for a handful of steps."""

import dagster as dg

from tracos_integration.ops.inbound import apply_inbound_files, archive_inbound_files
from tracos_integration.ops.outbound import export_unsynced
from tracos_integration.ops.samples import write_samples

# Labels: which side a run works on. The sensors look for in-flight runs by them, and the
# Runs page filters by them (sync_job carries both).
INBOUND_TAG = "tracos/inbound"
OUTBOUND_TAG = "tracos/outbound"


@dg.job(executor_def=dg.in_process_executor, tags={INBOUND_TAG: "true"},
        description="Client files in the inbound folder -> TracOS, then archived.")
def inbound_job():
    archive_inbound_files(apply_inbound_files())


@dg.job(executor_def=dg.in_process_executor, tags={OUTBOUND_TAG: "true"},
        description="Unsynced TracOS work orders -> files in the outbound folder, then marked synced.")
def outbound_job():
    export_unsynced()


@dg.job(executor_def=dg.in_process_executor, tags={INBOUND_TAG: "true", OUTBOUND_TAG: "true"},
        description="Inbound, then outbound, in one run.")
def sync_job():
    export_unsynced(archive_inbound_files(apply_inbound_files()))


@dg.job(executor_def=dg.in_process_executor, description="Writes sample work orders to both sides.")
def samples_job():
    write_samples()
