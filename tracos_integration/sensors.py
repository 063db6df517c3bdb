"""inbound_file_sensor and outbound_pending_sensor (CONTRACT section 7)."""

import json
import os
from pathlib import Path
from typing import Optional

import dagster as dg

from tracos_integration.automation_settings import sync_interval_seconds
from tracos_integration.client.io_manager import DEFAULT_INBOUND_DIR
from tracos_integration.client.readiness import scan_inbound_folder
from tracos_integration.jobs import INBOUND_CONCURRENCY_TAG, OUTBOUND_CONCURRENCY_TAG, inbound_job, outbound_job
from tracos_integration.tracos.queries import WorkOrderRepository
from tracos_integration.tracos.resource import MongoResource
from tracos_integration.tracos.retry import Retrier, TracosUnavailable

IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
SENSOR_RETRY_BUDGET_SECONDS = 5.0  # a sensor tick must stay short; the next tick tries again
BATCH_TAG = "tracos/inbound_batch"
# Files a finished run left in place (still being written, unreadable, or the run failed)
# get this many more runs; then the sensor says so and waits for the folder to change.
MAX_RUNS_PER_BATCH = 5
FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]


def run_in_flight(instance: dg.DagsterInstance, tag: str) -> Optional[dg.RunRecord]:
    """A queued or running run carrying `tag`, if any."""
    records = instance.get_run_records(filters=dg.RunsFilter(tags={tag: "true"}, statuses=IN_FLIGHT), limit=1)
    return records[0] if records else None


def skip_while_busy(record: dg.RunRecord) -> dg.SkipReason:
    run = record.dagster_run
    return dg.SkipReason(f"{run.job_name} run {run.run_id[:8]} is {run.status.value.lower()}; waiting for it to finish")


@dg.sensor(
    job=inbound_job,
    minimum_interval_seconds=sync_interval_seconds(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Launches inbound_job when settled *.json files wait in the inbound folder; never two at once.",
)
def inbound_file_sensor(context: dg.SensorEvaluationContext):
    busy = run_in_flight(context.instance, INBOUND_CONCURRENCY_TAG)
    if busy:
        return skip_while_busy(busy)
    folder = Path(os.environ.get("DATA_INBOUND_DIR") or DEFAULT_INBOUND_DIR)
    if not folder.is_dir():
        return dg.SkipReason(f"the inbound folder {folder} does not exist; create it or set DATA_INBOUND_DIR")
    scan = scan_inbound_folder(folder)
    if not scan.ready:
        still = f" ({scan.changing} still being written)" if scan.changing else ""
        return dg.SkipReason(f"no settled *.json files in {folder}{still}")
    batch = scan.batch_id
    finished = context.instance.get_run_records(
        filters=dg.RunsFilter(tags={BATCH_TAG: batch}, statuses=FINISHED), limit=MAX_RUNS_PER_BATCH
    )
    if len(finished) >= MAX_RUNS_PER_BATCH:
        return dg.SkipReason(
            f"{len(scan.ready)} file(s) in {folder} are still there after {len(finished)} inbound runs; "
            "see the last run's warnings (unreadable? failing?). The next change in the folder starts a new run."
        )
    # One key per batch and attempt: the same files never launch two runs at once, and
    # files a finished run left behind are tried again (a new attempt), a bounded number of times.
    run_key = f"inbound-{batch}-{len(finished)}"
    context.update_cursor(json.dumps({"last_run_key": run_key, "files": len(scan.ready)}))
    return dg.RunRequest(run_key=run_key, tags={BATCH_TAG: batch, "tracos/inbound_files": str(len(scan.ready))})


@dg.sensor(
    job=outbound_job,
    minimum_interval_seconds=sync_interval_seconds(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Launches outbound_job when TracOS holds unsynced work orders (one count query per tick).",
)
def outbound_pending_sensor(context: dg.SensorEvaluationContext, mongo: MongoResource):
    busy = run_in_flight(context.instance, OUTBOUND_CONCURRENCY_TAG)
    if busy:
        return skip_while_busy(busy)
    repository = WorkOrderRepository(
        mongo.get_collection(), Retrier(budget_seconds=SENSOR_RETRY_BUDGET_SECONDS, server=mongo.display_name)
    )
    last_run, skipped = _skipped_by_last_outbound_run(context)
    try:
        # Counting stops one past what the last run skipped: enough to decide, cheap on a big backlog.
        pending = repository.count_unsynced(limit=skipped + 1)
    except TracosUnavailable as error:
        return dg.SkipReason(str(error))
    if not pending:
        return dg.SkipReason(f"no unsynced work orders in {mongo.display_name}")
    if last_run and pending <= skipped:
        return dg.SkipReason(
            f"{pending} unsynced work order(s) in TracOS, and the last outbound run ({last_run[:8]}) skipped "
            f"{skipped} it could not translate or write (see its skipped_documents and skipped_files); "
            "waiting for TracOS to change"
        )
    return dg.RunRequest(tags={"tracos/unsynced_at_launch": str(pending)})


def _skipped_by_last_outbound_run(context: dg.SensorEvaluationContext) -> tuple[Optional[str], int]:
    """How many documents the latest successful outbound run could not translate: while
    only those remain unsynced, launching again would only skip them again. The answer is
    kept in the cursor, so each run's events are read once."""
    records = context.instance.get_run_records(
        filters=dg.RunsFilter(tags={OUTBOUND_CONCURRENCY_TAG: "true"}, statuses=[dg.DagsterRunStatus.SUCCESS]),
        limit=1,
    )
    if not records:
        return None, 0
    run_id = records[0].dagster_run.run_id
    cursor = json.loads(context.cursor) if context.cursor else {}
    if cursor.get("run") == run_id:
        return run_id, cursor["skipped"]
    skipped = 0
    for entry in context.instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_OUTPUT):
        event = entry.dagster_event
        output = event.event_specific_data.step_output_handle.output_name
        if event.step_key == "collect_unsynced" and output == "skipped":
            skipped += int(event.event_specific_data.metadata["skipped"].value)
        elif event.step_key.startswith("write_outbound_files") and output == "mark_conditions":
            # documents whose file name a folder holds: they stay unsynced until it is moved
            skipped += int(event.event_specific_data.metadata.get("skipped", dg.IntMetadataValue(0)).value)
    context.update_cursor(json.dumps({"run": run_id, "skipped": skipped}))
    return run_id, skipped
