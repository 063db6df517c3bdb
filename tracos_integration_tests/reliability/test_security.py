"""Security: operators through values, credentials in logs and metadata, paths."""

import logging

from tracos_integration.tracos.resource import MongoResource
from tracos_integration_tests.conftest import outbound_metadata
from tracos_integration_tests.factories import client_order, drop, read_json, tracos_document


def test_mongodb_operators_in_field_values_are_rejected(workspace, figures):
    evil = [
        {**client_order(1), "orderNo": {"$gt": ""}},
        {**client_order(2), "summary": {"$ne": None}},
        {**client_order(3), "creationDate": {"$where": "1"}},
        {**client_order(4), "isDone": {"$exists": True}},
        {**client_order(5), "$set": {"isSynced": False}},  # an unknown key: ignored, never a query
    ]
    drop(workspace.inbound, "evil.json", evil)
    result = workspace.run("inbound_job")
    assert result.success
    assert [d["number"] for d in workspace.collection.find({})] == [5]
    assert "$set" not in workspace.collection.find_one({"number": 5})
    errors = read_json(workspace.inbound / "failed" / "evil.json.error.json")["errors"]
    assert [e["index"] for e in errors] == [0, 1, 2, 3]
    figures(records_in=5, applied=1, rejected=4, lost=0, duplicated=0)


def test_credentials_never_appear_in_logs_or_metadata(workspace, caplog, figures):
    drop(workspace.inbound, "a.json", [client_order(1)])
    secret_uri = "mongodb://tracos_admin:Sup3rS3cret@127.0.0.1:9/tractian?authSource=admin"
    mongo = MongoResource(uri=secret_uri, retry_budget_seconds=0.3, server_selection_timeout_ms=50)
    with caplog.at_level(logging.DEBUG):
        result = workspace.run("sync_job", mongo=mongo)
    assert not result.success
    everything = caplog.text + " ".join(str(event) for event in result.all_events)
    assert "Sup3rS3cret" not in everything and "tracos_admin" not in everything
    assert "mongodb://***@127.0.0.1:9" in everything
    figures(records_in=1, applied=0, rejected=0, lost=0, duplicated=0)


def test_nothing_from_input_builds_a_path_outside_the_data_folders(workspace, tmp_path, figures):
    escape = tmp_path / "escaped"
    escape.mkdir()
    workspace.collection.insert_many([
        tracos_document(1),
        {**tracos_document(2), "number": "../escaped/owned"},
        {**tracos_document(3), "number": -1},
    ])
    drop(workspace.inbound, "..json", [client_order(4)])  # hidden: never read
    drop(workspace.inbound, "x.json", [{**client_order(5), "orderNo": "../../escaped/x"}])
    assert workspace.run("sync_job").success
    assert list(escape.iterdir()) == []
    assert workspace.outbound_files() == ["1.json"]
    result = outbound_metadata(workspace.run("outbound_job"))
    assert result["skipped"] == 2
    outside = [p for p in tmp_path.rglob("*") if p.is_file() and not str(p).startswith((str(workspace.inbound), str(workspace.outbound)))]
    assert all(p.parent == tmp_path or "escaped" not in str(p) for p in outside)
    figures(records_in=5, applied=1, rejected=3, lost=0, duplicated=0)
