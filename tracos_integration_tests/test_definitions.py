"""CONTRACT section 1: the names users and outside checks rely on."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

import tracos_integration
from tracos_integration.definitions import defs
from tracos_integration.resources import MongoResource

ROOT = Path(__file__).resolve().parents[1]


def test_definitions_expose_the_contract_jobs():
    assert isinstance(defs, dg.Definitions) and tracos_integration.defs is defs
    for name in ("inbound_job", "outbound_job", "sync_job", "samples_job"):
        assert defs.get_job_def(name).name == name


def test_mongo_resource_is_a_configurable_resource_with_the_contract_fields():
    assert issubclass(MongoResource, dg.ConfigurableResource)
    assert {"uri", "database", "collection"} <= set(MongoResource.model_fields)


def test_jobs_run_their_steps_in_one_process():
    for name in ("inbound_job", "outbound_job", "sync_job", "samples_job"):
        assert defs.get_job_def(name).executor_def is dg.in_process_executor


def test_dagster_definitions_validate_passes():
    completed = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"},
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_definitions_snapshot():
    """What a user sees in the UI: jobs and their steps, sensors, schedule, resources."""
    repository = defs.get_repository_def()
    assert sorted(job.name for job in repository.get_all_jobs() if not job.name.startswith("__")) == [
        "inbound_job", "outbound_job", "samples_job", "sync_job",
    ]
    ops = {name: sorted(node.name for node in defs.get_job_def(name).nodes)
           for name in ("inbound_job", "outbound_job", "sync_job", "samples_job")}
    assert ops == {  # one straight path per direction, no dynamic fan-out
        "inbound_job": ["apply_inbound_files", "archive_inbound_files"],
        "outbound_job": ["export_unsynced"],
        "sync_job": ["apply_inbound_files", "archive_inbound_files", "export_unsynced"],
        "samples_job": ["write_samples"],
    }
    for name in ("inbound_job", "outbound_job", "sync_job"):
        assert not any(out.is_dynamic for node in defs.get_job_def(name).nodes for out in node.definition.output_defs)
    assert sorted(s.name for s in repository.sensor_defs) == [
        "failed_check_alert", "inbound_file_sensor", "outbound_pending_sensor", "run_failure_alert", "sync_health_sensor",
    ]
    assert [s.name for s in repository.schedule_defs] == ["outbound_schedule"]
    assert {"mongo", "client_folder", "client_folder_io_manager"} <= set(repository.get_top_level_resources())
