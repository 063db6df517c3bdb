"""The two sides of the integration in Dagster's asset catalog, and their health.

Three external assets: the customer's inbound folder, TracOS's work orders and the
customer's outbound folder (nothing here computes them; the jobs report on them). Each
run records its counts on them, so the asset pages plot the sync's history, and reports
the checks below, so an unhealthy sync turns yellow (WARN) or red (ERROR) in the UI.
Each check can also be run on demand from the asset's page.
"""


import time
from datetime import datetime, timedelta
from typing import Any, Mapping, Optional

import dagster as dg

from tracos_integration.client.folder import ClientFolder
from tracos_integration.core.text import one_line
from tracos_integration.scope import TickScope
from tracos_integration.core.timestamps import UTC
from tracos_integration.tracos.resource import MongoResource

CLIENT_INBOUND = dg.AssetKey(["client", "inbound_folder"])
TRACOS_WORK_ORDERS = dg.AssetKey(["tracos", "work_orders"])
CLIENT_OUTBOUND = dg.AssetKey(["client", "outbound_folder"])
OWNERS = ["team:integrations"]
GROUP = "tracos_sync"

def asset_specs(partitions_def: Optional[dg.PartitionsDefinition] = None) -> list[dg.AssetSpec]:
    """The three assets; partitioned by customer when there is a customers file."""
    return [spec.replace_attributes(partitions_def=partitions_def) for spec in ASSET_SPECS]


ASSET_SPECS = [
    dg.AssetSpec(
        CLIENT_INBOUND, group_name=GROUP, owners=OWNERS, kinds={"file"},
        description="Work-order files the customer's ERP drops (DATA_INBOUND_DIR). Each inbound run observes "
                    "how many files it read, archived to processed/ or failed/, or left in place.",
    ),
    dg.AssetSpec(
        TRACOS_WORK_ORDERS, group_name=GROUP, owners=OWNERS, kinds={"mongodb"}, deps=[CLIENT_INBOUND],
        description="The work orders in TracOS (MONGO_URI, MONGO_DATABASE.MONGO_COLLECTION). Each inbound run "
                    "records what it read, inserted, updated, left unchanged, found stale or rejected.",
    ),
    dg.AssetSpec(
        CLIENT_OUTBOUND, group_name=GROUP, owners=OWNERS, kinds={"file"}, deps=[TRACOS_WORK_ORDERS],
        description="<number>.json files for the customer's ERP (DATA_OUTBOUND_DIR). Each outbound run records "
                    "what it exported, marked synced or skipped, and the backlog left in TracOS.",
    ),
]

NO_REJECTED_RECORDS = "no_rejected_records"
NO_FILES_LEFT_BEHIND = "no_files_left_behind"
INBOUND_FRESH = "inbound_fresh"
OUTBOUND_FRESH = "outbound_fresh"


def _evaluation(key: dg.AssetKey, name: str, passed: bool, severity: dg.AssetCheckSeverity, description: str,
                metadata: Mapping[str, Any], partition: Optional[str] = None) -> dg.AssetCheckEvaluation:
    return dg.AssetCheckEvaluation(asset_key=key, check_name=name, passed=passed, severity=severity,
                                   description=description, metadata=dict(metadata), partition=partition)


def runless(events: list) -> list:
    """Asset events a sensor reports, with each check evaluation's customer moved from its
    partition into its metadata and description. Dagster 1.13 stores a check evaluation that
    no run made under run id "" with a unique index on (asset, check, run id, partition): a
    second one for the same partition fails the tick (a NULL partition is never a clash)."""
    moved = []
    for event in events:
        if isinstance(event, dg.AssetCheckEvaluation) and event.partition is not None:
            event = _evaluation(event.asset_key, event.check_name, event.passed, event.severity,
                                f"{event.partition}: {event.description}", {**event.metadata, "customer": event.partition})
        moved.append(event)
    return moved


def rejected_records_check(rejected: int, partition: Optional[str] = None, run_id: Optional[str] = None,
                           failed_files: Optional[dg.TableMetadataValue] = None) -> dg.AssetCheckEvaluation:
    """WARN when the last inbound run rejected records; it points to that run and lists the
    files that went to failed/ with their first reason."""
    from tracos_integration.alerts import run_link

    metadata: dict[str, Any] = {"rejected": rejected}
    if run_id:
        # Relative: it is read in the UI that holds the run; a run never reads the alert settings.
        metadata.update(run_id=run_id, run=dg.MetadataValue.url(run_link(run_id, ui_url="")))
    if failed_files is not None:
        metadata["failed_files"] = failed_files
    return _evaluation(
        TRACOS_WORK_ORDERS, NO_REJECTED_RECORDS, rejected == 0, dg.AssetCheckSeverity.WARN,
        "the last inbound run applied every record it read" if rejected == 0 else
        f"the last inbound run ({run_id[:8] if run_id else 'see run'}) rejected {rejected} record(s): "
        "the failed_files table below names the files and why; the run's summary too",
        metadata, partition,
    )


# Why a run left a file in the inbound folder, for the next run: metadata key -> the words shown.
LEFT_REASONS = {
    "files_left_being_written": "still being written", "files_left_unreadable": "unreadable",
    "files_left_not_moved": "not moved (see not_moved_files)", "files_left_symlinks": "symbolic links",
    "files_left_other_format": "of another format",
}


def left_reasons(left: Mapping[str, int]) -> str:
    """`2 still being written, 1 unreadable`: each reason a run left files for, with its count."""
    return ", ".join(f"{count} {LEFT_REASONS.get(key, key)}" for key, count in left.items() if count)


def files_left_check(left: Mapping[str, int], partition: Optional[str] = None) -> dg.AssetCheckEvaluation:
    """WARN when the last inbound run left files in the inbound folder (see LEFT_REASONS)."""
    total = sum(left.values())
    reasons = left_reasons(left)
    return _evaluation(
        CLIENT_INBOUND, NO_FILES_LEFT_BEHIND, total == 0, dg.AssetCheckSeverity.WARN,
        "the last inbound run archived every file it found" if total == 0 else
        f"the last inbound run left {total} file(s) in the inbound folder: {reasons}",
        {"files_left": total, **left}, partition,
    )


def valid_until(window_seconds: float, judged_at: Optional[float] = None) -> dict:
    """Every freshness judgement says when it stops being valid: half the window after it was
    made, by which time sync_health_sensor has judged again (README: What holds when something is stopped)."""
    judged_at = time.time() if judged_at is None else judged_at
    return {"valid_until": dg.MetadataValue.timestamp(judged_at + window_seconds / 2)}


def inbound_freshness_check(oldest_wait_seconds: Optional[float], window_seconds: float,
                            partition: Optional[str] = None, judged_at: Optional[float] = None,
                            ) -> dg.AssetCheckEvaluation:
    """ERROR when a settled file has waited longer than FRESHNESS_WINDOW_SECONDS: the sync is not
    picking the folder up (sensor stopped, runs failing)."""
    waiting = oldest_wait_seconds or 0.0
    passed = waiting <= window_seconds
    return _evaluation(
        CLIENT_INBOUND, INBOUND_FRESH, passed, dg.AssetCheckSeverity.ERROR,
        "no file has waited longer than the freshness window" if passed else
        f"a file has waited {waiting / 60:.0f} min in the inbound folder, over the {window_seconds / 60:.0f} min "
        "window: is inbound_file_sensor running, and are inbound runs failing?",
        {"oldest_wait_seconds": round(waiting, 1), "window_seconds": window_seconds,
         **valid_until(window_seconds, judged_at)}, partition,
    )


def outbound_freshness_check(overdue: int, window_seconds: float, partition: Optional[str] = None,
                             judged_at: Optional[float] = None) -> dg.AssetCheckEvaluation:
    """ERROR when an unsynced work order (by its updatedAt) has waited longer than the window."""
    passed = overdue == 0
    return _evaluation(
        CLIENT_OUTBOUND, OUTBOUND_FRESH, passed, dg.AssetCheckSeverity.ERROR,
        "no unsynced work order is older than the freshness window" if passed else
        f"at least {overdue} unsynced work order(s) were updated more than {window_seconds / 60:.0f} min ago and "
        "are not exported yet: are outbound runs failing, or skipping them (see skipped_documents)?",
        {"overdue_at_least": overdue, "window_seconds": window_seconds, **valid_until(window_seconds, judged_at)},
        partition,
    )


def overdue_unsynced(mongo: MongoResource, window_seconds: float, limit: int = 100) -> int:
    cutoff = datetime.now(UTC) - timedelta(seconds=window_seconds)
    return mongo.repository().count_unsynced(limit=limit, updated_before=cutoff)


def _as_result(evaluation: dg.AssetCheckEvaluation) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=evaluation.passed, severity=evaluation.severity, description=evaluation.description,
        metadata=evaluation.metadata,
    )


def _latest_metadata(instance: dg.DagsterInstance, key: dg.AssetKey, name: str) -> Optional[int]:
    event = instance.get_latest_materialization_event(key)
    if event is None or event.asset_materialization is None:
        return None
    value = event.asset_materialization.metadata.get(name)
    return None if value is None else int(value.value)


# -- the same checks, run on demand from the asset's page ------------------------------------

@dg.asset_check(asset=TRACOS_WORK_ORDERS, name=NO_REJECTED_RECORDS, blocking=False,
                description="WARN when the last inbound run rejected records.")
def no_rejected_records(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    return _as_result(rejected_records_check(_latest_metadata(context.instance, TRACOS_WORK_ORDERS, "rejected") or 0))


@dg.asset_check(asset=CLIENT_INBOUND, name=NO_FILES_LEFT_BEHIND, blocking=False,
                description="WARN when the last inbound run left files in the inbound folder.")
def no_files_left_behind(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    event = context.instance.fetch_observations(CLIENT_INBOUND, limit=1).records
    left = int(event[0].asset_observation.metadata["files_left"].value) if event else 0
    return _as_result(files_left_check({"left": left}))


@dg.asset_check(asset=CLIENT_INBOUND, name=INBOUND_FRESH, blocking=False,
                description="ERROR when a settled file has waited longer than FRESHNESS_WINDOW_SECONDS (any customer).")
def inbound_fresh(context: dg.AssetCheckExecutionContext, client_folder: ClientFolder) -> dg.AssetCheckResult:
    evaluations = []
    for scope in TickScope.read().scopes():  # every customer, as the customers file is now
        window = scope.settings.freshness_window_seconds
        try:
            waited = client_folder.bind(scope).side().scan().oldest_wait_seconds()
        except Exception as error:  # one customer's missing folder never hides the others' verdicts
            evaluations.append(cannot_judge(CLIENT_INBOUND, INBOUND_FRESH, "the inbound folder", error, scope.customer,
                                            window))
            continue
        evaluations.append(inbound_freshness_check(waited, window, scope.customer))
    return _as_result(_all_customers(evaluations))


@dg.asset_check(asset=CLIENT_OUTBOUND, name=OUTBOUND_FRESH, blocking=False,
                description="ERROR when an unsynced work order is older than FRESHNESS_WINDOW_SECONDS (any customer).")
def outbound_fresh(context: dg.AssetCheckExecutionContext, mongo: MongoResource) -> dg.AssetCheckResult:
    evaluations = []
    for scope in TickScope.read().scopes():
        window = scope.settings.freshness_window_seconds
        try:
            overdue = overdue_unsynced(mongo.bind(scope), window)
        except Exception as error:  # one customer's unreachable collection never hides the others'
            evaluations.append(cannot_judge(CLIENT_OUTBOUND, OUTBOUND_FRESH, "TracOS", error, scope.customer, window))
            continue
        evaluations.append(outbound_freshness_check(overdue, window, scope.customer))
    return _as_result(_all_customers(evaluations))


def cannot_judge(key: dg.AssetKey, name: str, what: str, error: Exception, partition: Optional[str],
                 window_seconds: float, judged_at: Optional[float] = None) -> dg.AssetCheckEvaluation:
    """A freshness check that could not look (a folder missing, TracOS unreachable) fails,
    saying why; a judgement like any other, it says until when it holds."""
    return _evaluation(key, name, False, dg.AssetCheckSeverity.ERROR, f"cannot look at {what}: {one_line(error)}",
                       valid_until(window_seconds, judged_at), partition)


def _all_customers(evaluations: list[dg.AssetCheckEvaluation]) -> dg.AssetCheckEvaluation:
    """One customer's evaluation as it is; several: passed only when every customer's did,
    described by the customers that failed."""
    if len(evaluations) == 1:
        return evaluations[0]
    failed = [item for item in evaluations if not item.passed]
    first = evaluations[0]
    worst = failed[0] if failed else first
    description = ("; ".join(f"{item.partition}: {item.description}" for item in failed) if failed
                   else f"{first.description} (all {len(evaluations)} customers)")
    # Every part is a judgement with an expiry: the whole holds until the first part expires.
    expiries = [item.metadata["valid_until"] for item in evaluations if "valid_until" in item.metadata]
    expiry = {"valid_until": min(expiries, key=lambda value: value.value)} if expiries else {}
    return _evaluation(worst.asset_key, worst.check_name, not failed, worst.severity, description,
                       {"customers_failing": len(failed), "customers": len(evaluations), **expiry})


ASSET_CHECKS = [no_rejected_records, no_files_left_behind, inbound_fresh, outbound_fresh]
