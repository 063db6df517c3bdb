"""Health judged on its own (CONTRACT section 7): what waits, whether it waits too long,
whether the last run of each direction succeeded, today's totals, and the back-off that
keeps a failing job from being launched every tick.

`sync_health_sensor` launches nothing: every tick it records what waits (observations,
plotted on the assets) and reports the freshness and last-run checks when their outcome
changes. It runs apart from the launching sensors and the schedule, so stopping
`inbound_file_sensor` (or a schedule that keeps failing) does not blind it. Runs report
the same checks when they finish their work, and every check runs on demand from its
asset's page. Nothing in Dagster evaluates anything while the daemon itself is stopped:
the README says what the UI shows then.
"""


import time
from datetime import datetime, timedelta
from typing import Iterable, Optional

import dagster as dg

from tracos_integration.assets import (
    CLIENT_INBOUND,
    CLIENT_OUTBOUND,
    INBOUND_FRESH,
    OUTBOUND_FRESH,
    TRACOS_WORK_ORDERS,
    cannot_judge,
    inbound_freshness_check,
    outbound_freshness_check,
    runless,
)
from tracos_integration.client.folder import ClientFolder
from tracos_integration.core.text import one_line
from tracos_integration.core.timestamps import UTC
from tracos_integration.scope import TickScope
from tracos_integration.jobs import INBOUND_TAG, OUTBOUND_TAG
from tracos_integration.ops.outbound import BACKLOG_COUNT_LIMIT  # unsynced documents: exact up to this bound
from tracos_integration.settings import load_time_settings
from tracos_integration.tracos.queries import WorkOrderRepository
from tracos_integration.tracos.resource import MongoResource
from tracos_integration.tracos.retry import Retrier

PARTITION_TAG = "dagster/partition"
FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]
HEALTH_RETRY_BUDGET_SECONDS = 5.0  # a tick stays short; the next tick tries again
OVERDUE_COUNT_LIMIT = 100

LAST_RUN_SUCCEEDED = "last_run_succeeded"
# direction -> (the run tag that marks its runs, the asset its runs write)
DIRECTIONS = {"inbound": (INBOUND_TAG, TRACOS_WORK_ORDERS), "outbound": (OUTBOUND_TAG, CLIENT_OUTBOUND)}

# Back-off: after this many failed runs in a row of one direction (per customer), the
# sensors and the schedule wait BACKOFF_BASE_SECONDS, doubling per further failure, at most
# BACKOFF_MAX_SECONDS after the last failure before they launch again.
BACKOFF_AFTER_FAILURES = 3
BACKOFF_BASE_SECONDS = 60.0
BACKOFF_MAX_SECONDS = 3600.0


def _runs_filter(tag: str, customer: Optional[str], statuses: list) -> dg.RunsFilter:
    return dg.RunsFilter(tags={tag: "true", **({PARTITION_TAG: customer} if customer else {})}, statuses=statuses)


def _ended(record: dg.RunRecord) -> float:
    return record.end_time or record.update_timestamp.timestamp()


def _short(text: str, limit: int = 300) -> str:
    return one_line(text, limit)


# -- a failed run turns its asset red until a run succeeds ------------------------------------

def failure_reason(instance: dg.DagsterInstance, run_id: str) -> str:
    """Why the run failed: the first failed step's reason (or the run's), one line, redacted
    as the alerts are."""
    from tracos_integration.alerts import failure_reasons

    def events(kind: dg.DagsterEventType) -> list:
        records = instance.get_records_for_run(run_id=run_id, of_type=kind, limit=1).records
        return [record.event_log_entry.dagster_event for record in records]

    run_failure = events(dg.DagsterEventType.RUN_FAILURE)
    reasons = failure_reasons(events(dg.DagsterEventType.STEP_FAILURE), run_failure[0] if run_failure else None)
    return _short(reasons[0]).rstrip(".") if reasons else "see the run's logs"


def last_run_check(instance: dg.DagsterInstance, direction: str, customer: Optional[str] = None,
                   ui_url: Optional[str] = None) -> Optional[dg.AssetCheckEvaluation]:
    """ERROR while the latest finished run of `direction` failed; None before any run finished.
    Canceled runs are passed over: someone stopped them, they say nothing of the sync."""
    from tracos_integration.alerts import run_link

    tag, key = DIRECTIONS[direction]
    records = instance.get_run_records(
        filters=_runs_filter(tag, customer, [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE]), limit=1
    )
    if not records:
        return None
    run = records[0].dagster_run
    passed = run.status == dg.DagsterRunStatus.SUCCESS
    description = (
        f"the last {direction} run ({run.job_name} {run.run_id[:8]}) succeeded" if passed else
        f"the last {direction} run ({run.job_name} {run.run_id[:8]}) failed: {failure_reason(instance, run.run_id)}. "
        "Red until a run succeeds."
    )
    return dg.AssetCheckEvaluation(
        asset_key=key, check_name=LAST_RUN_SUCCEEDED, passed=passed, severity=dg.AssetCheckSeverity.ERROR,
        description=description, partition=customer,
        metadata={"run_id": run.run_id, "run": dg.MetadataValue.url(run_link(run.run_id, ui_url)), "job": run.job_name},
    )


# -- launches that keep failing back off ------------------------------------------------------

def backoff_skip(instance: dg.DagsterInstance, tag: str, customer: Optional[str] = None,
                 now: Optional[float] = None) -> Optional[str]:
    """Why no run should be launched yet, or None. After BACKOFF_AFTER_FAILURES failed runs in
    a row (canceled runs passed over, a success ends the streak), wait exponentially longer."""
    records = instance.get_run_records(filters=_runs_filter(tag, customer, FINISHED),
                                       limit=BACKOFF_AFTER_FAILURES + 12)
    failures, last = 0, None
    for record in records:
        status = record.dagster_run.status
        if status == dg.DagsterRunStatus.SUCCESS:
            break
        if status == dg.DagsterRunStatus.FAILURE:
            failures += 1
            last = last or record
    if last is None or failures < BACKOFF_AFTER_FAILURES:
        return None
    wait = min(BACKOFF_BASE_SECONDS * 2 ** (failures - BACKOFF_AFTER_FAILURES), BACKOFF_MAX_SECONDS)
    remaining = _ended(last) + wait - (time.time() if now is None else now)
    if remaining <= 0:
        return None
    run = last.dagster_run
    more = "+" if len(records) == BACKOFF_AFTER_FAILURES + 12 and failures == len(records) else ""
    return (
        f"backing off: the last {failures}{more} {tag.split('/')[-1]} runs failed (latest {run.job_name} "
        f"{run.run_id[:8]}: {failure_reason(instance, run.run_id)}); next launch in {remaining:.0f} s "
        f"({wait:.0f} s after the last failure, doubling per failure, at most {BACKOFF_MAX_SECONDS:.0f} s). "
        "Fix the cause and launch a run from the Launchpad to resume at once."
    )


# -- what waits, every tick -------------------------------------------------------------------

def _latest(instance: dg.DagsterInstance, evaluation: dg.AssetCheckEvaluation) -> tuple[Optional[tuple], float]:
    """The outcome of the check's latest recorded evaluation (for its partition), and when."""
    from dagster._core.event_api import PartitionKeyFilter

    check_key = dg.AssetCheckKey(evaluation.asset_key, evaluation.check_name)
    partition = evaluation.partition
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [check_key], partition_filter=PartitionKeyFilter(key=partition) if partition else None,
    ).get(check_key)
    if latest is None or latest.evaluation is None:
        return None, 0.0
    return _outcome(latest.evaluation), latest.create_timestamp


def _outcome(evaluation: dg.AssetCheckEvaluation) -> tuple:
    """What makes a new evaluation worth recording: pass/fail, and which run it points to."""
    run_id = evaluation.metadata.get("run_id")
    return evaluation.passed, evaluation.severity, getattr(run_id, "value", run_id)


def _to_record(instance: dg.DagsterInstance, evaluations: Iterable[Optional[dg.AssetCheckEvaluation]],
               rejudge_seconds: float, now: float) -> list:
    """The evaluations whose outcome changed, and those last recorded more than
    `rejudge_seconds` ago: a check's Timestamp older than that means nobody judges it."""
    chosen = []
    for evaluation in evaluations:
        if evaluation is None:
            continue
        outcome, recorded_at = _latest(instance, evaluation)
        if outcome != _outcome(evaluation) or now - recorded_at > rejudge_seconds:
            chosen.append(evaluation)
    return chosen


def waiting_events(instance: dg.DagsterInstance, folder: ClientFolder, mongo: MongoResource,
                   customer: Optional[str] = None, now: Optional[float] = None) -> tuple[list, str]:
    """One customer's backlog as observations, and its checks; plus one line for the tick."""
    window = folder.settings().freshness_window_seconds
    now = time.time() if now is None else now
    observations, checks, words = [], [], []
    try:
        scan = folder.side().scan(now)
        oldest = scan.oldest_wait_seconds(now)
        observations.append(dg.AssetObservation(
            CLIENT_INBOUND, partition=customer, description="waiting in the inbound folder (sync_health_sensor)",
            metadata={"files_waiting": len(scan.ready), "files_being_written": scan.being_written,
                      "oldest_wait_seconds": round(oldest or 0.0, 1)},
        ))
        checks.append(inbound_freshness_check(oldest, window, customer, judged_at=now))
        words.append(f"{len(scan.ready)} file(s) waiting" + (f", oldest {oldest / 60:.0f} min" if oldest else ""))
    except Exception as error:  # a missing folder, a bad setting: the check says so, red
        checks.append(cannot_judge(CLIENT_INBOUND, INBOUND_FRESH, "the inbound folder", error, customer, window, now))
        words.append("inbound folder unreadable")
    try:
        repository = WorkOrderRepository(
            mongo.get_collection(), Retrier(budget_seconds=HEALTH_RETRY_BUDGET_SECONDS, server=mongo.server_label)
        )
        backlog = repository.count_unsynced(limit=BACKLOG_COUNT_LIMIT + 1)
        cutoff = datetime.now(UTC) - timedelta(seconds=window)
        overdue = repository.count_unsynced(limit=OVERDUE_COUNT_LIMIT, updated_before=cutoff)
        observations.append(dg.AssetObservation(
            TRACOS_WORK_ORDERS, partition=customer, description="unsynced in TracOS (sync_health_sensor)",
            metadata={"backlog": min(backlog, BACKLOG_COUNT_LIMIT), "backlog_over_limit": backlog > BACKLOG_COUNT_LIMIT},
        ))
        checks.append(outbound_freshness_check(overdue, window, customer, judged_at=now))
        words.append(f"{backlog_text(backlog)} unsynced")
    except Exception as error:  # TracOS unreachable after a short retry
        checks.append(cannot_judge(CLIENT_OUTBOUND, OUTBOUND_FRESH, "TracOS", error, customer, window, now))
        words.append("TracOS unreachable")
    # Each judgement carries valid_until (half the window on): it is recorded again before then.
    checks += [last_run_check(instance, direction, customer) for direction in DIRECTIONS]
    line = ", ".join(words)
    return observations + _to_record(instance, checks, window / 2, now), f"{customer}: {line}" if customer else line


def backlog_text(count: int) -> str:
    """An unsynced count as recorded: exact up to BACKLOG_COUNT_LIMIT."""
    return f"more than {BACKLOG_COUNT_LIMIT}" if count > BACKLOG_COUNT_LIMIT else str(count)


@dg.sensor(
    minimum_interval_seconds=load_time_settings().sync_interval_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Launches nothing. Every tick records what waits (inbound files, the oldest's age, unsynced work "
                "orders) on the assets and reports inbound_fresh, outbound_fresh and last_run_succeeded when they "
                "change, whether or not the other sensors run.",
)
def sync_health_sensor(context: dg.SensorEvaluationContext, client_folder: ClientFolder, mongo: MongoResource):
    events, lines = [], []
    for scope in TickScope.read().scopes():  # the settings and the customers file, read once per tick
        customer_events, line = waiting_events(context.instance, client_folder.bind(scope), mongo.bind(scope),
                                               scope.customer)
        events += customer_events
        lines.append(line)
    return dg.SensorResult(asset_events=runless(events), skip_reason="recorded: " + "; ".join(lines))


def as_check_result(evaluation: Optional[dg.AssetCheckEvaluation], none: str) -> dg.AssetCheckResult:
    if evaluation is None:
        return dg.AssetCheckResult(passed=True, description=none)
    return dg.AssetCheckResult(passed=evaluation.passed, severity=evaluation.severity,
                               description=evaluation.description, metadata=evaluation.metadata)


def _on_demand(key: dg.AssetKey, direction: str):
    @dg.asset_check(asset=key, name=LAST_RUN_SUCCEEDED, blocking=False,
                    description=f"ERROR while the latest finished {direction} run failed; passes again when one succeeds.")
    def check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        return as_check_result(last_run_check(context.instance, direction), f"no {direction} run has finished yet")

    return check


HEALTH_CHECKS = [_on_demand(key, direction) for direction, (_, key) in DIRECTIONS.items()]
