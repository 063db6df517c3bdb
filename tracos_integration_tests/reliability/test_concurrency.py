"""Concurrency: TracOS changes between read and mark; two inbound runs on one folder."""

import threading

from tracos_integration.tracos.resource import MongoResource
from tracos_integration_tests.conftest import inbound_metadata, outbound_metadata
from tracos_integration_tests.factories import client_order, drop, read_json, tracos_document
from tracos_integration_tests.reliability.harness import FailingCollection, tally, use_collection


def test_tracos_update_between_outbound_read_and_mark_is_not_lost(workspace, monkeypatch, figures):
    inner = MongoResource(uri=workspace.mongo_uri).get_collection()
    inner.insert_many([tracos_document(1, title="v1"), tracos_document(2, title="steady")])
    flaky = FailingCollection(inner)

    def technician_edits(*args, **kwargs):  # the first bulk_write of the run is the mark
        if flaky.calls["bulk_write"] == 1:
            inner.update_one({"number": 1}, {"$set": {"title": "v2"}})

    flaky.before("bulk_write", technician_edits)
    with monkeypatch.context() as patch:
        use_collection(patch, flaky)
        result = workspace.run("outbound_job")
    assert result.success
    assert outbound_metadata(result)["changed_meanwhile"] == 1
    assert read_json(workspace.outbound / "1.json")["summary"] == "v1"
    assert inner.find_one({"number": 1})["isSynced"] is False  # the update is not lost...
    assert workspace.run("outbound_job").success
    assert read_json(workspace.outbound / "1.json")["summary"] == "v2"  # ...it goes out next run
    assert inner.find_one({"number": 1})["isSynced"] is True
    figures(records_in=2, applied=2, rejected=0, lost=0, duplicated=0)


def test_two_inbound_runs_at_once_apply_and_move_each_file_once(workspace, figures):
    expected = {}
    for index in range(12):
        drop(workspace.inbound, f"f{index:02d}.json", [client_order(index + 1, summary=f"order {index + 1}")])
        expected[index + 1] = f"order {index + 1}"
    results = []
    start = threading.Barrier(2)

    def run():
        start.wait()
        results.append(workspace.run("inbound_job"))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(results) == 2 and all(r.success for r in results)
    reads = sorted(inbound_metadata(r)["read"] for r in results)
    inserted = sum(inbound_metadata(r)["inserted"] for r in results)
    moved = sum(inbound_metadata(r)["files_processed"] for r in results)
    assert reads == [0, 12] and inserted == 12 and moved == 12  # each file applied once, moved once
    assert workspace.processed() == [f"f{index:02d}.json" for index in range(12)]
    counts = tally(workspace.collection, expected)
    assert counts["lost"] == 0 and counts["duplicated"] == 0
    figures(records_in=12, applied=counts["applied"], rejected=0, lost=counts["lost"], duplicated=counts["duplicated"])


def test_inbound_and_outbound_together_in_sync_job_do_not_echo(workspace, figures):
    drop(workspace.inbound, "a.json", [client_order(1), client_order(2)])
    workspace.collection.insert_one(tracos_document(3))
    assert workspace.run("sync_job").success
    assert workspace.outbound_files() == ["3.json"]
    assert workspace.run("sync_job").success and workspace.outbound_files() == ["3.json"]
    figures(records_in=3, applied=3, rejected=0, lost=0, duplicated=0)
