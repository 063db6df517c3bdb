"""inbound_file_sensor and outbound_pending_sensor (CONTRACT section 7).

A skip means only "nothing to do" (or "a run is already on it"); a sensor that cannot
work (its folder missing, a setting invalid, TracOS unreachable) fails its tick, so the
Automation page shows it in red. With a customers file, each tick looks at every
customer and requests one run per customer with work (partition key = the customer)."""

import json
from typing import Optional

import dagster as dg

from tracos_integration.assets import inbound_freshness_check
from tracos_integration.client.folder import ClientFolder
from tracos_integration.customers import customers_from_env
from tracos_integration.health import BACKLOG_COUNT_LIMIT, backlog_text, backoff_skip
from tracos_integration.jobs import INBOUND_TAG, OUTBOUND_TAG
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
# Per customer, for the run queue's per-value limits (dagster.yaml): one inbound and one
# outbound run per customer at a time, customers side by side.
INBOUND_CUSTOMER_TAG = "tracos/inbound_customer"
OUTBOUND_CUSTOMER_TAG = "tracos/outbound_customer"
PARTITION_TAG = "dagster/partition"
# Files a finished run left in place (still being written, unreadable, or the run failed)
# get this many more runs; then the sensor says so and waits for the folder to change.
MAX_RUNS_PER_FILES = 5


def run_in_flight(instance: dg.DagsterInstance, tag: str, customer: Optional[str] = None) -> Optional[dg.RunRecord]:
    """A queued or running run carrying `tag` (for `customer`, if given), if any."""
    tags = {tag: "true", **({PARTITION_TAG: customer} if customer else {})}
    records = instance.get_run_records(filters=dg.RunsFilter(tags=tags, statuses=IN_FLIGHT), limit=1)
    return records[0] if records else None


def skip_while_busy(record: dg.RunRecord) -> str:
    run = record.dagster_run
    return f"{run.job_name} run {run.run_id[:8]} is {run.status.value.lower()}; waiting for it to finish"


def _slugs(customers: dict) -> list[Optional[str]]:
    """The customers of the customers file, or [None]: the one customer of the environment."""
    return list(customers) or [None]


def _label(customer: Optional[str], text: str) -> str:
    return f"{customer}: {text}" if customer else text


@dg.sensor(
    job_name="inbound_job",
    minimum_interval_seconds=load_time_settings().sync_interval_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Launches inbound_job when settled files wait in the inbound folder (per customer); never two at once.",
)
def inbound_file_sensor(context: dg.SensorEvaluationContext, client_folder: ClientFolder):
    customers = customers_from_env() or {}
    reported = json.loads(context.cursor) if context.cursor else {}  # the freshness outcome last reported
    requests, skips, events = [], [], []
    for slug in _slugs(customers):
        folder = client_folder.for_customer(customers[slug]) if slug else client_folder
        scan = folder.scan()  # a missing folder or a bad setting raises: the tick fails
        freshness = inbound_freshness_check(scan.oldest_wait_seconds(), folder.settings().freshness_window_seconds, slug)
        outcome = "passed" if freshness.passed else "failed"
        if reported.get(slug or "") != outcome:  # transitions only, not one entry a minute
            reported[slug or ""] = outcome
            events.append(freshness)
        request, skip = _inbound_request(context.instance, slug, folder, scan)
        requests += [request] if request else []
        skips += [skip] if skip else []
    context.update_cursor(json.dumps(reported, sort_keys=True))
    if requests:
        return dg.SensorResult(run_requests=requests, asset_events=events)
    return dg.SensorResult(skip_reason="; ".join(skips), asset_events=events)


def _inbound_request(instance: dg.DagsterInstance, customer: Optional[str], folder: ClientFolder, scan):
    busy = run_in_flight(instance, INBOUND_TAG, customer)
    if busy:
        return None, _label(customer, skip_while_busy(busy))
    backoff = backoff_skip(instance, INBOUND_TAG, customer)
    if backoff:
        return None, _label(customer, backoff)
    if not scan.ready:
        still = f" ({scan.changing} still settling)" if scan.changing else ""
        return None, _label(customer, f"no settled *{folder.format.suffix} files in {folder.inbound_path}{still}")
    fingerprint = scan.fingerprint
    finished = instance.get_run_records(
        filters=dg.RunsFilter(tags={FILES_TAG: fingerprint}, statuses=FINISHED), limit=MAX_RUNS_PER_FILES
    )
    if len(finished) >= MAX_RUNS_PER_FILES:
        return None, _label(customer, (
            f"{len(scan.ready)} file(s) in {folder.inbound_path} are still there after {len(finished)} inbound runs; "
            "see the last run's warnings (unreadable? failing?). The next change in the folder starts a new run."
        ))
    # One key per set of files and attempt: the same files never launch two runs at once, and
    # files a finished run left behind are tried again (a new attempt), a bounded number of times.
    tags = {FILES_TAG: fingerprint, "tracos/inbound_file_count": str(len(scan.ready))}
    if customer:
        tags[INBOUND_CUSTOMER_TAG] = customer
    prefix = f"{customer}-" if customer else ""
    return dg.RunRequest(run_key=f"inbound-{prefix}{fingerprint}-{len(finished)}", partition_key=customer, tags=tags), None


@dg.sensor(
    job_name="outbound_job",
    minimum_interval_seconds=load_time_settings().sync_interval_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Launches outbound_job when TracOS holds unsynced work orders (per customer; a bounded count per tick).",
)
def outbound_pending_sensor(context: dg.SensorEvaluationContext, mongo: MongoResource):
    requests, skips = outbound_requests(context.instance, mongo)
    return requests or dg.SkipReason("; ".join(skips))


def outbound_requests(instance: dg.DagsterInstance, mongo: MongoResource) -> tuple[list[dg.RunRequest], list[str]]:
    """A run per customer for whom something waits to be exported that its last run did not
    already skip; and why the others get none."""
    customers = customers_from_env() or {}
    requests, skips = [], []
    for slug in _slugs(customers):
        scoped = mongo.for_customer(customers[slug]) if slug else mongo
        request, skip = _outbound_request(instance, scoped, slug)
        requests += [request] if request else []
        skips += [skip] if skip else []
    return requests, skips


def _outbound_request(instance: dg.DagsterInstance, mongo: MongoResource, customer: Optional[str]):
    busy = run_in_flight(instance, OUTBOUND_TAG, customer)
    if busy:
        return None, _label(customer, skip_while_busy(busy))
    backoff = backoff_skip(instance, OUTBOUND_TAG, customer)
    if backoff:
        return None, _label(customer, backoff)
    last_run, skipped = _skipped_by_last_outbound_run(instance, customer)
    repository = WorkOrderRepository(
        mongo.get_collection(), Retrier(budget_seconds=SENSOR_RETRY_BUDGET_SECONDS, server=mongo.display_name)
    )
    # Counting stops past a bound: exact for the launch tag, cheap on a big backlog.
    pending = repository.count_unsynced(limit=max(skipped, BACKLOG_COUNT_LIMIT) + 1)  # unreachable: the tick fails
    if not pending:
        return None, _label(customer, f"no unsynced work orders in {mongo.display_name}")
    if last_run and pending <= skipped:
        return None, _label(customer, (
            f"{pending} unsynced work order(s) in TracOS, and the last outbound run ({last_run[:8]}) skipped "
            f"{skipped} it could not translate or write (see its skipped_documents); waiting for TracOS to change"
        ))
    tags = {"tracos/unsynced_at_launch": backlog_text(pending), **({OUTBOUND_CUSTOMER_TAG: customer} if customer else {})}
    return dg.RunRequest(partition_key=customer, tags=tags), None


def _skipped_by_last_outbound_run(instance: dg.DagsterInstance, customer: Optional[str]) -> tuple[Optional[str], int]:
    """How many documents the latest successful outbound run could not export (its
    `tracos/skipped` tag): while only those remain unsynced, another run would skip them again."""
    tags = {OUTBOUND_TAG: "true", **({PARTITION_TAG: customer} if customer else {})}
    records = instance.get_run_records(
        filters=dg.RunsFilter(tags=tags, statuses=[dg.DagsterRunStatus.SUCCESS]), limit=1
    )
    if not records:
        return None, 0
    run = records[0].dagster_run
    return run.run_id, int(run.tags.get(SKIPPED_TAG, "0"))
