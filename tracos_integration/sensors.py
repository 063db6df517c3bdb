"""inbound_file_sensor and outbound_pending_sensor (CONTRACT section 7).

A skip means only "nothing to do" (or "a run is already on it"); a sensor that cannot
work (its folder missing, a setting invalid, TracOS unreachable) fails its tick, so the
Automation page shows it in red. With a customers file, each tick looks at every
customer and requests one run per customer with work (partition key = the customer)."""

import json
from typing import Optional

import dagster as dg

from tracos_integration.assets import inbound_freshness_check, runless
from tracos_integration.client.folder import ClientFolder
from tracos_integration.health import BACKLOG_COUNT_LIMIT, backlog_text, backoff_skip
from tracos_integration.jobs import INBOUND_TAG, OUTBOUND_TAG
from tracos_integration.ops.metadata import SKIPPED_TAG
from tracos_integration.scope import PARTITION_TAG, Scope, TickScope, customer_run_config
from tracos_integration.settings import load_time_settings
from tracos_integration.tags import FILES_LEFT_TAG
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
# Files a finished run left in place (still being written, unreadable, or the run failed)
# get this many more runs; then the sensor says so and waits for the folder to change.
MAX_RUNS_PER_FILES = 5


class InFlight:
    """The queued and running runs carrying `tag`, read once per tick (one query, not one per
    customer: a tick over 200 customers made 500 queries), by customer."""

    def __init__(self, instance: dg.DagsterInstance, tag: str) -> None:
        self.by_customer: dict[Optional[str], dg.RunRecord] = {}
        for record in instance.get_run_records(filters=dg.RunsFilter(tags={tag: "true"}, statuses=IN_FLIGHT)):
            self.by_customer.setdefault(record.dagster_run.tags.get(PARTITION_TAG), record)
            self.by_customer.setdefault(None, record)  # without a customers file: any run of this kind

    def of(self, customer: Optional[str]) -> Optional[dg.RunRecord]:
        return self.by_customer.get(customer)


def skip_while_busy(record: dg.RunRecord) -> str:
    run = record.dagster_run
    return f"{run.job_name} run {run.run_id[:8]} is {run.status.value.lower()}; waiting for it to finish"


def served_customers(context: dg.SensorEvaluationContext | dg.ScheduleEvaluationContext,
                     job_name: str) -> tuple[list[Scope], list[str]]:
    """The scopes a tick serves, one per customer with its entry as the file has it now (one,
    of the environment, without a customers file), read once per tick; and a note for each
    customer added to or removed from the file since the definitions were loaded. Only the
    loaded partitions can have runs: a new customer waits for "Reload definitions", and
    never stops the others."""
    tick = TickScope.read()  # a broken file or setting fails the tick, naming it
    scopes = tick.scopes()
    if tick.customers is None:
        return scopes, []
    loaded = _loaded_partitions(context, job_name)
    if loaded is None:  # evaluated outside its definitions (a test): the file is all there is
        return scopes, []
    notes = [f"{slug}: added to the customers file since the definitions were loaded; reload the definitions "
             "to serve it" for slug in tick.customers if slug not in loaded]
    notes += [f"{slug}: removed from the customers file; no longer served (reload the definitions to drop it)"
              for slug in loaded if slug not in tick.customers]
    for note in notes:
        context.log.warning(note)
    return [scope for scope in scopes if scope.customer in loaded], notes


def _loaded_partitions(context: dg.SensorEvaluationContext | dg.ScheduleEvaluationContext,
                       job_name: str) -> Optional[list[str]]:
    try:
        repository = context.repository_def
    except dg.DagsterInvariantViolationError:  # a schedule context built without definitions
        repository = None
    if repository is None:
        return None
    partitions = repository.get_job(job_name).partitions_def
    return list(partitions.get_partition_keys()) if partitions is not None else []


def _label(customer: Optional[str], text: str) -> str:
    return f"{customer}: {text}" if customer else text


@dg.sensor(
    job_name="inbound_job",
    minimum_interval_seconds=load_time_settings().sync_interval_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Launches inbound_job when settled files wait in the inbound folder (per customer); never two at once.",
)
def inbound_file_sensor(context: dg.SensorEvaluationContext, client_folder: ClientFolder):
    served, notes = served_customers(context, "inbound_job")
    reported = json.loads(context.cursor) if context.cursor else {}  # the freshness outcome last reported
    requests, skips, events, failures = [], [], [], []
    in_flight = InFlight(context.instance, INBOUND_TAG)
    for scope in served:
        slug = scope.customer
        try:
            folder = client_folder.bind(scope)
            scan = folder.side().scan()  # a missing folder or a bad setting raises: the tick fails
        except Exception as error:
            if slug is None:
                raise
            failures.append((slug, error))  # one customer's broken folder never stops the others
            continue
        freshness = inbound_freshness_check(scan.oldest_wait_seconds(), scope.settings.freshness_window_seconds, slug)
        outcome = "passed" if freshness.passed else "failed"
        if reported.get(slug or "") != outcome:  # transitions only, not one entry a minute
            reported[slug or ""] = outcome
            events.append(freshness)
        request, skip = _inbound_request(context.instance, scope, folder, scan, in_flight.of(slug))
        requests += [request] if request else []
        skips += [skip] if skip else []
    context.update_cursor(json.dumps(reported, sort_keys=True))
    fail_unless_served(context, failures, requests)
    log_other_reasons(context, requests, skips)  # the notes are logged already, as warnings
    if requests:
        return dg.SensorResult(run_requests=requests, asset_events=runless(events))
    return dg.SensorResult(skip_reason="; ".join(skips + notes), asset_events=runless(events))


def _inbound_request(instance: dg.DagsterInstance, scope: Scope, folder: ClientFolder, scan,
                     busy: Optional[dg.RunRecord]):
    customer = scope.customer
    if busy:
        return None, _label(customer, skip_while_busy(busy))
    backoff = backoff_skip(instance, INBOUND_TAG, customer)
    if backoff:
        return None, _label(customer, backoff)
    if not scan.ready:
        still = f" ({scan.being_written} still being written)" if scan.being_written else ""
        others = scan.other_format_note(folder.format)
        return None, _label(customer, f"no settled *{folder.format.suffix} files in {folder.shown('inbound')}{still}{others}")
    fingerprint = scan.fingerprint
    # This customer's runs only: another customer's byte-identical files are not these.
    files_tags = {FILES_TAG: fingerprint, **({INBOUND_CUSTOMER_TAG: customer} if customer else {})}
    finished = instance.get_run_records(  # newest first
        filters=dg.RunsFilter(tags=files_tags, statuses=FINISHED), limit=MAX_RUNS_PER_FILES
    )
    if len(finished) >= MAX_RUNS_PER_FILES and all(map(_left_its_files, finished)):
        return None, _label(customer, (
            f"{len(scan.ready)} file(s) in {folder.shown('inbound')} are still there after {len(finished)} inbound runs; "
            "see the last run's warnings (unreadable? failing?). The next change in the folder starts a new run."
        ))
    # One key per set of files and attempt (the last finished run for them): the same files never
    # launch two runs at once, and files a finished run left behind are tried again, a bounded
    # number of times in a row.
    tags = {**files_tags, "tracos/inbound_file_count": str(len(scan.ready))}
    prefix = f"{customer}-" if customer else ""
    attempt = finished[0].dagster_run.run_id[:8] if finished else "0"
    return dg.RunRequest(run_key=f"inbound-{prefix}{fingerprint}-{attempt}", partition_key=customer, tags=tags,
                         run_config=_run_config(scope)), None


def _left_its_files(record: dg.RunRecord) -> bool:
    """A run that failed, or left files in the folder; not one that archived them all."""
    run = record.dagster_run
    return run.status != dg.DagsterRunStatus.SUCCESS or run.tags.get(FILES_LEFT_TAG, "0") != "0"


def _run_config(scope: Scope) -> dict:
    """A customer's run carries its entry as the tick read it (its page shows it); none otherwise."""
    return customer_run_config(scope.entry()) if scope.customer else {}


@dg.sensor(
    job_name="outbound_job",
    minimum_interval_seconds=load_time_settings().sync_interval_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Launches outbound_job when TracOS holds unsynced work orders (per customer; a bounded count per tick).",
)
def outbound_pending_sensor(context: dg.SensorEvaluationContext, mongo: MongoResource):
    requests, skips = outbound_requests(context, mongo)
    return requests or dg.SkipReason("; ".join(skips))


def log_other_reasons(context: dg.SensorEvaluationContext | dg.ScheduleEvaluationContext,
                      requests: list[dg.RunRequest], reasons: list[str]) -> None:
    """A tick that requests runs has no skip reason (Dagster): why the other customers got
    none goes to the tick's log, which the UI shows beside the tick."""
    if requests and reasons:
        context.log.info("; ".join(reasons))


def outbound_requests(context: dg.SensorEvaluationContext | dg.ScheduleEvaluationContext, mongo: MongoResource,
                      run_key_suffix: Optional[str] = None) -> tuple[list[dg.RunRequest], list[str]]:
    """A run per customer for whom something waits to be exported that its last run did not
    already skip; and why the others get none (and which customers the file added or removed).
    With `run_key_suffix` (the schedule's tick), each request has a run key per customer and tick."""
    served, notes = served_customers(context, "outbound_job")
    requests, skips, failures = [], [], []
    in_flight = InFlight(context.instance, OUTBOUND_TAG)
    for scope in served:
        slug = scope.customer
        try:
            request, skip = _outbound_request(context.instance, mongo.bind(scope), scope, in_flight.of(slug))
        except Exception as error:
            if slug is None:
                raise
            failures.append((slug, error))  # one customer's unreachable collection never stops the others
            continue
        if request and run_key_suffix:
            request = request.with_replaced_attrs(run_key=f"outbound-{slug or 'environment'}-{run_key_suffix}")
        requests += [request] if request else []
        skips += [skip] if skip else []
    fail_unless_served(context, failures, requests)
    log_other_reasons(context, requests, skips)  # the notes are logged already, as warnings
    return requests, skips + notes


def fail_unless_served(context: dg.SensorEvaluationContext | dg.ScheduleEvaluationContext,
                       failures: list[tuple[str, Exception]], requests: list[dg.RunRequest]) -> None:
    """Customers whose folder or collection cannot be read: logged as errors while the tick
    launches the others' runs (and sync_health_sensor turns their checks red); when no run
    is launched, the tick fails naming them, as a sensor that cannot work does (CONTRACT 7)."""
    for slug, error in failures:
        context.log.error(f"{slug}: {error}")
    if failures and not requests:
        if len(failures) == 1:
            raise failures[0][1]
        raise RuntimeError("; ".join(f"{slug}: {error}" for slug, error in failures))


def _outbound_request(instance: dg.DagsterInstance, mongo: MongoResource, scope: Scope,
                      busy: Optional[dg.RunRecord]):
    customer = scope.customer
    if busy:
        return None, _label(customer, skip_while_busy(busy))
    backoff = backoff_skip(instance, OUTBOUND_TAG, customer)
    if backoff:
        return None, _label(customer, backoff)
    last_run, skipped = _skipped_by_last_outbound_run(instance, customer)
    repository = WorkOrderRepository(
        mongo.get_collection(), Retrier(budget_seconds=SENSOR_RETRY_BUDGET_SECONDS, server=mongo.server_label)
    )
    # Counting stops past a bound: exact for the launch tag, cheap on a big backlog.
    pending = repository.count_unsynced(limit=max(skipped, BACKLOG_COUNT_LIMIT) + 1)  # unreachable: the tick fails
    if not pending:
        return None, _label(customer, f"no unsynced work orders in {mongo.server_label}")
    if last_run and pending <= skipped:
        return None, _label(customer, (
            f"{pending} unsynced work order(s) in TracOS, and the last outbound run ({last_run[:8]}) skipped "
            f"{skipped} it could not translate or write (see its skipped_documents); waiting for TracOS to change"
        ))
    tags = {"tracos/unsynced_at_launch": backlog_text(pending), **({OUTBOUND_CUSTOMER_TAG: customer} if customer else {})}
    return dg.RunRequest(partition_key=customer, tags=tags, run_config=_run_config(scope)), None


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
