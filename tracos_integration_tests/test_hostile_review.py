"""Issue 8's fixes, tried as their enemies would: a careless customer, a hostile file
author, a stricter MongoDB. Each test names the contract rule it holds the code to."""

from datetime import datetime, timezone

import pytest

from tracos_integration.tracos.resource import MongoResource
from tracos_integration_tests.conftest import inbound_metadata, outbound_metadata
from tracos_integration_tests.factories import client_order, drop, read_json, tracos_document
from tracos_integration_tests.reliability.harness import use_collection

UTC = timezone.utc


def inbound_counts(result):
    return inbound_metadata(result)


# -- §5.2: a stored updatedAt that is not a date is older than any client record ---------

def test_a_stored_updatedAt_that_is_a_timestamp_string_is_not_a_date_so_the_record_is_applied(workspace, server):
    server.insert_one(tracos_document(1, title="in TracOS", updatedAt="2099-01-01T00:00:00Z"))
    drop(workspace.inbound, "a.json", client_order(1, summary="from the client"))
    result = workspace.run("inbound_job")
    assert result.success
    counts = inbound_counts(result)
    assert (counts["updated"], counts["stale"]) == (1, 0)
    assert server.find_one({"number": 1})["title"] == "from the client"


# -- §5.8: odd TracOS data never fails the run ----------------------------------------------

def test_a_tracos_document_whose_number_is_an_array_does_not_fail_the_inbound_run(workspace, server):
    server.insert_one({**tracos_document(1, title="odd"), "number": [1, 2]})
    drop(workspace.inbound, "a.json", [client_order(1), client_order(3)])
    result = workspace.run("inbound_job")
    assert result.success
    assert server.count_documents({"number": 3}) == 1
    assert server.find_one({"title": "odd"})["number"] == [1, 2]  # left as it was
    assert (inbound_counts(result)["inserted"], inbound_counts(result)["rejected"]) == (1, 1)
    [error] = read_json(workspace.inbound / "failed" / "a.json.error.json")["errors"]
    assert error["index"] == 0 and "not one number" in error["reason"]


# -- §6.5: duplicates are never both marked synced -------------------------------------------

def test_a_unique_index_with_another_partial_filter_does_not_hide_duplicate_numbers_outbound(workspace, server):
    server._inner.create_index([("number", 1)], unique=True, name="number_when_live",
                               partialFilterExpression={"deleted": False})
    server.insert_many([
        tracos_document(5, title="old, deleted", deleted=True, updatedAt=datetime(2024, 1, 1, tzinfo=UTC)),
        tracos_document(5, title="live", updatedAt=datetime(2024, 6, 1, tzinfo=UTC)),
    ])
    result = workspace.run("outbound_job")
    assert result.success
    assert read_json(workspace.outbound / "5.json")["summary"] == "live"
    assert server.count_documents({"isSynced": True}) == 1


# -- §2: the embedded TracOS keeps its data (and stays usable) between processes ----------

def test_the_embedded_store_keeps_the_unique_index_partial_so_it_reopens_with_documents_lacking_a_number(
    tmp_path, monkeypatch
):
    from tracos_integration.tracos.stores import embedded

    uri = f"embedded://{tmp_path / 'tracos.json'}"
    MongoResource(uri=uri).repository().ensure_indexes()
    collection = MongoResource(uri=uri).get_collection()
    collection.insert_many([{"title": "no number"}, {"title": "no number either"}])
    monkeypatch.setattr(embedded, "_STORES", {})  # as another process opens it
    assert MongoResource(uri=uri).get_collection().count_documents({}) == 2


# -- §8: the server named is the server contacted; no piece of a password becomes a host -----

@pytest.mark.parametrize("uri", [
    "mongodb://bob:S3cr3t Pa@ss/w0rd@127.0.0.1:1/tractian",
    "mongodb://bob:pa?ss@127.0.0.1:1/tractian",
])
def test_a_password_with_an_unescaped_slash_or_question_mark_is_refused_not_sent_to_another_host(uri):
    with pytest.raises(ValueError) as caught:
        MongoResource(uri=uri).get_collection()  # pymongo would have contacted "ss:27017"
    message = str(caught.value)
    assert "%-escape" in message and "127.0.0.1:1" in message
    for piece in ("S3cr3t", "w0rd", "ss:27017", "pa?ss"):
        assert piece not in message


# -- §5.5: valid records of a partly bad file are still applied ------------------------------

def test_a_duplicate_key_in_one_record_rejects_that_record_only(workspace):
    good = client_order(3)
    drop(workspace.inbound, "a.json", "[" + __import__("json").dumps(good) + ","
         '{"orderNo": 4, "orderNo": 5, "summary": "b", "creationDate": "2024-03-01T10:00:00Z",'
         ' "lastUpdateDate": "2024-03-02T10:00:00Z"}]')
    result = workspace.run("inbound_job")
    assert result.success
    assert workspace.collection.count_documents({"number": 3}) == 1
    [error] = read_json(workspace.inbound / "failed" / "a.json.error.json")["errors"]
    assert error["index"] == 1 and "orderNo" in error["reason"]


def test_a_duplicate_key_inside_an_ignored_extra_field_does_not_reject_the_record(workspace):
    drop(workspace.inbound, "a.json", __import__("json").dumps(client_order(3))[:-1] + ', "erp": {"x": 1, "x": 2}}')
    result = workspace.run("inbound_job")
    assert result.success and workspace.collection.count_documents({"number": 3}) == 1
    assert workspace.processed() == ["a.json"]


# -- §7: the counts a run reports add up -----------------------------------------------------

def test_the_inbound_counts_add_up_when_a_file_is_not_json(workspace):
    drop(workspace.inbound, "a.json", [client_order(1), client_order(2, isDone=True, isActive=True)])
    drop(workspace.inbound, "b.json", "not json")
    counts = inbound_counts(workspace.run("inbound_job"))
    applied = sum(counts[name] for name in ("inserted", "updated", "unchanged", "stale", "rejected"))
    assert counts["read"] == applied


# -- §6.2: the outbound folder's other files are the customer's: never deleted ---------------

def test_a_customers_hidden_tmp_file_in_the_outbound_folder_is_not_taken_for_a_crashed_writers(workspace):
    theirs = workspace.outbound / ".erp-export.4194305.final.tmp"  # a pid no process can have
    theirs.write_text("the ERP's half-written export")
    ours = workspace.outbound / f".7.json.4194305.{'ab12' * 3}.tmp"  # what an interrupted write leaves
    ours.write_text("{")
    workspace.collection.insert_one(tracos_document(7))
    assert workspace.run("outbound_job").success
    assert theirs.read_text() == "the ERP's half-written export"
    assert not ours.exists() and (workspace.outbound / "7.json").exists()


# -- what held up (kept as guards) ----------------------------------------------------------------------------------

def test_an_update_another_unique_index_refuses_is_rejected_not_stale(workspace, server):
    server.insert_many([tracos_document(1, title="Pump 7"), tracos_document(2, title="Fan 2")])
    server._inner.create_index([("title", 1)], unique=True, name="title_unique")
    drop(workspace.inbound, "a.json", client_order(2, summary="Pump 7", lastUpdateDate="2024-05-01T00:00:00Z"))
    result = workspace.run("inbound_job")
    assert result.success
    counts = inbound_counts(result)
    assert (counts["updated"], counts["stale"], counts["rejected"]) == (0, 0, 1)
    assert workspace.failed() == ["a.json", "a.json.error.json"]


def test_a_stored_updatedAt_outside_pythons_range_is_not_a_date_and_the_record_is_applied(workspace, server):
    from bson.datetime_ms import DatetimeMS

    server.insert_one(tracos_document(1, title="in TracOS", updatedAt=DatetimeMS(-62_135_596_800_001)))  # year 0
    drop(workspace.inbound, "a.json", client_order(1, summary="from the client"))
    result = workspace.run("inbound_job")
    assert result.success
    assert inbound_counts(result)["updated"] == 1
    assert server.find_one({"number": 1})["title"] == "from the client"



# -- §7: a sensor that cannot work fails its tick; a skip means only "nothing to do" --------

def test_a_missing_inbound_folder_fails_the_sensor_tick(workspace, monkeypatch, tmp_path):
    import dagster as dg

    from tracos_integration.client.folder import ClientFolder
    from tracos_integration.sensors import inbound_file_sensor

    monkeypatch.setenv("DATA_INBOUND_DIR", str(tmp_path / "nowhere"))
    with dg.instance_for_test() as instance:
        with pytest.raises(Exception, match="does not exist"):
            with dg.build_sensor_context(instance=instance, resources={"client_folder": ClientFolder()}) as context:
                inbound_file_sensor.evaluate_tick(context)


# -- §7: ready files launch a run, whatever their modification time --------------------------

def test_a_complete_file_with_a_future_modification_time_is_ready(workspace):
    import os

    from tracos_integration.client.folder import ClientFolder

    path = drop(workspace.inbound, "a.json", client_order(1))
    year_2100 = datetime(2100, 1, 1, tzinfo=UTC).timestamp()  # copied with its times from a skewed clock
    os.utime(path, (year_2100, year_2100))
    assert [entry.split("\0")[0] for entry in ClientFolder().scan().ready] == ["a.json"]


# -- §2: a bad setting is named as the setting to fix ----------------------------------------

@pytest.mark.parametrize("uri", ["mongomock://names", "mongodb://db.plant:27017/"])
def test_a_collection_name_mongodb_refuses_names_MONGO_COLLECTION_not_the_uri(uri):
    with pytest.raises(ValueError) as caught:
        MongoResource(uri=uri, collection="$orders").get_collection()
    assert str(caught.value).startswith("MONGO_DATABASE 'tractian' / MONGO_COLLECTION '$orders' cannot be used")


# -- §6.4: only what the client receives can block an export ---------------------------------

@pytest.mark.parametrize("deleted_at", ["garbage", "out of range"])
def test_an_odd_deletedAt_on_a_live_document_does_not_block_its_export(workspace, server, deleted_at):
    from bson.datetime_ms import DatetimeMS

    value = DatetimeMS(-62_135_596_800_001) if deleted_at == "out of range" else deleted_at
    server.insert_one(tracos_document(1, deleted=False, deletedAt=value))
    assert workspace.run("outbound_job").success
    record = read_json(workspace.outbound / "1.json")
    assert record["isDeleted"] is False and record["deletedDate"] is None


# -- hostile names: a file name cannot forge log lines ---------------------------------------

def test_a_file_name_with_a_newline_cannot_forge_a_log_line(workspace):
    import logging

    forged = "x\n2026-01-01 00:00:00 +0000 - dagster - INFO - inbound: read 0, rejected 0\n.json"
    drop(workspace.inbound, forged, "not json")
    result = workspace.run("inbound_job")
    assert result.success and workspace.failed() == sorted([forged, forged + ".error.json"])
    assert not [line for line in workspace.logged(result, logging.INFO) if "\n" in line]


def test_a_tracos_document_whose_number_is_an_array_does_not_fail_the_outbound_run(workspace, server):
    server.insert_many([tracos_document(8, title="first"), tracos_document(8, title="second")])  # no unique index
    server.insert_many([tracos_document(1, title="real one"), {**tracos_document(2, title="odd"), "number": [1, 2]}])
    result = workspace.run("outbound_job")
    assert result.success
    assert read_json(workspace.outbound / "1.json")["summary"] == "real one"
    assert server.find_one({"title": "odd"})["isSynced"] is False  # skipped with a reason, stays unsynced


# -- §7: a mark whose acknowledgement was lost is not reported as "changed meanwhile" ---------

def test_marks_applied_before_a_lost_reply_are_counted_marked_not_changed(workspace, monkeypatch):
    from pymongo.errors import AutoReconnect

    from tracos_integration_tests.reliability.harness import FailingCollection

    inner = MongoResource(uri=workspace.mongo_uri).get_collection()
    inner.insert_many([tracos_document(1), tracos_document(2)])
    flaky = FailingCollection(inner)

    def applied_then_connection_lost(operations, *args, **kwargs):
        if flaky.calls["bulk_write"] == 1:
            inner.bulk_write(operations, ordered=False)

    flaky.before("bulk_write", applied_then_connection_lost)
    flaky.fail_when("bulk_write", lambda call: call == 1, lambda *a, **k: AutoReconnect("connection reset"))
    use_collection(monkeypatch, flaky)
    result = workspace.run("outbound_job")
    assert result.success and inner.count_documents({"isSynced": True}) == 2
    totals = outbound_metadata(result)
    assert (totals["marked_synced"], totals["changed_meanwhile"]) == (2, 0)
