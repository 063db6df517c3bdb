"""What the last run of a job did, in a few lines a person reads: the closing lines of
`make run`, `make samples` and `make sync`.

    python -m tracos_integration.summary sync_job

Reads the run from the Dagster instance in DAGSTER_HOME (the counts the steps recorded as
metadata), so it says what the run did, not what a log line claimed. Exit code 0 when
the run succeeded, 1 when it failed or no run of the job exists.
"""

from __future__ import annotations

import sys
from typing import Any, Optional

import dagster as dg

from tracos_integration.scope import outside_run_scope
from tracos_integration.settings import Settings
from tracos_integration.tracos.uris import display_uri


def step_metadata(instance: dg.DagsterInstance, run_id: str) -> dict[str, dict[str, Any]]:
    """Each step's output metadata, as plain values."""
    steps: dict[str, dict[str, Any]] = {}
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_OUTPUT):
        event = record.dagster_event
        metadata = event.event_specific_data.metadata if event and event.event_specific_data else {}
        steps.setdefault(event.step_key, {}).update({k: getattr(v, "value", v) for k, v in metadata.items()})
    return steps


def failures(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """`step: first line of its error`, for each failed step."""
    lines = []
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        error = getattr(record.dagster_event.event_specific_data, "error", None)
        message = (error.message if error else record.user_message).strip().splitlines() or [""]
        lines.append(f"{record.dagster_event.step_key}: {message[0]}")
    return lines


def describe(
    instance: dg.DagsterInstance, job_name: str, settings: Optional[Settings] = None
) -> tuple[bool, list[str]]:
    """(succeeded, lines) for the latest run of `job_name`."""
    settings = settings or outside_run_scope().settings
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=job_name), limit=1)
    if not runs:
        return False, [f"{job_name}: no run found in this Dagster instance (DAGSTER_HOME)"]
    run = runs[0]
    stats = instance.get_run_stats(run.run_id)
    took = f", {stats.end_time - stats.start_time:.1f} s" if stats.start_time and stats.end_time else ""
    succeeded = run.status == dg.DagsterRunStatus.SUCCESS
    lines = [f"{job_name} {'succeeded' if succeeded else run.status.value.lower()} (run {run.run_id[:8]}{took})"]
    steps = step_metadata(instance, run.run_id)
    inbound, outbound = settings.inbound_dir, settings.outbound_dir
    if "write_samples" in steps:
        samples = steps["write_samples"]
        lines.append(f"  samples:  {samples.get('tracos_documents', 0)} unsynced work orders into TracOS, "
                     f"{samples.get('inbound_files', 0)} files into {inbound}")
    if "archive_inbound_files" in steps:
        counts = steps["archive_inbound_files"]
        lines.append(
            f"  inbound:  {counts.get('read', 0)} records read: {counts.get('inserted', 0)} inserted, "
            f"{counts.get('updated', 0)} updated, {counts.get('unchanged', 0)} unchanged, "
            f"{counts.get('stale', 0)} stale, "
            f"{counts.get('rejected', 0)} rejected"
        )
        lines.append(
            f"            {counts.get('files_read', 0)} files: "
            f"{counts.get('files_processed', 0)} to {inbound}/processed, "
            f"{counts.get('files_failed', 0)} to {inbound}/failed (each with a .error.json), "
            f"{counts.get('files_left', 0)} left in {inbound}"
        )
    if "export_unsynced" in steps:
        counts = steps["export_unsynced"]
        lines.append(
            f"  outbound: {counts.get('exported', 0)} work orders written to {outbound}, "
            f"{counts.get('marked_synced', 0)} marked synced, {counts.get('skipped', 0)} skipped; "
            f"{counts.get('backlog', 0)} still unsynced"
        )
    store = f"{settings.mongo_database}.{settings.mongo_collection}"
    lines.append(f"  TracOS:   {display_uri(settings.mongo_uri)} ({store})")
    lines += [f"  failed:   {line}" for line in failures(instance, run.run_id)]
    return succeeded, lines


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tracos_integration.summary JOB_NAME", file=sys.stderr)
        return 2
    with dg.DagsterInstance.get() as instance:
        succeeded, lines = describe(instance, argv[0])
    print("\n".join(lines))
    return 0 if succeeded else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
