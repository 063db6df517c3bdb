"""The same sync against a real MongoDB server. Skipped unless MONGO_URI names one:

    docker compose up -d
    MONGO_URI=mongodb://localhost:27017/tractian .venv/bin/python -m pytest -m real_mongo
"""

import os
import uuid

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
