"""MongoDB failures: retries ride out outages, a long outage fails cleanly, partial bulk
writes keep what succeeded."""

from datetime import datetime, timezone

from pymongo.errors import AutoReconnect, NetworkTimeout, NotPrimaryError, ServerSelectionTimeoutError

from tracos_integration.tracos.resource import MongoResource
from tracos_integration_tests.conftest import inbound_metadata, outbound_metadata
from tracos_integration_tests.factories import client_order, drop, tracos_document
from tracos_integration_tests.reliability.harness import (
    FailingCollection,
    FakeTime,
    partial_bulk_failure,
    tally,
    use_collection,
    use_fake_time,
)


def inbound_orders(workspace, count, title="client"):
    drop(workspace.inbound, "orders.json", [client_order(n, summary=f"{title} {n}") for n in range(1, count + 1)])
    return {n: f"{title} {n}" for n in range(1, count + 1)}


def test_mongodb_down_for_30_seconds_mid_run_then_the_run_succeeds(workspace, monkeypatch, figures):
    expected = inbound_orders(workspace, 6)
    workspace.collection.insert_many([tracos_document(n) for n in range(100, 104)])
    fake = FakeTime()
    flaky = FailingCollection(MongoResource(uri=workspace.mongo_uri).get_collection(), fake)
    started = []

    def outage_starts(*args, **kwargs):
        if not started:  # the first write finds MongoDB gone for 30 (simulated) seconds
            started.append(fake.now)
            flaky.down_between(fake.now, fake.now + 30, lambda: ServerSelectionTimeoutError("db:27017: connection refused"))

    flaky.before("bulk_write", outage_starts)
    use_collection(monkeypatch, flaky)
    use_fake_time(monkeypatch, fake)

    result = workspace.run("sync_job")
    assert result.success
    assert fake.now >= 30 and len(fake.slept) >= 3  # it really waited the outage out
    counts = tally(workspace.collection, expected)
    assert counts["lost"] == 0 and counts["duplicated"] == 0
    assert workspace.collection.count_documents({"isSynced": {"$ne": True}}) == 0
    assert workspace.processed() == ["orders.json"]
    figures(records_in=10, applied=counts["applied"] + 4, rejected=0, lost=counts["lost"], duplicated=counts["duplicated"])


def test_outage_longer_than_the_retry_budget_fails_cleanly_then_the_next_run_completes(workspace, monkeypatch, figures):
    expected = inbound_orders(workspace, 3)
    workspace.collection.insert_one(tracos_document(50))
    fake = FakeTime()
    down = FailingCollection(MongoResource(uri=workspace.mongo_uri).get_collection(), fake)
    down.down_between(0, 10_000, lambda: NotPrimaryError("no primary"))
    with monkeypatch.context() as patch:
        use_collection(patch, down)
        use_fake_time(patch, fake)
        result = workspace.run("sync_job")
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "still unreachable" in failure.event_specific_data.error.message
    assert (workspace.inbound / "orders.json").exists() and workspace.processed() == [] and workspace.failed() == []
    assert workspace.outbound_files() == []
    assert workspace.collection.count_documents({"isSynced": True}) == 0

    assert workspace.run("sync_job").success
    counts = tally(workspace.collection, expected)
    assert counts["lost"] == 0 and workspace.outbound_files() == ["50.json"]
    assert workspace.collection.count_documents({"isSynced": {"$ne": True}}) == 0
    figures(records_in=4, applied=counts["applied"] + 1, rejected=0, lost=counts["lost"], duplicated=counts["duplicated"])


def test_each_transient_error_kind_is_retried(workspace, monkeypatch, figures):
    expected = inbound_orders(workspace, 2)
    fake = FakeTime()
    errors = [AutoReconnect("reset"), NetworkTimeout("timed out"), NotPrimaryError("stepped down"),
              ServerSelectionTimeoutError("no server")]
    flaky = FailingCollection(MongoResource(uri=workspace.mongo_uri).get_collection(), fake)
    flaky.fail_when("bulk_write", lambda n: n <= 4, lambda *a, **k: errors.pop(0))
    use_collection(monkeypatch, flaky)
    use_fake_time(monkeypatch, fake)
    assert workspace.run("inbound_job").success
    counts = tally(workspace.collection, expected)
    assert counts == {"applied": 2, "lost": 0, "duplicated": 0} and len(fake.slept) == 4
    figures(records_in=2, applied=2, rejected=0, lost=0, duplicated=0)


def test_bulk_write_error_with_partial_success_keeps_the_writes_and_rejects_the_rest(workspace, monkeypatch, figures):
    expected = inbound_orders(workspace, 5)
    inner = MongoResource(uri=workspace.mongo_uri).get_collection()
    flaky = FailingCollection(inner)
    flaky.fail_when("bulk_write", lambda n: n == 1, partial_bulk_failure({2, 4}, inner=inner))
    use_collection(monkeypatch, flaky)
    result = workspace.run("inbound_job")
    assert result.success
    metadata = inbound_metadata(result)
    assert metadata["inserted"] == 3 and metadata["rejected"] == 2
    assert sorted(d["number"] for d in inner.find({})) == [1, 3, 5]
    rejected = {row.data["orderNo"]: row.data["reason"] for row in metadata["rejected_records"].records}
    assert set(rejected) == {2, 4} and all("TracOS refused the write" in reason for reason in rejected.values())
    assert metadata["read"] == metadata["inserted"] + metadata["updated"] + metadata["unchanged"] + metadata["stale"] + metadata["rejected"]
    assert workspace.failed() == ["orders.json", "orders.json.error.json"]
    counts = tally(inner, {n: t for n, t in expected.items() if n not in (2, 4)})
    figures(records_in=5, applied=counts["applied"], rejected=2, lost=counts["lost"], duplicated=counts["duplicated"])


def test_duplicate_key_race_in_a_bulk_write_is_re_decided(workspace, monkeypatch, figures):
    expected = inbound_orders(workspace, 3)
    inner = MongoResource(uri=workspace.mongo_uri).get_collection()
    flaky = FailingCollection(inner)

    def someone_else_inserts_2(*args, **kwargs):  # between our $in find and our bulk_write
        if flaky.calls["bulk_write"] == 1:
            inner.insert_one(tracos_document(2, title="older, from elsewhere", updatedAt=datetime(2024, 1, 1, tzinfo=timezone.utc)))

    flaky.before("bulk_write", someone_else_inserts_2)
    use_collection(monkeypatch, flaky)
    result = workspace.run("inbound_job")
    assert result.success
    assert inner.find_one({"number": 2})["title"] == "client 2"  # ours is newer: applied as an update
    assert inner.count_documents({"number": 2}) == 1
    metadata = inbound_metadata(result)
    assert metadata["inserted"] == 2 and metadata["updated"] == 1
    counts = tally(inner, expected)
    figures(records_in=3, applied=counts["applied"], rejected=0, lost=counts["lost"], duplicated=counts["duplicated"])


def test_partial_failure_while_marking_leaves_the_rest_unsynced_for_next_run(workspace, monkeypatch, figures):
    inner = MongoResource(uri=workspace.mongo_uri).get_collection()
    inner.insert_many([tracos_document(n) for n in range(1, 5)])

    def refuse_mark_of_3(operations, *args, **kwargs):
        from pymongo.errors import BulkWriteError

        keep = [op for op in operations if op._filter.get("number", {}).get("$eq") != 3]
        result = inner.bulk_write(keep, ordered=False)
        return BulkWriteError({"writeErrors": [{"index": 2, "code": 121, "errmsg": "refused"}],
                               "nModified": result.modified_count, "nMatched": result.matched_count, "upserted": []})

    flaky = FailingCollection(inner)
    flaky.fail_when("bulk_write", lambda n: n == 1, refuse_mark_of_3)
    with monkeypatch.context() as patch:
        use_collection(patch, flaky)
        result = workspace.run("outbound_job")
    assert result.success
    assert outbound_metadata(result)["marked_synced"] == 3
    assert inner.find_one({"number": 3})["isSynced"] is False
    assert workspace.run("outbound_job").success
    assert inner.count_documents({"isSynced": True}) == 4
    figures(records_in=4, applied=4, rejected=0, lost=0, duplicated=0)
