"""The front door: `make run` / `make sync` print a short result a person reads, samples go
into a real MongoDB server only when asked (CONTRACT 2), and `dg` works from the root."""

import json
import os
import subprocess
import sys
from pathlib import Path

import mongomock
import pytest

from tracos_integration.summary import describe
from tracos_integration.tracos.resource import MongoResource
from tracos_integration_tests.factories import client_order, drop, tracos_document
from tracos_integration_tests.reliability.harness import use_collection

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(sys.executable).parent.parent
REAL_SERVER = "mongodb://sync:s3cret@db.example.invalid:27017/tractian"


def never_connect(monkeypatch):
    def connect(self):
        raise AssertionError("samples_job connected to the server")
    monkeypatch.setattr(MongoResource, "get_collection", connect)


@pytest.mark.parametrize("uri", [REAL_SERVER, "mongodb+srv://cluster0.example.invalid/tractian"])
def test_samples_refuse_a_real_server_unless_asked_before_connecting(workspace, monkeypatch, uri):
    monkeypatch.setenv("MONGO_URI", uri)
    never_connect(monkeypatch)
    result = workspace.run("samples_job", {"ops": {"write_samples": {"config": {"count": 3}}}})
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.step_failure_data.error.message
    assert "allow_real_server: true" in message and "Nothing was written" in message
    assert "s3cret" not in message
    assert list(workspace.inbound.iterdir()) == []


def test_samples_go_into_a_real_server_when_the_config_asks(workspace, monkeypatch):
    monkeypatch.setenv("MONGO_URI", REAL_SERVER)
    collection = mongomock.MongoClient().tractian.workorders
    use_collection(monkeypatch, collection)
    config = {"ops": {"write_samples": {"config": {"count": 3, "allow_real_server": True}}}}
    assert workspace.run("samples_job", config).success
    assert collection.count_documents({}) == 3 and list(workspace.inbound.glob("*.json"))


def test_samples_go_into_the_embedded_and_in_memory_stores_without_asking(workspace, tmp_path, monkeypatch):
    config = {"ops": {"write_samples": {"config": {"count": 2}}}}
    assert workspace.run("samples_job", config).success  # the workspace's mongomock://
    monkeypatch.setenv("MONGO_URI", f"embedded://{tmp_path / 'tracos.json'}")
    assert workspace.run("samples_job", config).success


def test_the_summary_gives_the_runs_counts_and_where_the_files_went(workspace):
    drop(workspace.inbound, "orders.json", [client_order(1), client_order(2)])
    drop(workspace.inbound, "broken.json", "{")
    workspace.collection.insert_one(tracos_document(50))
    result = workspace.run("sync_job")
    succeeded, lines = describe(workspace.instance, "sync_job")
    text = "\n".join(lines)
    assert succeeded == result.success
    assert f"sync_job succeeded (run {result.run_id[:8]}" in lines[0]
    assert "3 records read: 2 inserted, 0 updated, 0 unchanged, 0 stale, 1 rejected" in text
    assert f"1 to {workspace.inbound}/processed, 1 to {workspace.inbound}/failed" in text
    assert f"written to {workspace.outbound}" in text and workspace.mongo_uri in text


def test_the_summary_of_a_failed_run_names_the_step_and_its_reason(workspace):
    workspace.outbound.rmdir()
    workspace.run("outbound_job")
    succeeded, lines = describe(workspace.instance, "outbound_job")
    assert not succeeded and "failure" in lines[0]
    assert any(line.startswith("  failed:   export_unsynced: ") and "does not exist" in line for line in lines)


def make(*targets: str, env: dict) -> subprocess.CompletedProcess:
    """The repository's Makefile with this interpreter's venv, never reinstalling it."""
    installed = VENV / ".installed"
    return subprocess.run(
        ["make", "--no-print-directory", f"VENV={VENV}", "-o", str(installed), *targets],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )


@pytest.fixture
def make_env(tmp_path):
    inbound, outbound = tmp_path / "inbound", tmp_path / "outbound"
    inbound.mkdir()
    outbound.mkdir()
    # Under `make test` the parent make's flags would reach this make too: a make of its own.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MONGO_", "DATA_", "DAGSTER_", "PYTHON", "MAKE", "MFLAGS"))}
    env.update(DAGSTER_HOME=str(tmp_path / "home"), DATA_INBOUND_DIR=str(inbound), DATA_OUTBOUND_DIR=str(outbound),
               MONGO_URI=f"embedded://{tmp_path / 'tracos.json'}", INBOUND_SETTLE_SECONDS="0")
    return env


def test_make_samples_skips_a_real_server_with_one_line_saying_how_to_ask(make_env):
    completed = make("samples", env={**make_env, "MONGO_URI": REAL_SERVER})
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout.strip().splitlines() == [
        "samples_job skipped: MONGO_URI names a MongoDB server, and samples go there only when asked "
        "(make run SAMPLES_INTO_SERVER=1)"
    ]
    assert completed.stderr == ""


@pytest.mark.slow
def test_make_samples_and_sync_print_a_short_result_without_debug_lines_or_warnings(make_env):
    completed = make("samples", "sync", env=make_env)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert " - DEBUG - " not in output and "Warning" not in output and "superseded" not in output
    lines = output.strip().splitlines()
    assert len(lines) <= 12, output
    assert lines[-5].startswith("sync_job succeeded (run ")
    assert "20 records read:" in lines[-4] and f"to {make_env['DATA_INBOUND_DIR']}/processed" in lines[-3]
    assert f"written to {make_env['DATA_OUTBOUND_DIR']}" in lines[-2]


def dg(*arguments: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("TRACOS_CUSTOMERS_FILE", "DAGSTER_HOME")}
    return subprocess.run([str(VENV / "bin" / "dg"), *arguments], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow
def test_dg_lists_and_checks_the_definitions_from_the_repository_root():
    listed = dg("list", "defs", "--json")
    assert listed.returncode == 0, listed.stderr[-3000:]
    definitions = json.loads(listed.stdout)
    assert {job["name"] for job in definitions["jobs"]} == {"inbound_job", "outbound_job", "sync_job", "samples_job"}
    assert {sensor["name"] for sensor in definitions["sensors"]} >= {"inbound_file_sensor", "outbound_pending_sensor"}
    assert {schedule["name"] for schedule in definitions["schedules"]} == {"outbound_schedule"}
    checked = dg("check", "defs")
    assert checked.returncode == 0 and "All definitions loaded successfully." in checked.stdout + checked.stderr
    assert "does not match" not in checked.stdout + checked.stderr  # no venv notice when called as .venv/bin/dg


def test_the_test_run_ends_by_naming_each_group_it_skipped_and_how_to_run_it(tmp_path):
    (tmp_path / "conftest.py").write_text("from tracos_integration_tests.conftest import pytest_terminal_summary\n")
    (tmp_path / "test_groups.py").write_text(
        "import pytest\n"
        "def test_ui():\n    pytest.skip(\"Debian's chromium package is not installed (.ci/run installs it)\")\n"
        "def test_server():\n    pytest.skip('MONGO_URI names no MongoDB server')\n"
        "def test_runs():\n    pass\n"
    )
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
    )
    lines = completed.stdout.strip().splitlines()
    assert completed.returncode == 0, completed.stdout
    assert lines[-3:-1] == [
        "1 skipped: browser tests of the UI (test_ui_browser.py); to run them, install Debian's chromium "
        "(apt-get install chromium)",
        "1 skipped: the real-MongoDB tests (-m real_mongo); to run them, start one (README \"Against a real "
        "MongoDB\") and set MONGO_URI to it",
    ]
    assert lines[-1].startswith("1 passed, 2 skipped")
