"""MongoResource and its stores (CONTRACT sections 1-2)."""

import sqlite3
import subprocess
import sys
import textwrap
import uuid
from datetime import datetime, timezone

import mongomock
import pymongo
import pytest
from pymongo.errors import AutoReconnect, NotPrimaryError, ServerSelectionTimeoutError

from tracos_integration.tracos.resource import MongoResource
from tracos_integration.tracos.retry import Retrier, TracosUnavailable
from tracos_integration.tracos.uris import redact
from tracos_integration_tests.factories import tracos_document
from tracos_integration_tests.reliability.harness import FakeTime

UTC = timezone.utc


def test_clients_for_the_same_mongomock_uri_share_data():
    uri = f"mongomock://{uuid.uuid4().hex}"
    MongoResource(uri=uri).get_collection().insert_one(tracos_document(1))
    assert MongoResource(uri=uri).get_collection().count_documents({}) == 1
    assert MongoResource(uri=f"mongomock://{uuid.uuid4().hex}").get_collection().count_documents({}) == 0


def test_configuration_is_read_from_the_environment_when_used(monkeypatch):
    resource = MongoResource()
    monkeypatch.setenv("MONGO_URI", "mongomock://late")
    monkeypatch.setenv("MONGO_DATABASE", "plant")
    monkeypatch.setenv("MONGO_COLLECTION", "orders")
    collection = resource.get_collection()
    assert collection.full_name == "plant.orders"
    assert resource.server_label == "mongomock://late (plant.orders)"


def test_defaults_match_the_contract(monkeypatch):
    for variable in ("MONGO_URI", "MONGO_DATABASE", "MONGO_COLLECTION"):
        monkeypatch.delenv(variable, raising=False)
    resource = MongoResource()
    assert (resource.resolved_uri, resource.resolved_database, resource.resolved_collection) == (
        "mongodb://localhost:27017/tractian", "tractian", "workorders"
    )


def test_bulk_update_one_works_on_mongomock_with_current_pymongo():
    collection = mongomock.MongoClient()["db"]["c"]
    result = collection.bulk_write([pymongo.UpdateOne({"number": 1}, {"$set": {"title": "x"}}, upsert=True)])
    assert result.upserted_count == 1 and collection.find_one({"number": 1})["title"] == "x"


def test_the_shim_refuses_a_real_sort_instead_of_ignoring_it():
    collection = mongomock.MongoClient()["db"]["c"]
    with pytest.raises(NotImplementedError):
        collection.bulk_write([pymongo.UpdateOne({}, {"$set": {"a": 1}}, sort={"a": 1})])


def test_embedded_store_keeps_data_between_processes(tmp_path):
    uri = f"embedded://{tmp_path / 'tracos.json'}"
    script = textwrap.dedent(f"""
        from datetime import datetime, timezone
        from tracos_integration.tracos.resource import MongoResource
        MongoResource(uri={uri!r}).get_collection().insert_one(
            {{"number": 1, "updatedAt": datetime(2024, 1, 1, 12, 0, 0, 123000, tzinfo=timezone.utc)}})
    """)
    subprocess.run([sys.executable, "-c", script], check=True)
    document = MongoResource(uri=uri).get_collection().find_one({"number": 1})
    assert document["updatedAt"] == datetime(2024, 1, 1, 12, 0, 0, 123000, tzinfo=UTC)
    # one SQLite file per collection, one BSON row per document (not pickle)
    with sqlite3.connect(tmp_path / "tracos" / "tractian" / "workorders") as saved:
        assert saved.execute("SELECT count(*) FROM documents").fetchone() == (1,)


def test_embedded_store_sees_writes_from_another_process_after_it_loaded(tmp_path):
    uri = f"embedded://{tmp_path / 'tracos.json'}"
    collection = MongoResource(uri=uri).get_collection()
    collection.insert_one({"number": 1})
    script = f"from tracos_integration.tracos.resource import MongoResource; MongoResource(uri={uri!r}).get_collection().insert_one({{'number': 2}})"
    subprocess.run([sys.executable, "-c", script], check=True)
    assert sorted(d["number"] for d in collection.find({})) == [1, 2]


def test_embedded_store_keeps_the_unique_index(tmp_path):
    uri = f"embedded://{tmp_path / 'tracos.json'}"
    MongoResource(uri=uri).repository().ensure_indexes()
    from tracos_integration.tracos.stores import embedded

    embedded._STORES.clear()  # as a new process would
    collection = MongoResource(uri=uri).get_collection()
    collection.insert_one({"number": 1})
    with pytest.raises(pymongo.errors.DuplicateKeyError):
        collection.insert_one({"number": 1})


def test_unsupported_uri_is_a_clear_error_without_credentials():
    with pytest.raises(ValueError) as caught:
        MongoResource(uri="postgres://user:hunter2@db/x").get_collection()
    assert "hunter2" not in str(caught.value) and "mongodb://" in str(caught.value)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("mongodb://admin:s3cret@db:27017/tractian", "mongodb://***@db:27017/tractian"),
        ("mongodb+srv://u:p@cluster.example/x?password=abc&w=1", "mongodb+srv://***@cluster.example/x?password=***&w=1"),
        ("mongodb://db:27017/tractian", "mongodb://db:27017/tractian"),
    ],
)
def test_credentials_are_redacted(text, expected):
    assert redact(text) == expected


def test_retry_rides_out_a_transient_outage_without_real_waiting():
    fake = FakeTime()
    failures = [AutoReconnect("down"), NotPrimaryError("stepping down"), ServerSelectionTimeoutError("no server")]

    def flaky():
        if failures:
            raise failures.pop(0)
        return "ok"

    retrier = Retrier(budget_seconds=60, sleep=fake.sleep, clock=fake.clock)
    assert retrier.call(flaky, "read") == "ok"
    assert len(fake.slept) == 3
    assert all(delay <= retrier.max_delay for delay in fake.slept)


def test_retry_gives_up_after_its_budget_with_a_clear_error():
    fake = FakeTime()

    def down():
        fake.now += 5  # each attempt waits for server selection
        raise ServerSelectionTimeoutError("db:27017: connection refused")

    retrier = Retrier(budget_seconds=30, server="mongodb://db:27017/tractian", sleep=fake.sleep, clock=fake.clock)
    with pytest.raises(TracosUnavailable) as caught:
        retrier.call(down, "read work orders")
    assert fake.now <= 30 + retrier.max_delay
    assert "mongodb://db:27017/tractian still unreachable" in str(caught.value)
    assert "read work orders" in str(caught.value)


def test_retry_does_not_retry_errors_that_are_not_transient():
    calls = []

    def broken():
        calls.append(1)
        raise pymongo.errors.OperationFailure("bad query")

    with pytest.raises(pymongo.errors.OperationFailure):
        Retrier(sleep=lambda s: None).call(broken, "read")
    assert len(calls) == 1
