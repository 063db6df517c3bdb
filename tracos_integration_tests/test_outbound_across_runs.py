"""CONTRACT 6.1 and 6.5 across runs and with the value types a MongoDB server stores: the
file always holds the latest of a number, only the boolean `true` is synced, and one run
reaches every unsynced document whatever its `_id`."""

import math
from datetime import datetime, timezone

import pytest
from bson import Decimal128, Int64, ObjectId, Timestamp
from bson.datetime_ms import DatetimeMS

from tracos_integration.tracos.indexes import UNIQUE_NUMBER_INDEX
from tracos_integration.tracos.resource import MongoResource
from tracos_integration_tests.conftest import outbound_metadata
from tracos_integration_tests.factories import read_json, tracos_document

UTC = timezone.utc
OLDER, NEWER = datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 5, tzinfo=UTC)


def skipped_ids(result) -> list[str]:
    return [row.data["document_id"] for row in outbound_metadata(result)["skipped_documents"].records]


# -- 6.5: duplicates, synced or not ------------------------------------------------------------

def test_a_later_run_never_replaces_the_file_with_an_older_duplicate(workspace, server):
    older = server.insert_one(tracos_document(7, title="older", updatedAt=OLDER)).inserted_id
    newer = server.insert_one(tracos_document(7, title="newer", updatedAt=NEWER)).inserted_id
    assert workspace.run("outbound_job").success
    assert read_json(workspace.outbound / "7.json")["summary"] == "newer"

    server.insert_one(tracos_document(8))  # any other change starts another outbound run
    later = workspace.run("outbound_job")
    assert later.success
    assert read_json(workspace.outbound / "7.json")["summary"] == "newer"
    assert server.find_one({"_id": older})["isSynced"] is False  # the loser stays unsynced...
    assert server.find_one({"_id": newer})["isSynced"] is True
    assert skipped_ids(later) == [str(older)]  # ...and is reported again, by _id
    assert outbound_metadata(later)["exported"] == 1  # only 8


def test_an_older_duplicate_alone_among_the_unsynced_is_never_exported(workspace, server):
    server.insert_one(tracos_document(7, title="newer, synced", updatedAt=NEWER, isSynced=True))
    older = server.insert_one(tracos_document(7, title="older", updatedAt=OLDER)).inserted_id
    result = workspace.run("outbound_job")
    assert result.success
    assert workspace.outbound_files() == []
    assert server.find_one({"_id": older})["isSynced"] is False
    assert skipped_ids(result) == [str(older)]


def test_a_newer_duplicate_replaces_the_file_of_a_synced_older_one(workspace, server):
    server.insert_one(tracos_document(7, title="older, synced", updatedAt=OLDER, isSynced=True))
    server.insert_one(tracos_document(7, title="newer", updatedAt=NEWER))
    result = workspace.run("outbound_job")
    assert result.success
    assert read_json(workspace.outbound / "7.json")["summary"] == "newer"
    assert server.count_documents({"isSynced": True}) == 2 and skipped_ids(result) == []


@pytest.mark.parametrize("older_number, newer_number", [
    (Int64(7), Int64(7)), (7, Int64(7)), (Int64(7), 7), (7, 7.0), (Int64(7), Decimal128("7")),
], ids=["int64s", "int-int64", "int64-int", "int-double", "int64-decimal"])
def test_numbers_of_one_value_are_one_number_whatever_their_type(workspace, older_number, newer_number):
    collection = workspace.collection
    older = collection.insert_one(tracos_document(older_number, title="older", updatedAt=OLDER)).inserted_id
    newer = collection.insert_one(tracos_document(newer_number, title="newer", updatedAt=NEWER)).inserted_id
    result = workspace.run("outbound_job")
    assert result.success
    if isinstance(newer_number, int):  # int32 or int64: translatable, and the latest
        assert read_json(workspace.outbound / "7.json")["summary"] == "newer"
        assert collection.find_one({"_id": newer})["isSynced"] is True
    else:  # the latest cannot be translated: no older content stands in for it
        assert workspace.outbound_files() == []
        assert collection.find_one({"_id": newer})["isSynced"] is False
    assert collection.find_one({"_id": older})["isSynced"] is False
    rows = {row.data["document_id"]: row.data["number"] for row in outbound_metadata(result)["skipped_documents"].records}
    assert rows[str(older)] == 7  # an int64 number is shown as the number it is


def test_numbers_of_one_value_in_two_types_block_the_unique_index_and_the_older_never_goes_out_alone(workspace):
    """7 and 7.0 are one key to a server's unique index, which cannot be built over them
    (mongomock, patched, refuses it too): the lookup finds both, and the older 7 does not go
    out alone while the newer one cannot be translated."""
    collection = workspace.collection
    older = collection.insert_one(tracos_document(7, title="older", updatedAt=OLDER)).inserted_id
    collection.insert_one(tracos_document(7.0, title="newer, untranslatable", updatedAt=NEWER))
    MongoResource(uri=workspace.mongo_uri).repository().ensure_indexes()
    assert UNIQUE_NUMBER_INDEX not in collection.index_information()
    result = workspace.run("outbound_job")
    assert result.success and workspace.outbound_files() == []
    assert collection.find_one({"_id": older})["isSynced"] is False and skipped_ids(result)[0] == str(older)


def test_a_bool_number_is_not_the_number_one(workspace):
    collection = workspace.collection
    collection.insert_many([tracos_document(True, title="bool", updatedAt=NEWER), tracos_document(1, updatedAt=OLDER)])
    result = workspace.run("outbound_job")
    assert result.success
    assert workspace.outbound_files() == ["1.json"]
    assert collection.find_one({"number": 1, "title": "Work order 1"})["isSynced"] is True


# -- 6.1: only the boolean true is synced, on every store -------------------------------------

ODD_TRUES = [1, 1.0, Int64(1), "true", Decimal128("1")]


@pytest.fixture(params=["mongomock", "embedded", "strict server"])
def store(request, workspace, tmp_path, monkeypatch):
    if request.param == "embedded":
        workspace.mongo_uri = f"embedded://{tmp_path / 'tracos.json'}"
        monkeypatch.setenv("MONGO_URI", workspace.mongo_uri)
    collection = MongoResource(uri=workspace.mongo_uri).get_collection()
    if request.param == "strict server":
        return request.getfixturevalue("server")
    return collection


def test_an_isSynced_that_is_not_the_boolean_true_is_exported_on_every_store(workspace, store):
    store.insert_many([tracos_document(n, isSynced=value) for n, value in enumerate(ODD_TRUES, start=1)]
                      + [tracos_document(9, isSynced=True)])
    result = workspace.run("outbound_job")
    assert result.success
    assert workspace.outbound_files() == sorted(f"{n}.json" for n in range(1, len(ODD_TRUES) + 1))
    assert [d["isSynced"] for d in store.find({}, sort=[("number", 1)])] == [True] * (len(ODD_TRUES) + 1)
    assert outbound_metadata(result)["backlog"] == 0


# -- 6.1: the page walk reaches every _id ------------------------------------------------------

@pytest.mark.parametrize("ids", [
    [math.nan, 1, 2.5, Int64(3)],
    [math.nan, "s", ObjectId("000000000000000000000001")],
    [datetime(2024, 1, 1, tzinfo=UTC), DatetimeMS(253402300800000 + 86_400_000), Timestamp(5, 1)],
], ids=["nan-then-numbers", "nan-then-other-types", "out-of-range-date"])
def test_one_run_reaches_every_id_whatever_lies_at_a_page_boundary(workspace, server, ids):
    server.insert_many([{**tracos_document(n), "_id": _id} for n, _id in enumerate(ids, start=1)])
    result = workspace.run("outbound_job", {"ops": {"export_unsynced": {"config": {"page_size": 1}}}})
    assert result.success
    assert sorted(workspace.outbound_files()) == sorted(f"{n}.json" for n in range(1, len(ids) + 1))
    # mongomock cannot update a document whose _id is NaN (it sees that _id "altered"); a server can
    nan_ids = sum(1 for _id in ids if isinstance(_id, float) and math.isnan(_id))
    assert server.count_documents({"isSynced": True}) == len(ids) - nan_ids
