"""`dagster job execute` from CI, as a subprocess, on the embedded store."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tracos_integration.tracos.resource import MongoResource
from tracos_integration_tests.factories import client_order, drop, read_json, tracos_document

ROOT = Path(__file__).resolve().parents[1]
DAGSTER = str(Path(sys.executable).with_name("dagster"))


def dagster_job_execute(job: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [DAGSTER, "job", "execute", "-m", "tracos_integration", "-j", job],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )


@pytest.fixture
def cli_env(tmp_path):
    inbound, outbound, home = tmp_path / "inbound", tmp_path / "outbound", tmp_path / "dagster_home"
    for folder in (inbound, outbound, home):
        folder.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGO_", "DATA_", "DAGSTER_"))}
    env.update(
        MONGO_URI=f"embedded://{tmp_path / 'tracos.json'}",
        DATA_INBOUND_DIR=str(inbound),
        DATA_OUTBOUND_DIR=str(outbound),
        INBOUND_SETTLE_SECONDS="0",
        DAGSTER_HOME=str(home),
    )
    return env


@pytest.mark.slow
def test_sync_job_from_the_cli_syncs_both_ways(cli_env):
    inbound, outbound = Path(cli_env["DATA_INBOUND_DIR"]), Path(cli_env["DATA_OUTBOUND_DIR"])
    tracos = MongoResource(uri=cli_env["MONGO_URI"]).get_collection()
    tracos.insert_one(tracos_document(50, status="on_hold"))
    drop(inbound, "orders.json", [client_order(1, isActive=True), client_order(2, isCanceled=True)])
    drop(inbound, "broken.json", "{")

    completed = dagster_job_execute("sync_job", cli_env)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "RUN_SUCCESS" in completed.stderr

    statuses = {d["number"]: d["status"] for d in tracos.find({})}
    assert statuses == {1: "in_progress", 2: "cancelled", 50: "on_hold"}
    assert sorted(p.name for p in (inbound / "processed").iterdir()) == ["orders.json"]
    assert sorted(p.name for p in (inbound / "failed").iterdir()) == ["broken.json", "broken.json.error.json"]
    assert sorted(p.name for p in outbound.iterdir()) == ["50.json"]
    assert read_json(outbound / "50.json")["isOnHold"] is True
    assert tracos.count_documents({"isSynced": {"$ne": True}}) == 0


@pytest.mark.slow
def test_samples_then_sync_from_the_cli_leaves_nothing_unsynced(cli_env):
    assert dagster_job_execute("samples_job", cli_env).returncode == 0
    completed = dagster_job_execute("sync_job", cli_env)
    assert completed.returncode == 0, completed.stderr[-3000:]
    tracos = MongoResource(uri=cli_env["MONGO_URI"]).get_collection()
    assert tracos.count_documents({}) > 0 and tracos.count_documents({"isSynced": {"$ne": True}}) == 0
    inbound = Path(cli_env["DATA_INBOUND_DIR"])
    assert list(inbound.glob("*.json")) == [] and not (inbound / "failed").exists()
