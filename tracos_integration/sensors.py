"""inbound_file_sensor and outbound_pending_sensor (CONTRACT section 7).

A skip means only "nothing to do" (or "a run is already on it"); a sensor that cannot
work (its folder missing, a setting invalid, TracOS unreachable) fails its tick, so the
Automation page shows it in red."""

import time
from typing import Optional

import dagster as dg

from tracos_integration.assets import inbound_freshness_check
from tracos_integration.client.folder import ClientFolder
from tracos_integration.jobs import INBOUND_TAG, OUTBOUND_TAG, inbound_job, outbound_job
from tracos_integration.ops.metadata import SKIPPED_TAG
from tracos_integration.settings import load_time_settings
from tracos_integration.tracos.queries import WorkOrderRepository
from tracos_integration.tracos.resource import MongoResource
from tracos_integration.tracos.retry import Retrier

IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]
SENSOR_RETRY_BUDGET_SECONDS = 5.0  # a tick must stay short; the next tick tries again
FILES_TAG = "tracos/inbound_files"  # the fingerprint of the settled files a run was launched for
# Files a finished run left in place (still being written, unreadable, or the run failed)
# get this many more runs; then the sensor says so and waits for the folder to change.
MAX_RUNS_PER_FILES = 5


def run_in_flight(instance: dg.DagsterInstance, tag: str) -> Optional[dg.RunRecord]:
    """A queued or running run carrying `tag`, if any."""
    records = instance.get_run_records(filters=dg.RunsFilter(tags={tag: "true"}, statuses=IN_FLIGHT), limit=1)
    return records[0] if records else None


def skip_while_busy(record: dg.RunRecord) -> dg.SkipReason:
    run = record.dagster_run
    return dg.SkipReason(f"{run.job_name} run {run.run_id[:8]} is {run.status.value.lower()}; waiting for it to finish")


@dg.sensor(
    job=inbound_job,
    minimum_interval_seconds=load_time_settings().sync_interval_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Launches inbound_job when settled *.json files wait in the inbound folder; never two at once.",
)
def inbound_file_sensor(context: dg.SensorEvaluationContext, client_folder: ClientFolder):
    scan = client_folder.scan()  # a missing folder or a bad setting raises: the tick fails
    freshness = _report_on_change(context, inbound_freshness_check(
        None if scan.oldest_mtime_ns is None else time.time() - scan.oldest_mtime_ns / 1e9,
        client_folder.settings().freshness_window_seconds,
    ))
    busy = run_in_flight(context.instance, INBOUND_TAG)
    if busy:
        return dg.SensorResult(skip_reason=skip_while_busy(busy), asset_events=freshness)
    folder = client_folder.inbound_path
    if not scan.ready:
        still = f" ({scan.changing} still settling)" if scan.changing else ""
        return dg.SensorResult(skip_reason=f"no settled *.json files in {folder}{still}", asset_events=freshness)
    fingerprint = scan.fingerprint
    finished = context.instance.get_run_records(
        filters=dg.RunsFilter(tags={FILES_TAG: fingerprint}, statuses=FINISHED), limit=MAX_RUNS_PER_FILES
    )
    if len(finished) >= MAX_RUNS_PER_FILES:
        return dg.SensorResult(asset_events=freshness, skip_reason=(
            f"{len(scan.ready)} file(s) in {folder} are still there after {len(finished)} inbound runs; "
            "see the last run's warnings (unreadable? failing?). The next change in the folder starts a new run."
        ))
    # One key per set of files and attempt: the same files never launch two runs at once, and
    # files a finished run left behind are tried again (a new attempt), a bounded number of times.
    return dg.SensorResult(asset_events=freshness, run_requests=[dg.RunRequest(
        run_key=f"inbound-{fingerprint}-{len(finished)}",
        tags={FILES_TAG: fingerprint, "tracos/inbound_file_count": str(len(scan.ready))},
    )])


def _report_on_change(context: dg.SensorEvaluationContext, evaluation: dg.AssetCheckEvaluation) -> list:
    """The freshness check's evaluation, only when its outcome changed (the cursor keeps the
    last one), so the asset's check history shows transitions, not one entry a minute."""
    outcome = "passed" if evaluation.passed else "failed"
    if context.cursor == outcome:
        return []
    context.update_cursor(outcome)
    return [evaluation]


@dg.sensor(
    job=outbound_job,
    minimum_interval_seconds=load_time_settings().sync_interval_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Launches outbound_job when TracOS holds unsynced work orders (one bounded count per tick).",
)
def outbound_pending_sensor(context: dg.SensorEvaluationContext, mongo: MongoResource):
    return outbound_request(context.instance, mongo)


def outbound_request(instance: dg.DagsterInstance, mongo: MongoResource) -> dg.RunRequest | dg.SkipReason:
    """A run when something waits to be exported that the last run did not already skip."""
    busy = run_in_flight(instance, OUTBOUND_TAG)
    if busy:
        return skip_while_busy(busy)
    last_run, skipped = _skipped_by_last_outbound_run(instance)
    repository = WorkOrderRepository(
        mongo.get_collection(), Retrier(budget_seconds=SENSOR_RETRY_BUDGET_SECONDS, server=mongo.display_name)
    )
    # Counting stops one past what the last run skipped: enough to decide, cheap on a big backlog.
    pending = repository.count_unsynced(limit=skipped + 1)  # unreachable after retries: the tick fails
    if not pending:
        return dg.SkipReason(f"no unsynced work orders in {mongo.display_name}")
    if last_run and pending <= skipped:
        return dg.SkipReason(
            f"{pending} unsynced work order(s) in TracOS, and the last outbound run ({last_run[:8]}) skipped "
            f"{skipped} it could not translate or write (see its skipped_documents); waiting for TracOS to change"
        )
    return dg.RunRequest(tags={"tracos/unsynced_at_launch": str(pending)})


def _skipped_by_last_outbound_run(instance: dg.DagsterInstance) -> tuple[Optional[str], int]:
    """How many documents the latest successful outbound run could not export (its
    `tracos/skipped` tag): while only those remain unsynced, another run would skip them again."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(tags={OUTBOUND_TAG: "true"}, statuses=[dg.DagsterRunStatus.SUCCESS]), limit=1
    )
    if not records:
        return None, 0
    run = records[0].dagster_run
    return run.run_id, int(run.tags.get(SKIPPED_TAG, "0"))
