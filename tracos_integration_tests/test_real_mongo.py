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
        pytest.skip(f"MongoDB at {resource.display_name} is not reachable: {type(error).__name__}")
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
