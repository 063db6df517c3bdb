"""The jobs (CONTRACT section 1): one straight path per direction. Steps share TracOS
state, so they run in one process (in_process_executor): required for mongomock:// and
cheap for a handful of steps.

With a customers file (TRACOS_CUSTOMERS_FILE) the same jobs are partitioned by customer:
a run's partition key is the customer's slug, and its config holds that customer's folders,
format, time zone and collection (scope.py)."""

from typing import Mapping, Optional

import dagster as dg

from tracos_integration.ops.inbound import apply_inbound_files, archive_inbound_files
from tracos_integration.ops.outbound import export_unsynced
from tracos_integration.customers import Customer
from tracos_integration.ops.samples import write_samples
from tracos_integration.scope import customer_run_config
from tracos_integration.tags import INBOUND_TAG, OUTBOUND_TAG

# INBOUND_TAG, OUTBOUND_TAG (tags.py): which side a run works on; the sensors and the lease read them.


def build_jobs(partitions_def: Optional[dg.PartitionsDefinition] = None,
               customers: Optional[Mapping[str, Customer]] = None) -> list[dg.JobDefinition]:
    """inbound_job, outbound_job, sync_job, samples_job; partitioned by `partitions_def` if
    given, each partition's run config holding its customer's entry (the launchpad shows it)."""
    partitioned: dict = {"partitions_def": partitions_def}
    if partitions_def is not None and customers:
        partitioned = {"config": dg.PartitionedConfig(
            partitions_def=partitions_def,
            run_config_for_partition_key_fn=lambda slug: customer_run_config(customers[slug]),
        )}

    @dg.job(executor_def=dg.in_process_executor, tags={INBOUND_TAG: "true"}, **partitioned,
            description="Client files in the inbound folder -> TracOS, then archived.")
    def inbound_job():
        archive_inbound_files(apply_inbound_files())

    @dg.job(executor_def=dg.in_process_executor, tags={OUTBOUND_TAG: "true"}, **partitioned,
            description="Unsynced TracOS work orders -> files in the outbound folder, then marked synced.")
    def outbound_job():
        export_unsynced()

    @dg.job(executor_def=dg.in_process_executor, tags={INBOUND_TAG: "true", OUTBOUND_TAG: "true"},
            **partitioned, description="Inbound, then outbound, in one run.")
    def sync_job():
        export_unsynced(archive_inbound_files(apply_inbound_files()))

    @dg.job(executor_def=dg.in_process_executor, **partitioned,
            description="Writes sample work orders to both sides.")
    def samples_job():
        write_samples()

    return [inbound_job, outbound_job, sync_job, samples_job]

