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
