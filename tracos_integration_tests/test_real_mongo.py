"""The same sync against a real MongoDB server. Skipped unless MONGO_URI names one:

    docker compose up -d
    MONGO_URI=mongodb://localhost:27017/tractian .venv/bin/python -m pytest -m real_mongo
"""

import os
import uuid

import pymongo
import pytest

from tracos_integration.tracos.resource import MongoResource
from tracos_integration_tests.factories import client_order, drop, read_json, tracos_document
from tracos_integration_tests.reliability.harness import use_collection
from tracos_integration_tests.strict_server import StrictCollection

SERVER_URI = os.environ.get("MONGO_URI", "")
pytestmark = [
    pytest.mark.real_mongo,
    pytest.mark.skipif(not SERVER_URI.startswith(("mongodb://", "mongodb+srv://")), reason="MONGO_URI names no MongoDB server"),
]


@pytest.fixture
def server_workspace(workspace, monkeypatch):
    collection_name = f"workorders_test_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("MONGO_URI", SERVER_URI)
    monkeypatch.setenv("MONGO_COLLECTION", collection_name)
    workspace.mongo_uri = SERVER_URI
    resource = MongoResource(collection=collection_name, retry_budget_seconds=5)
    try:
        resource.get_collection().database.command("ping")
    except Exception as error:  # a configured but unreachable server is a skip here, not a failure
        pytest.skip(f"MongoDB at {resource.server_label} is not reachable: {type(error).__name__}")
    yield workspace, resource.get_collection()
    resource.get_collection().drop()


def test_sync_job_against_a_real_server(server_workspace):
    workspace, collection = server_workspace
    collection.insert_one(tracos_document(100, status="completed"))
    drop(workspace.inbound, "a.json", [client_order(1, isDone=True), client_order(1, summary="older", lastUpdateDate="2024-01-01T00:00:00Z")])
    result = workspace.run("sync_job")
    assert result.success
    assert collection.find_one({"number": 1})["status"] == "completed"
    assert read_json(workspace.outbound / "100.json")["isDone"] is True
    assert collection.count_documents({"isSynced": {"$ne": True}}) == 0
    rerun = workspace.run("sync_job")
    assert rerun.success and collection.count_documents({}) == 2


@pytest.fixture
def fail_point(server_workspace):
    """MongoDB's failCommand fail point; needs a server started with enableTestCommands=1
    (`docker compose --profile faults up -d mongodb-faults`, then MONGO_URI=mongodb://localhost:27018/tractian)."""
    _, collection = server_workspace
    admin = collection.database.client.admin
    configured = []

    def configure(mode, data):
        try:
            admin.command("configureFailPoint", "failCommand", mode=mode, data=data)
        except pymongo.errors.OperationFailure as error:
            pytest.skip(f"the server does not allow fail points (start it with enableTestCommands=1): {error}")
        configured.append(True)

    yield configure
    if configured:
        admin.command("configureFailPoint", "failCommand", mode="off")


def test_dropped_connections_on_writes_are_retried_with_no_duplicates(server_workspace, fail_point):
    workspace, collection = server_workspace
    drop(workspace.inbound, "a.json", [client_order(n) for n in range(1, 6)])
    fail_point({"times": 3}, {"failCommands": ["update"], "closeConnection": True})
    result = workspace.run("inbound_job")
    assert result.success
    assert collection.count_documents({}) == 5
    assert len(collection.distinct("number")) == 5


def test_a_server_error_on_every_write_fails_the_run_and_moves_nothing(server_workspace, fail_point, monkeypatch):
    workspace, collection = server_workspace
    drop(workspace.inbound, "a.json", [client_order(1)])
    fail_point("alwaysOn", {"failCommands": ["update"], "closeConnection": True})
    result = workspace.run("inbound_job", mongo=MongoResource(collection=collection.name, retry_budget_seconds=2))
    assert not result.success
    assert (workspace.inbound / "a.json").exists()


# -- what only a real server does (the strict double in reliability/ simulates each) -------
# Write-concern errors and error labels need the replica set of the `faults` profile:
#   docker compose --profile faults up -d mongodb-replset
#   MONGO_URI='mongodb://localhost:27019/tractian?directConnection=true' .venv/bin/python -m pytest -m real_mongo


def test_a_write_concern_error_is_not_counted_applied_on_a_real_server(server_workspace, fail_point):
    workspace, collection = server_workspace
    drop(workspace.inbound, "a.json", [client_order(1), client_order(2)])
    fail_point({"times": 1}, {"failCommands": ["update"], "writeConcernError": {
        "code": 64, "errmsg": "waiting for replication timed out", "errInfo": {"wtimeout": True}}})
    result = workspace.run("inbound_job")
    assert not result.success and (workspace.inbound / "a.json").exists()
    assert workspace.run("inbound_job").success
    assert collection.count_documents({}) == 2 and workspace.processed() == ["a.json"]


def test_a_retryable_error_label_is_retried_on_a_real_server(server_workspace, fail_point):
    workspace, collection = server_workspace
    drop(workspace.inbound, "a.json", [client_order(n) for n in range(1, 4)])
    # More failures than pymongo's own single retry, so the project's retry must ride them out.
    fail_point({"times": 3}, {"failCommands": ["update"], "errorCode": 91, "errorLabels": ["RetryableWriteError"]})
    assert workspace.run("inbound_job").success
    assert collection.count_documents({}) == 3 and len(collection.distinct("number")) == 3


def test_index_collisions_are_warnings_on_a_real_server(server_workspace):
    workspace, collection = server_workspace
    collection.create_index([("number", 1)], unique=True, name="customers_number_index")
    collection.create_index([("title", 1)], name="isSynced_id")  # our outbound index's name, another key
    drop(workspace.inbound, "a.json", [client_order(1)])
    collection.insert_one(tracos_document(9))
    result = workspace.run("sync_job")
    assert result.success
    assert any("code 86" in message or "code 85" in message for message in workspace.logged(result))


def test_documents_without_a_number_do_not_block_the_unique_index_on_a_real_server(server_workspace):
    workspace, collection = server_workspace
    collection.insert_many([{"title": "no number"}, {"title": "none either"}])
    drop(workspace.inbound, "a.json", [client_order(1)])
    assert workspace.run("inbound_job").success
    assert collection.index_information()["number_unique"]["unique"] is True


def test_mixed_id_types_all_go_out_in_one_run_on_a_real_server(server_workspace):
    from bson import ObjectId

    workspace, collection = server_workspace
    ids = [7, "a-string", ObjectId(), {"composite": 1}]
    collection.insert_many([{**tracos_document(n), "_id": _id} for n, _id in enumerate(ids, start=1)])
    result = workspace.run("outbound_job", {"ops": {"export_unsynced": {"config": {"page_size": 1}}}})
    assert result.success and len(workspace.outbound_files()) == len(ids)
    assert collection.count_documents({"isSynced": {"$ne": True}}) == 0


# -- the planner: every query the sync makes by number, and its outbound pages, scan an index --

def scanned_indexes(plan):
    """The index names an explain() plan scans, and whether any stage scans the collection."""
    found, collscan = [], False
    stack = [plan.get("queryPlanner", plan).get("winningPlan", {})]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stage = str(node.get("stage", ""))
            collscan |= stage == "COLLSCAN"
            if "IXSCAN" in stage or "IDHACK" in stage:
                found.append(node.get("indexName", "_id_"))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found, collscan


def test_every_query_by_number_and_every_page_scans_an_index_on_a_real_server(server_workspace, monkeypatch):
    workspace, collection = server_workspace
    collection.insert_many([tracos_document(n) for n in range(100, 400)])
    recorder = StrictCollection(collection)  # only to keep every filter the sync sends
    use_collection(monkeypatch, recorder)
    drop(workspace.inbound, "a.json", [client_order(1), client_order(150, summary="newer", lastUpdateDate="2030-01-01T00:00:00Z")])
    assert workspace.run("sync_job", {"ops": {"export_unsynced": {"config": {"page_size": 50}}}}).success
    lookups = [q for q in recorder.queries if "number" in q]
    pages = [q for q in recorder.queries if "isSynced" in str(q) and "number" not in q and "_id" not in q]
    assert lookups and pages
    for query in lookups + pages:
        indexes, collscan = scanned_indexes(collection.find(query).explain())
        assert indexes and not collscan, (query, indexes)
    upsert = {"update": collection.name, "updates": [{"q": {"number": 1}, "u": {"$setOnInsert": {"x": 1}}, "upsert": True}]}
    indexes, collscan = scanned_indexes(collection.database.command("explain", upsert, verbosity="queryPlanner"))
    assert indexes and not collscan


def test_the_old_type_filtered_unique_index_is_replaced_on_a_real_server(server_workspace):
    workspace, collection = server_workspace
    collection.create_index([("number", 1)], unique=True, name="number_unique",
                            partialFilterExpression={"number": {"$type": "number"}})
    collection.insert_many([tracos_document(n) for n in range(100, 200)])
    _, collscan = scanned_indexes(collection.find({"number": 150}).explain())
    assert collscan  # what issue 15 found: the planner cannot use a $type partial index
    drop(workspace.inbound, "a.json", [client_order(1)])
    assert workspace.run("inbound_job").success
    assert "number_unique" not in collection.index_information()
    indexes, collscan = scanned_indexes(collection.find({"number": {"$in": [1, 150]}}).explain())
    assert indexes == ["number_unique_v2"] and not collscan


# -- CONTRACT 6.1 and 6.5 with the value types a server stores ---------------------------------

def test_on_a_real_server_only_the_boolean_true_is_synced_and_int64_duplicates_are_one_number(server_workspace):
    import math
    from datetime import datetime, timezone

    from bson import Decimal128, Int64

    workspace, collection = server_workspace
    collection.insert_many([tracos_document(n, isSynced=value) for n, value in
                            enumerate([1, 1.0, Int64(1), "true", Decimal128("1")], start=1)])
    older = collection.insert_one(tracos_document(Int64(7), title="older", updatedAt=datetime(2024, 3, 1, tzinfo=timezone.utc)))
    collection.insert_one(tracos_document(Int64(7), title="newer", updatedAt=datetime(2024, 3, 5, tzinfo=timezone.utc)))
    collection.insert_many([{**tracos_document(n), "_id": _id} for n, _id in ((8, math.nan), (9, 1), (10, 2.5))])
    result = workspace.run("outbound_job", {"ops": {"export_unsynced": {"config": {"page_size": 1}}}})
    assert result.success
    assert read_json(workspace.outbound / "7.json")["summary"] == "newer"
    assert sorted(workspace.outbound_files()) == sorted(f"{n}.json" for n in (1, 2, 3, 4, 5, 7, 8, 9, 10))
    assert collection.find_one({"_id": older.inserted_id})["isSynced"] is False
    collection.insert_one(tracos_document(11))  # a later run never brings the older 7 back
    assert workspace.run("outbound_job").success
    assert read_json(workspace.outbound / "7.json")["summary"] == "newer"
    assert collection.count_documents({"isSynced": {"$ne": True}}) == 1
