"""Under a real `dagster dev` daemon: the sensor picks up dropped files, and unsynced
TracOS documents go out without anyone launching a run."""

import os
import time

import dagster as dg
import pytest

from tracos_integration.tracos.resource import MongoResource
from tracos_integration_tests.factories import client_order, drop, read_json, tracos_document
from tracos_integration_tests.live import wait_for

pytestmark = pytest.mark.slow


def runs_of(live, job_name, status=None):
    with live.instance() as instance:
        filters = dg.RunsFilter(job_name=job_name, statuses=[status] if status else None)
        return instance.get_runs(filters=filters)


def test_dropped_files_are_synced_by_the_sensor(live_dagster):
    live = live_dagster
    path = drop(live.inbound, "dropped.json", [client_order(501, isDone=True), client_order(502)])
    old = time.time() - 10
    os.utime(path, (old, old))
    dropped_at = time.monotonic()

    tracos = MongoResource(uri=live.mongo_uri).get_collection()
    try:
        wait_for(lambda: tracos.count_documents({"number": {"$in": [501, 502]}}) == 2, 180, "the dropped orders in TracOS")
    except AssertionError:
        raise AssertionError(live.log_tail()) from None
    print(f"\nfile drop -> data in TracOS: {time.monotonic() - dropped_at:.1f}s")
    wait_for(lambda: (live.inbound / "processed" / "dropped.json").exists(), 60, "the file in processed/")
    runs = wait_for(lambda: runs_of(live, "inbound_job", dg.DagsterRunStatus.SUCCESS), 60, "a successful inbound run")
    assert runs[0].tags.get("dagster/sensor_name") == "inbound_file_sensor"
    assert tracos.find_one({"number": 501})["status"] == "completed"


def test_unsynced_tracos_document_goes_out_without_a_manual_launch(live_dagster):
    live = live_dagster
    tracos = MongoResource(uri=live.mongo_uri).get_collection()
    tracos.insert_one(tracos_document(777, status="on_hold"))
    inserted_at = time.monotonic()
    try:
        wait_for(lambda: (live.outbound / "777.json").exists(), 180, "777.json in the outbound folder")
    except AssertionError:
        raise AssertionError(live.log_tail()) from None
    print(f"\nunsynced document -> outbound file: {time.monotonic() - inserted_at:.1f}s")
    assert read_json(live.outbound / "777.json")["isOnHold"] is True
    wait_for(lambda: tracos.find_one({"number": 777})["isSynced"] is True, 60, "777 marked synced")
