"""What a real MongoDB server does that mongomock does not, simulated by the strict server
double, and the data the sync must never lose or leave behind because of it."""

from datetime import datetime, timezone

import pytest
from bson import ObjectId
from bson.datetime_ms import DatetimeMS
from pymongo.errors import BulkWriteError

from tracos_integration.tracos.indexes import (
    NUMBER_LOOKUP_INDEX,
    NUMERIC_NUMBER,
    REPLACEMENT_UNIQUE_NUMBER_INDEX,
    UNIQUE_NUMBER_INDEX,
)
from tracos_integration.tracos.queries import WorkOrderRepository
from tracos_integration.tracos.resource import MongoResource
from tracos_integration.tracos.retry import Retrier
from tracos_integration_tests.conftest import inbound_metadata, outbound_metadata
from tracos_integration_tests.factories import ABSENT, client_order, drop, read_json, tracos_document
from tracos_integration_tests.reliability.harness import FailingCollection, use_collection
from tracos_integration_tests.strict_server import StrictCollection

UTC = timezone.utc


def inbound_counts(result):
    return inbound_metadata(result)


# -- inbound: what TracOS held decides, and every unwritten record is rejected -------------

@pytest.mark.parametrize("stored", ["not a date", None, ABSENT], ids=["string", "null", "missing"])
def test_a_stored_updatedAt_that_is_not_a_date_is_older_and_the_record_is_applied(workspace, server, stored, figures):
    server.insert_one(tracos_document(1, title="in TracOS", updatedAt=stored))
    drop(workspace.inbound, "a.json", client_order(1, summary="from the client"))
    result = workspace.run("inbound_job")
    assert result.success
    assert server.find_one({"number": 1})["title"] == "from the client"
    assert server.find_one({"number": 1})["updatedAt"] == datetime(2024, 3, 2, 10, tzinfo=UTC)
    counts = inbound_counts(result)
    assert (counts["updated"], counts["stale"], counts["rejected"]) == (1, 0, 0)
    assert workspace.processed() == ["a.json"]
    figures(records_in=1, applied=1, rejected=0, lost=0, duplicated=0)


def test_a_write_another_unique_index_refuses_is_rejected_with_its_key_not_counted_stale(workspace, server, figures):
    server.insert_one(tracos_document(1, title="Pump 7"))
    server._inner.create_index([("title", 1)], unique=True, name="title_unique")  # the customer's own index
    drop(workspace.inbound, "a.json", [client_order(2, summary="Pump 7"), client_order(3)])
    result = workspace.run("inbound_job")
    assert result.success
    counts = inbound_counts(result)
    assert (counts["inserted"], counts["stale"], counts["rejected"]) == (1, 0, 1)
    assert server.count_documents({"number": 2}) == 0 and server.count_documents({"number": 3}) == 1
    assert workspace.failed() == ["a.json", "a.json.error.json"]
    [error] = read_json(workspace.inbound / "failed" / "a.json.error.json")["errors"]
    assert error["index"] == 0
    assert "unique index on title" in error["reason"] and "Pump 7" in error["reason"]
    figures(records_in=2, applied=1, rejected=1, lost=0, duplicated=0)


def test_a_transient_code_among_the_write_errors_is_retried_not_a_rejection(workspace, server, monkeypatch, figures):
    from tracos_integration_tests.reliability.harness import FakeTime, use_fake_time

    use_fake_time(monkeypatch, FakeTime())
    server.fail_writes(times=2, code=11602, errmsg="operation was interrupted because of a replica set state change")
    drop(workspace.inbound, "a.json", [client_order(1), client_order(2)])
    result = workspace.run("inbound_job")
    assert result.success
    counts = inbound_counts(result)
    assert counts["rejected"] == 0 and counts["inserted"] + counts["unchanged"] == 2
    assert server.count_documents({}) == 2 and workspace.processed() == ["a.json"]
    figures(records_in=2, applied=2, rejected=0, lost=0, duplicated=0)


def test_a_descending_unique_index_on_number_is_the_number_index_and_a_clash_on_it_is_a_race(workspace, server, figures):
    server._inner.create_index([("number", -1)], unique=True, name="their_number_index")
    send = server.bulk_write
    writes = []

    def another_upsert_inserts_the_number_first(operations, **kwargs):
        writes.append(1)
        if len(writes) > 1:
            return send(operations, **kwargs)
        # Two upserts of one number at once: the other inserts, ours hits the unique index.
        server._inner.insert_one(tracos_document(1, title="elsewhere", updatedAt=datetime(2024, 1, 1, tzinfo=UTC)))
        raise BulkWriteError({
            "writeErrors": [{"index": 0, "code": 11000, "errmsg": "E11000 duplicate key error",
                             "keyPattern": {"number": -1}, "keyValue": {"number": 1}}],
            "writeConcernErrors": [], "nInserted": 0, "nUpserted": 0, "nMatched": 0, "nModified": 0,
            "nRemoved": 0, "upserted": []})

    server.bulk_write = another_upsert_inserts_the_number_first
    drop(workspace.inbound, "a.json", client_order(1, summary="from the client"))
    result = workspace.run("inbound_job")
    assert result.success
    assert set(server.index_information()) == {"_id_", "isSynced_id", "their_number_index"}
    counts = inbound_counts(result)
    assert (counts["updated"], counts["rejected"]) == (1, 0)  # decided again: the client's record is newer
    assert server.find_one({"number": 1})["title"] == "from the client" and server.count_documents({}) == 1
    figures(records_in=1, applied=1, rejected=0, lost=0, duplicated=0)


def test_a_compare_and_swap_that_misses_is_decided_again_against_what_tracos_now_holds(workspace, monkeypatch, figures):
    inner = MongoResource(uri=workspace.mongo_uri).get_collection()
    inner.insert_one(tracos_document(1, title="in TracOS", updatedAt="garbage"))
    flaky = FailingCollection(inner)

    def someone_else_rewrites(*args, **kwargs):  # between our read and our write, still not a date
        if flaky.calls["bulk_write"] == 1:
            inner.update_one({"number": 1}, {"$set": {"updatedAt": "other garbage", "title": "elsewhere"}})

    flaky.before("bulk_write", someone_else_rewrites)
    use_collection(monkeypatch, flaky)
    drop(workspace.inbound, "a.json", client_order(1, summary="from the client"))
    result = workspace.run("inbound_job")
    assert result.success
    assert inner.find_one({"number": 1})["title"] == "from the client"
    assert inbound_counts(result)["updated"] == 1 and flaky.calls["bulk_write"] == 2
    figures(records_in=1, applied=1, rejected=0, lost=0, duplicated=0)


def test_a_newer_write_elsewhere_between_read_and_write_makes_the_record_stale(workspace, monkeypatch, figures):
    inner = MongoResource(uri=workspace.mongo_uri).get_collection()
    inner.insert_one(tracos_document(1, title="in TracOS", updatedAt=datetime(2024, 1, 1, tzinfo=UTC)))
    flaky = FailingCollection(inner)

    def someone_else_updates_later(*args, **kwargs):
        if flaky.calls["bulk_write"] == 1:
            inner.update_one({"number": 1}, {"$set": {"updatedAt": datetime(2025, 1, 1, tzinfo=UTC), "title": "newer"}})

    flaky.before("bulk_write", someone_else_updates_later)
    use_collection(monkeypatch, flaky)
    drop(workspace.inbound, "a.json", client_order(1))
    result = workspace.run("inbound_job")
    assert result.success and inner.find_one({"number": 1})["title"] == "newer"
    counts = inbound_counts(result)
    assert (counts["updated"], counts["stale"]) == (0, 1)  # stale: truly older than what TracOS holds
    figures(records_in=1, applied=0, rejected=0, lost=0, duplicated=0)


def test_a_write_concern_error_is_never_counted_applied_and_the_next_run_confirms(workspace, server, figures):
    drop(workspace.inbound, "a.json", [client_order(1), client_order(2)])
    server.fail_write_concern(times=1)
    result = workspace.run("inbound_job")
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.error.message
    assert "did not confirm" in message and "code 64" in message and "No inbound file was moved" in message
    assert (workspace.inbound / "a.json").exists() and workspace.processed() == [] and workspace.failed() == []

    rerun = workspace.run("inbound_job")
    assert rerun.success
    counts = inbound_counts(rerun)
    assert counts["read"] == 2 and counts["rejected"] == 0 and counts["inserted"] + counts["unchanged"] == 2
    assert workspace.processed() == ["a.json"] and server.count_documents({}) == 2
    figures(records_in=2, applied=2, rejected=0, lost=0, duplicated=0)


def test_a_write_concern_error_while_marking_leaves_the_documents_for_the_next_run(workspace, server, figures):
    server.insert_many([tracos_document(1), tracos_document(2)])
    server.fail_write_concern(times=1)
    result = workspace.run("outbound_job")
    assert not result.success
    assert sorted(workspace.outbound_files()) == ["1.json", "2.json"]  # files first, marks after
    assert workspace.run("outbound_job").success
    assert server.count_documents({"isSynced": True}) == 2
    figures(records_in=2, applied=2, rejected=0, lost=0, duplicated=0)


# -- indexes -------------------------------------------------------------------------------

def test_the_unique_index_is_built_although_documents_lack_a_number(workspace, server, figures):
    server.insert_many([{"title": "no number"}, {"title": "no number either"}, {"number": "A-7", "title": "text"}])
    drop(workspace.inbound, "a.json", client_order(1))
    assert workspace.run("inbound_job").success
    index = server.index_information()[UNIQUE_NUMBER_INDEX]
    assert index["unique"] and index["partialFilterExpression"] == {"number": {"$gte": float("-inf")}}
    figures(records_in=1, applied=1, rejected=0, lost=0, duplicated=0)


def test_an_equivalent_index_under_another_name_is_accepted(workspace, server, figures):
    server._inner.create_index([("number", 1)], unique=True, name="customers_number_index")
    server._inner.create_index([("isSynced", 1), ("_id", 1)], name="their_outbound_index")
    drop(workspace.inbound, "a.json", client_order(1))
    result = workspace.run("sync_job")
    assert result.success  # no code 85 from creating the same key pattern again
    assert set(server.index_information()) == {"_id_", "customers_number_index", "their_outbound_index"}
    figures(records_in=1, applied=1, rejected=0, lost=0, duplicated=0)


def test_an_index_name_taken_by_another_key_is_a_warning_not_a_failure(workspace, server, figures):
    server._inner.create_index([("title", 1)], name=UNIQUE_NUMBER_INDEX)
    drop(workspace.inbound, "a.json", [client_order(1)])
    result = workspace.run("inbound_job")
    assert result.success and server.count_documents({"number": 1}) == 1
    warnings = [message for message in workspace.logged(result) if "with other options" in message]
    assert warnings and "code 86" in warnings[0]
    figures(records_in=1, applied=1, rejected=0, lost=0, duplicated=0)


def test_without_the_index_privilege_the_sync_still_works_and_says_what_to_ask_for(workspace, monkeypatch, figures):
    strict = StrictCollection(MongoResource(uri=workspace.mongo_uri).get_collection(), unauthorized=frozenset({"createIndexes"}))
    use_collection(monkeypatch, strict)
    drop(workspace.inbound, "a.json", client_order(1))
    strict.insert_one(tracos_document(5))
    result = workspace.run("sync_job")
    assert result.success and strict.count_documents({"number": 1}) == 1
    assert workspace.outbound_files() == ["5.json"]
    warnings = [message for message in workspace.logged(result) if "not allowed to create the index" in message]
    assert warnings and "code 13" in warnings[0]
    figures(records_in=2, applied=2, rejected=0, lost=0, duplicated=0)


def test_duplicates_block_the_unique_index_but_a_plain_one_keeps_lookups_indexed(workspace, server, figures):
    server.insert_many([tracos_document(8, title="first"), tracos_document(8, title="second")])
    drop(workspace.inbound, "a.json", [client_order(1), client_order(8)])
    result = workspace.run("inbound_job")
    assert result.success
    indexes = server.index_information()
    assert UNIQUE_NUMBER_INDEX not in indexes and indexes[NUMBER_LOOKUP_INDEX]["key"] == [("number", 1)]
    counts = inbound_counts(result)
    assert counts["inserted"] == 1 and counts["rejected"] == 1 and counts["duplicate_numbers_in_tracos"] == [8]
    figures(records_in=2, applied=1, rejected=1, lost=0, duplicated=0)


def queries_by_number(server):
    return [query for query in server.queries if "number" in str(query)]


def test_every_query_by_number_can_use_an_index(workspace, server, figures):
    server.insert_many([tracos_document(7, title="older", updatedAt=datetime(2024, 3, 1, tzinfo=UTC)),
                        tracos_document(3), tracos_document(4, isSynced=True)])
    drop(workspace.inbound, "a.json", [client_order(1), client_order(4, summary="newer")])
    assert workspace.run("sync_job").success
    drop(workspace.inbound, "b.json", [client_order(1, summary="again", lastUpdateDate="2025-01-01T00:00:00Z")])
    assert workspace.run("sync_job").success
    asked = queries_by_number(server)
    assert len(asked) >= 4  # lookups, upserts, and the outbound lookup of duplicates
    assert [query for query in asked if not server.eligible_indexes(query)] == []
    figures(records_in=5, applied=5, rejected=0, lost=0, duplicated=0)


def test_the_unique_index_of_earlier_versions_is_replaced_by_one_queries_can_use(workspace, server, figures):
    server._inner.create_index([("number", 1)], unique=True, name=UNIQUE_NUMBER_INDEX,
                               partialFilterExpression={"number": {"$type": "number"}})
    assert server.eligible_indexes({"number": 1}) == []  # the planner cannot prove {number: 1} implies $type
    drop(workspace.inbound, "a.json", client_order(1))
    result = workspace.run("inbound_job")
    assert result.success and not workspace.logged(result)
    indexes = server.index_information()
    assert UNIQUE_NUMBER_INDEX not in indexes
    assert indexes[REPLACEMENT_UNIQUE_NUMBER_INDEX]["unique"]
    assert indexes[REPLACEMENT_UNIQUE_NUMBER_INDEX]["partialFilterExpression"] == NUMERIC_NUMBER
    assert [query for query in queries_by_number(server) if not server.eligible_indexes(query)] == []
    assert workspace.run("inbound_job").success and set(server.index_information()) == set(indexes)
    figures(records_in=1, applied=1, rejected=0, lost=0, duplicated=0)


def test_the_old_unique_index_goes_once_another_unique_index_on_number_serves_the_queries(workspace, server, figures):
    server._inner.create_index([("number", 1)], unique=True, name=UNIQUE_NUMBER_INDEX,
                               partialFilterExpression={"number": {"$type": "number"}})
    server._inner.create_index([("number", -1)], unique=True, name="customers_number_index")
    drop(workspace.inbound, "a.json", client_order(1))
    result = workspace.run("inbound_job")
    assert result.success and not workspace.logged(result)
    assert set(server.index_information()) == {"_id_", "isSynced_id", "customers_number_index"}
    figures(records_in=1, applied=1, rejected=0, lost=0, duplicated=0)


def test_a_server_before_5_0_keeps_the_old_index_and_the_run_says_every_lookup_scans(workspace, monkeypatch, figures):
    old_server = StrictCollection(MongoResource(uri=workspace.mongo_uri).get_collection(), version=(4, 4))
    use_collection(monkeypatch, old_server)
    old_server._inner.create_index([("number", 1)], unique=True, name=UNIQUE_NUMBER_INDEX,
                                   partialFilterExpression={"number": {"$type": "number"}})
    drop(workspace.inbound, "a.json", client_order(1))
    result = workspace.run("inbound_job")
    assert result.success and old_server.count_documents({"number": 1}) == 1
    assert set(old_server.index_information()) == {"_id_", "isSynced_id", UNIQUE_NUMBER_INDEX}
    warnings = [message for message in workspace.logged(result) if "no query by number can use" in message]
    assert warnings and "drop it" in warnings[0]
    figures(records_in=1, applied=1, rejected=0, lost=0, duplicated=0)


def test_the_old_unique_index_stays_until_its_replacement_is_built(workspace, server, monkeypatch, figures):
    from tracos_integration_tests.reliability.harness import FakeTime, use_fake_time

    use_fake_time(monkeypatch, FakeTime())
    server._inner.create_index([("number", 1)], unique=True, name=UNIQUE_NUMBER_INDEX,
                               partialFilterExpression={"number": {"$type": "number"}})
    server.slow_index_builds()
    drop(workspace.inbound, "a.json", client_order(1))
    assert workspace.run("inbound_job").success
    assert {UNIQUE_NUMBER_INDEX, REPLACEMENT_UNIQUE_NUMBER_INDEX} <= set(server.index_information())  # no moment without one
    server.finish_index_builds()
    assert workspace.run("inbound_job").success
    assert UNIQUE_NUMBER_INDEX not in server.index_information()
    figures(records_in=1, applied=1, rejected=0, lost=0, duplicated=0)


# -- outbound ------------------------------------------------------------------------------

def test_one_run_exports_every_unsynced_document_whatever_the_types_of_id(workspace, server, figures):
    ids = [7, 3.5, "a-string", {"composite": 1}, ObjectId(), datetime(2024, 1, 1, tzinfo=UTC)]
    server.insert_many([{**tracos_document(n), "_id": _id} for n, _id in enumerate(ids, start=1)])
    result = workspace.run("outbound_job", {"ops": {"export_unsynced": {"config": {"page_size": 2}}}})
    assert result.success
    assert sorted(workspace.outbound_files()) == sorted(f"{n}.json" for n in range(1, len(ids) + 1))
    assert server.count_documents({"isSynced": {"$ne": True}}) == 0
    figures(records_in=len(ids), applied=len(ids), rejected=0, lost=0, duplicated=0)


def test_odd_isSynced_values_count_as_unsynced(workspace, server, figures):
    server.insert_many([tracos_document(1, isSynced="no"), tracos_document(2, isSynced=0), tracos_document(3, isSynced=ABSENT),
                        tracos_document(4, isSynced=True)])
    assert workspace.run("outbound_job").success
    assert workspace.outbound_files() == ["1.json", "2.json", "3.json"]
    assert WorkOrderRepository(server, Retrier()).count_unsynced() == 0
    figures(records_in=3, applied=3, rejected=0, lost=0, duplicated=0)


def test_the_sensor_count_stops_at_its_limit(workspace, server):
    server.insert_many([tracos_document(n) for n in range(1, 6)] + [tracos_document(9, isSynced="odd")])
    repository = WorkOrderRepository(server, Retrier())
    assert repository.count_unsynced(limit=2) == 2
    assert repository.count_unsynced(limit=100) == 6 and repository.count_unsynced() == 6


def test_duplicate_numbers_export_only_the_latest_and_report_the_others(workspace, server, figures):
    older = server.insert_one(tracos_document(7, title="older", updatedAt=datetime(2024, 3, 1, tzinfo=UTC))).inserted_id
    newer = server.insert_one(tracos_document(7, title="newer", updatedAt=datetime(2024, 3, 5, tzinfo=UTC))).inserted_id
    server.insert_many([tracos_document(n) for n in (1, 2, 3)])
    result = workspace.run("outbound_job", {"ops": {"export_unsynced": {"config": {"page_size": 1}}}})
    assert result.success
    assert read_json(workspace.outbound / "7.json")["summary"] == "newer"
    assert server.find_one({"_id": newer})["isSynced"] is True
    assert server.find_one({"_id": older})["isSynced"] is False
    skipped = outbound_metadata(result)["skipped_documents"].records
    assert [row.data["document_id"] for row in skipped] == [str(older)]
    assert "duplicate number 7" in skipped[0].data["reason"]
    figures(records_in=5, applied=4, rejected=1, lost=0, duplicated=0)


def test_duplicate_numbers_on_a_tie_export_the_greatest_id(workspace, server):
    server.insert_many([{**tracos_document(7, title="id 2"), "_id": 2}, {**tracos_document(7, title="id 10"), "_id": 10}])
    assert workspace.run("outbound_job").success
    assert read_json(workspace.outbound / "7.json")["summary"] == "id 10"
    assert [d["_id"] for d in server.find({"isSynced": True})] == [10]


@pytest.mark.parametrize("fields", [{"description": None}, {"syncedAt": "garbage"}, {"description": 42, "extra": {"$x": 1}}],
                         ids=["description-null", "syncedAt-garbage", "odd-unexported"])
def test_fields_the_client_never_receives_never_block_an_export(workspace, server, fields, figures):
    server.insert_one({**tracos_document(1), **fields})
    assert workspace.run("outbound_job").success
    assert workspace.outbound_files() == ["1.json"]
    assert server.find_one({"number": 1})["isSynced"] is True
    figures(records_in=1, applied=1, rejected=0, lost=0, duplicated=0)


def test_a_date_outside_bsons_python_range_skips_that_document_with_a_reason(workspace, server, figures):
    year_10000 = DatetimeMS(253402300800000 + 86_400_000)
    server.insert_many([tracos_document(1, createdAt=year_10000), tracos_document(2)])
    result = workspace.run("outbound_job")
    assert result.success
    assert workspace.outbound_files() == ["2.json"]
    [row] = outbound_metadata(result)["skipped_documents"].records
    assert row.data["number"] == 1 and "outside years 1-9999" in row.data["reason"]
    assert server.find_one({"number": 1})["isSynced"] is False
    figures(records_in=2, applied=1, rejected=1, lost=0, duplicated=0)


def test_a_slow_index_build_never_blocks_syncing_and_is_left_to_the_server(workspace, server, monkeypatch, figures):
    from tracos_integration_tests.reliability.harness import FakeTime, use_fake_time

    use_fake_time(monkeypatch, FakeTime())
    server.slow_index_builds()
    server.insert_one(tracos_document(5))
    drop(workspace.inbound, "a.json", client_order(1))
    result = workspace.run("sync_job")
    assert result.success
    assert server.count_documents({"number": 1}) == 1 and workspace.outbound_files() == ["5.json"]
    warnings = [message for message in workspace.logged(result) if "is not built after" in message]
    assert warnings and "the server goes on building it" in warnings[0]
    assert UNIQUE_NUMBER_INDEX in server.building  # never interrupted (that would abort it): still building
    server.finish_index_builds()
    drop(workspace.inbound, "b.json", client_order(2))
    rerun = workspace.run("sync_job")
    assert rerun.success and not [m for m in workspace.logged(rerun) if "is not built after" in m]
    assert server.eligible_indexes({"number": 2}) == [UNIQUE_NUMBER_INDEX]
    figures(records_in=3, applied=3, rejected=0, lost=0, duplicated=0)


def test_a_transient_write_concern_error_is_retried_and_counted_once(workspace, server, monkeypatch, figures):
    from tracos_integration_tests.reliability.harness import FakeTime, use_fake_time

    use_fake_time(monkeypatch, FakeTime())
    server.fail_write_concern(times=2, code=91, errmsg="shutdown in progress", labels=["RetryableWriteError"])
    drop(workspace.inbound, "a.json", [client_order(1), client_order(2)])
    result = workspace.run("inbound_job")
    assert result.success
    counts = inbound_counts(result)
    assert counts["inserted"] + counts["unchanged"] == 2 and counts["rejected"] == 0 and counts["stale"] == 0
    assert server.count_documents({}) == 2 and workspace.processed() == ["a.json"]
    figures(records_in=2, applied=2, rejected=0, lost=0, duplicated=0)
