"""Who guards a customer's folders (README "Locks: one per guarantee"): the run's lease in
TracOS, held by the MongoResource for the whole run, not a lock file in the folder (SFTP and
S3 have none). A run waits for the lease at most FOLDER_LOCK_TIMEOUT_SECONDS, then fails
naming who holds it; the folders keep nothing of it. Between processes: test_lease.py."""

import os
import socket
import types

import dagster as dg
from pymongo.errors import OperationFailure
import pytest

from tracos_integration.client.folder import ClientFolder
from tracos_integration.tracos import lease as lease_module
from tracos_integration.tracos.lease import LEASES, Lease, store_clock
from tracos_integration.tracos.resource import MongoResource
from tracos_integration.tracos.retry import Retrier
from tracos_integration_tests.factories import client_order, drop, tracos_document

KEY = "tractian.workorders"


@pytest.fixture
def holder(workspace):
    """Another run's lease on the workspace's customer, taken in this process."""
    leases = MongoResource(uri=workspace.mongo_uri).open_collection(LEASES)
    other = Lease(leases, KEY, Retrier(budget_seconds=1), store_clock(leases), run_id="run-of-the-holder")
    assert other.take()
    return other


def failure_description(result: dg.ExecuteInProcessResult) -> str:
    [failure] = [event for event in result.all_events if event.event_type_value == "STEP_FAILURE"]
    return failure.event_specific_data.user_failure_data.description


def test_a_run_waits_for_the_holder_at_most_the_timeout_then_fails_naming_it(workspace, holder, monkeypatch):
    monkeypatch.setenv("FOLDER_LOCK_TIMEOUT_SECONDS", "0.3")
    drop(workspace.inbound, "a.json", [client_order(1)])
    result = workspace.run("inbound_job")
    assert not result.success
    description = failure_description(result)  # one line: the lease, who holds it, what to do
    assert "\n" not in description
    assert f"the lease on {KEY} (collection {LEASES}) is held by host {socket.gethostname()} pid {os.getpid()} " \
           "(Dagster run run-of-the-holder) since " in description
    assert "gave up after 0.3 s (FOLDER_LOCK_TIMEOUT_SECONDS; raise it to wait longer)" in description
    assert any("waiting up to 0.3 s" in line for line in workspace.logged(result, level=20))
    assert os.listdir(workspace.inbound) == ["a.json"] and workspace.collection.count_documents({}) == 0


def test_an_outbound_run_waits_for_the_lease_and_marks_nothing(workspace, holder, monkeypatch):
    monkeypatch.setenv("FOLDER_LOCK_TIMEOUT_SECONDS", "0")
    workspace.collection.insert_one(tracos_document(3))
    result = workspace.run("outbound_job")
    assert not result.success and f"pid {os.getpid()}" in failure_description(result)
    assert os.listdir(workspace.outbound) == []
    assert workspace.collection.find_one({"number": 3})["isSynced"] is False


def test_a_run_goes_on_when_the_holder_lets_go_in_time(workspace, holder, monkeypatch):
    drop(workspace.inbound, "a.json", [client_order(1)])

    def holder_lets_go_once_the_run_waits(seconds):
        holder.release()

    # Only the lease's own waits: a global time.sleep would also be called by other threads.
    monkeypatch.setattr(lease_module, "time", types.SimpleNamespace(monotonic=lease_module.time.monotonic,
                                                                    sleep=holder_lets_go_once_the_run_waits))
    result = workspace.run("inbound_job")
    assert result.success and workspace.collection.count_documents({}) == 1
    assert sorted(os.listdir(workspace.inbound)) == ["processed"]


def test_after_a_sync_run_the_folders_and_the_leases_hold_nothing_of_it(workspace):
    drop(workspace.inbound, "a.json", [client_order(1)])
    workspace.collection.insert_one(tracos_document(3))
    assert workspace.run("sync_job").success
    assert os.listdir(workspace.outbound) == ["3.json"]  # hidden files included
    assert sorted(os.listdir(workspace.inbound)) == ["processed"]
    assert MongoResource(uri=workspace.mongo_uri).open_collection(LEASES).count_documents({}) == 0


def test_the_lease_names_the_dagster_run_holding_the_customer(workspace, monkeypatch):
    seen = {}
    listing = ClientFolder.list_inbound

    def spy(self):
        seen.update(MongoResource(uri=workspace.mongo_uri).open_collection(LEASES).find_one({"_id": KEY}))
        return listing(self)

    monkeypatch.setattr(ClientFolder, "list_inbound", spy)
    drop(workspace.inbound, "a.json", [client_order(1)])
    result = workspace.run("inbound_job")
    assert result.success
    assert (seen["host"], seen["pid"], seen["run_id"]) == (socket.gethostname(), os.getpid(), result.run_id)


def test_a_run_removes_temp_files_a_crashed_writer_left_in_the_outbound_folder(workspace):
    (workspace.outbound / ".3.json.0123456789ab.tmp").write_text("{")  # a writer that died
    workspace.collection.insert_one(tracos_document(3))
    assert workspace.run("outbound_job").success
    assert os.listdir(workspace.outbound) == ["3.json"]


@pytest.mark.parametrize("raw", ["nan", "inf", "-1", "soon"])
def test_an_unusable_lock_timeout_fails_the_run_naming_the_variable(workspace, monkeypatch, raw):
    monkeypatch.setenv("FOLDER_LOCK_TIMEOUT_SECONDS", raw)
    drop(workspace.inbound, "a.json", [client_order(1)])
    result = workspace.run("inbound_job")
    assert not result.success and f"FOLDER_LOCK_TIMEOUT_SECONDS={raw!r}" in failure_description(result)
    assert os.listdir(workspace.inbound) == ["a.json"]


def test_the_work_orders_collection_cannot_be_the_leases_one(workspace, monkeypatch):
    monkeypatch.setenv("MONGO_COLLECTION", LEASES)
    drop(workspace.inbound, "a.json", [client_order(1)])
    result = workspace.run("inbound_job")
    assert not result.success and "give the work orders another collection" in failure_description(result)
    assert os.listdir(workspace.inbound) == ["a.json"]


def test_a_store_refusing_the_lease_fails_the_first_step_with_its_reason(workspace, monkeypatch):
    opening = MongoResource.open_collection

    def unauthorized_on_leases(self, name):
        collection = opening(self, name)
        if name != LEASES:
            return collection

        def refuse(*args, **kwargs):
            raise OperationFailure("not authorized on tractian to execute command { update: \"tracos_leases\" }", 13,
                                   {"codeName": "Unauthorized", "errmsg": "not authorized on tractian to execute "
                                    "command { update: \"tracos_leases\" }"})

        return types.SimpleNamespace(update_one=refuse, find_one=collection.find_one)

    monkeypatch.setattr(MongoResource, "open_collection", unauthorized_on_leases)
    drop(workspace.inbound, "a.json", [client_order(1)])
    result = workspace.run("inbound_job")
    assert not result.success
    assert failure_description(result) == ('Unauthorized (code 13): not authorized on tractian to execute command '
                                           '{ update: "tracos_leases" }. Nothing was read or written.')
    assert os.listdir(workspace.inbound) == ["a.json"]
