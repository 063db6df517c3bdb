"""The client folder's lock (README "Locks: one per guarantee"): a hidden file in the folder it
guards, held by real processes here; a run waits for it at most FOLDER_LOCK_TIMEOUT_SECONDS,
then fails naming who holds it."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import types

import dagster as dg
import pytest

from tracos_integration import locks
from tracos_integration.client.folder import ClientFolder
from tracos_integration.locks import LOCK_FILE
from tracos_integration_tests.factories import client_order, drop, tracos_document

# Holds the lock at argv[1] as Dagster run argv[2], says so, and lets go when its stdin closes.
HOLDER = """
import sys
from pathlib import Path
from tracos_integration.locks import hold
held = hold(Path(sys.argv[1]), 0, run_id=sys.argv[2])
print("held", flush=True)
sys.stdin.read()
held.release()
"""


@pytest.fixture
def holder():
    """Start a process holding a lock; the test ends it (or kills it)."""
    started = []

    def start(path, run_id="run-of-the-holder"):
        process = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), run_id], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True)
        started.append(process)
        assert process.stdout.readline().strip() == "held"
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


def failure_description(result: dg.ExecuteInProcessResult) -> str:
    [failure] = [event for event in result.all_events if event.event_type_value == "STEP_FAILURE"]
    return failure.event_specific_data.user_failure_data.description


def test_a_run_waits_for_the_holder_at_most_the_timeout_then_fails_naming_it(workspace, holder, monkeypatch):
    monkeypatch.setenv("FOLDER_LOCK_TIMEOUT_SECONDS", "0.3")
    drop(workspace.inbound, "a.json", [client_order(1)])
    process = holder(workspace.inbound / LOCK_FILE)
    result = workspace.run("inbound_job")
    assert not result.success
    description = failure_description(result)  # one line: the folder, who holds it, what to do
    assert "\n" not in description
    assert str(workspace.inbound / LOCK_FILE) in description
    assert f"host {socket.gethostname()} pid {process.pid} (Dagster run run-of-the-holder)" in description
    assert "gave up after 0.3 s (FOLDER_LOCK_TIMEOUT_SECONDS)" in description
    assert any("waiting up to 0.3 s" in line for line in workspace.logged(result, level=20))
    assert os.path.exists(workspace.inbound / "a.json") and workspace.collection.count_documents({}) == 0


def test_an_outbound_run_waits_for_the_outbound_folder_and_marks_nothing(workspace, holder, monkeypatch):
    monkeypatch.setenv("FOLDER_LOCK_TIMEOUT_SECONDS", "0")
    workspace.collection.insert_one(tracos_document(3))
    process = holder(workspace.outbound / LOCK_FILE)
    result = workspace.run("outbound_job")
    assert not result.success and f"pid {process.pid}" in failure_description(result)
    assert os.listdir(workspace.outbound) == [LOCK_FILE]  # the holder's, nothing of the run
    assert workspace.collection.find_one({"number": 3})["isSynced"] is False


def test_a_run_goes_on_when_the_holder_lets_go_in_time(workspace, holder, monkeypatch):
    drop(workspace.inbound, "a.json", [client_order(1)])
    process = holder(workspace.inbound / LOCK_FILE)
    real_sleep = time.sleep

    def holder_lets_go_once_the_run_waits(seconds):
        if process.poll() is None:
            process.stdin.close()
            process.wait()
        real_sleep(seconds)

    # Only the lock's own waits: a global time.sleep would also be called by other threads.
    monkeypatch.setattr(locks, "time", types.SimpleNamespace(monotonic=time.monotonic,
                                                             sleep=holder_lets_go_once_the_run_waits))
    result = workspace.run("inbound_job")
    assert result.success and workspace.collection.count_documents({}) == 1
    assert process.wait(timeout=60) == 0 and sorted(os.listdir(workspace.inbound)) == ["processed"]


def test_a_killed_holder_does_not_block_and_its_record_is_replaced(workspace, holder, monkeypatch):
    monkeypatch.setenv("FOLDER_LOCK_TIMEOUT_SECONDS", "0")  # fail at once if anything still held it
    drop(workspace.inbound, "a.json", [client_order(1)])
    process = holder(workspace.inbound / LOCK_FILE)
    process.send_signal(signal.SIGKILL)
    process.wait()
    stale = json.loads((workspace.inbound / LOCK_FILE).read_text())
    assert stale["pid"] == process.pid  # the dead holder's record stays in the file...
    assert workspace.run("inbound_job").success  # ...and never blocks: only the flock does
    assert not (workspace.inbound / LOCK_FILE).exists()


def test_after_a_sync_run_the_folders_hold_no_lock_file_and_outbound_only_number_json(workspace):
    drop(workspace.inbound, "a.json", [client_order(1)])
    workspace.collection.insert_one(tracos_document(3))
    assert workspace.run("sync_job").success
    assert os.listdir(workspace.outbound) == ["3.json"]  # hidden files included
    assert sorted(os.listdir(workspace.inbound)) == ["processed"]


def test_the_holder_record_names_the_dagster_run_holding_the_folder(workspace, monkeypatch):
    seen = {}
    real_hold = locks.hold

    def spy(path, *args, **kwargs):
        held = real_hold(path, *args, **kwargs)
        seen[path] = json.loads(path.read_text())
        return held

    monkeypatch.setattr("tracos_integration.client.folder.hold", spy)
    drop(workspace.inbound, "a.json", [client_order(1)])
    result = workspace.run("inbound_job")
    record = seen[workspace.inbound / LOCK_FILE]
    assert (record["host"], record["pid"], record["run_id"]) == (socket.gethostname(), os.getpid(), result.run_id)


def test_something_else_at_the_lock_name_fails_the_run_and_is_left_alone(workspace, tmp_path):
    elsewhere = tmp_path / "precious.txt"
    elsewhere.write_text("keep me")
    (workspace.inbound / LOCK_FILE).symlink_to(elsewhere)
    drop(workspace.inbound, "a.json", [client_order(1)])
    result = workspace.run("inbound_job")
    assert not result.success and "is a folder or a symbolic link, not a lock file" in failure_description(result)
    assert elsewhere.read_text() == "keep me" and workspace.collection.count_documents({}) == 0


def test_the_hidden_lock_file_is_never_an_inbound_file(workspace):
    (workspace.inbound / LOCK_FILE).write_text("{}")  # left by a holder that died
    folder = ClientFolder()
    assert folder.scan(now=time.time() + 3600).ready == [] and folder.list_inbound() == ([], [])


@pytest.mark.parametrize("raw", ["nan", "inf", "-1", "soon"])
def test_an_unusable_lock_timeout_fails_the_run_naming_the_variable(workspace, monkeypatch, raw):
    monkeypatch.setenv("FOLDER_LOCK_TIMEOUT_SECONDS", raw)
    drop(workspace.inbound, "a.json", [client_order(1)])
    result = workspace.run("inbound_job")
    assert not result.success and f"FOLDER_LOCK_TIMEOUT_SECONDS={raw!r}" in failure_description(result)


def test_a_client_folder_dropped_outside_a_run_lets_go_of_its_lock(tmp_path, monkeypatch):
    """A script or a test that lists a folder through its own ClientFolder never releases it
    through Dagster: the lock goes when the object does, as a holder that dies lets go."""
    from tracos_integration.client.folder import ClientFolder

    monkeypatch.setenv("FOLDER_LOCK_TIMEOUT_SECONDS", "0")
    (tmp_path / "a.json").write_text("{}")
    for _ in range(2):  # the second would fail at once if the first still held the folder
        assert ClientFolder(inbound_dir=str(tmp_path), settle_seconds=0).list_inbound()[0] == ["a.json"]
