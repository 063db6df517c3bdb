"""CONTRACT section 5, through inbound_job on real folders and an in-memory TracOS."""

import logging
import os
from datetime import datetime, timezone

import pytest

from tracos_integration.tracos.resource import MongoResource
from tracos_integration_tests.conftest import inbound_metadata
from tracos_integration_tests.factories import client_order, drop, read_json, tracos_document

UTC = timezone.utc


def counts(result) -> dict:
    metadata = inbound_metadata(result)
    return {k: metadata[k] for k in ("read", "inserted", "updated", "unchanged", "stale", "rejected")}


def test_new_work_orders_are_inserted_in_sync_with_empty_description(workspace):
    drop(workspace.inbound, "orders.json", [client_order(1, isDone=True), client_order(2)])
    result = workspace.run("inbound_job")
    assert result.success
    documents = {d["number"]: d for d in workspace.collection.find({})}
    assert documents[1]["status"] == "completed" and documents[2]["status"] == "in_progress"
    assert documents[1]["description"] == "" and documents[1]["title"] == "Work order 1"
    assert documents[1]["isSynced"] is True and isinstance(documents[1]["syncedAt"], datetime)
    assert documents[1]["createdAt"] == datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert counts(result) == {"read": 2, "inserted": 2, "updated": 0, "unchanged": 0, "stale": 0, "rejected": 0}
    assert workspace.processed() == ["orders.json"] and workspace.failed() == []


def test_newer_client_update_changes_mapped_fields_but_never_description(workspace):
    workspace.collection.insert_one(tracos_document(3, description="Technician notes"))
    drop(workspace.inbound, "update.json", client_order(3, summary="New title", lastUpdateDate="2024-04-01T00:00:00Z"))
    result = workspace.run("inbound_job")
    stored = workspace.collection.find_one({"number": 3})
    assert stored["title"] == "New title" and stored["description"] == "Technician notes"
    assert stored["updatedAt"] == datetime(2024, 4, 1, tzinfo=UTC)
    assert stored["isSynced"] is True
    assert counts(result)["updated"] == 1


def test_older_client_update_is_counted_stale_and_not_applied(workspace):
    workspace.collection.insert_one(tracos_document(4, title="TracOS title", updatedAt=datetime(2024, 5, 1, tzinfo=UTC)))
    drop(workspace.inbound, "old.json", client_order(4, summary="Client title"))
    result = workspace.run("inbound_job")
    assert workspace.collection.find_one({"number": 4})["title"] == "TracOS title"
    assert counts(result)["stale"] == 1
    assert workspace.processed() == ["old.json"]


def test_rerunning_the_same_files_writes_nothing(workspace):
    drop(workspace.inbound, "a.json", [client_order(1), client_order(2)])
    workspace.run("inbound_job")
    before = list(workspace.collection.find({}).sort("number"))
    os.replace(workspace.inbound / "processed" / "a.json", workspace.inbound / "a.json")
    result = workspace.run("inbound_job")
    assert list(workspace.collection.find({}).sort("number")) == before
    assert counts(result) == {"read": 2, "inserted": 0, "updated": 0, "unchanged": 2, "stale": 0, "rejected": 0}


ONE_FILE_PER_CHUNK = {"ops": {"apply_inbound_files": {"config": {"page_size": 1}}}}


@pytest.mark.parametrize("run_config", [None, ONE_FILE_PER_CHUNK], ids=["one chunk", "file per chunk"])
def test_latest_record_in_a_run_wins_and_others_are_stale(workspace, run_config):
    drop(workspace.inbound, "a.json", [client_order(5, summary="first", lastUpdateDate="2024-03-05T00:00:00Z")])
    drop(workspace.inbound, "b.json", [client_order(5, summary="latest", lastUpdateDate="2024-03-06T00:00:00Z"),
                                       client_order(5, summary="older", lastUpdateDate="2024-03-04T00:00:00Z")])
    drop(workspace.inbound, "c.json", [client_order(5, summary="oldest", lastUpdateDate="2024-03-01T00:00:00Z")])
    result = workspace.run("inbound_job", run_config)
    assert workspace.collection.find_one({"number": 5})["title"] == "latest"
    assert counts(result)["inserted"] == 1 and counts(result)["stale"] == 3
    assert workspace.collection.count_documents({"number": 5}) == 1


@pytest.mark.parametrize("run_config", [None, ONE_FILE_PER_CHUNK], ids=["one chunk", "file per chunk"])
def test_tie_goes_to_the_last_file_and_position(workspace, run_config):
    drop(workspace.inbound, "b.json", [client_order(6, summary="b0"), client_order(6, summary="b1")])
    drop(workspace.inbound, "a.json", [client_order(6, summary="a0")])
    result = workspace.run("inbound_job", run_config)
    assert workspace.collection.find_one({"number": 6})["title"] == "b1"
    assert counts(result)["inserted"] == 1 and counts(result)["stale"] == 2


def test_a_later_chunk_updating_an_existing_order_counts_once(workspace):
    workspace.collection.insert_one(tracos_document(7, updatedAt=datetime(2024, 1, 1, tzinfo=UTC)))
    drop(workspace.inbound, "a.json", [client_order(7, summary="newer", lastUpdateDate="2024-02-01T00:00:00Z")])
    drop(workspace.inbound, "b.json", [client_order(7, summary="newest", lastUpdateDate="2024-03-01T00:00:00Z")])
    result = workspace.run("inbound_job", ONE_FILE_PER_CHUNK)
    assert workspace.collection.find_one({"number": 7})["title"] == "newest"
    assert counts(result)["updated"] == 1 and counts(result)["stale"] == 1


def test_partly_bad_file_applies_valid_records_and_fails_with_a_report(workspace):
    drop(workspace.inbound, "mixed.json", [client_order(1), {"orderNo": "2"}, client_order(3, isDone=True, isActive=True)])
    result = workspace.run("inbound_job")
    assert result.success
    assert [d["number"] for d in workspace.collection.find({})] == [1]
    assert workspace.failed() == ["mixed.json", "mixed.json.error.json"]
    report = read_json(workspace.inbound / "failed" / "mixed.json.error.json")
    assert report["file"] == "mixed.json"
    assert [e["index"] for e in report["errors"]] == [1, 2]
    assert "contradictory status" in report["errors"][1]["reason"]
    assert counts(result)["rejected"] == 2
    table = inbound_metadata(result)["rejected_records"]
    assert [(r.data["file"], r.data["index"]) for r in table.records] == [("mixed.json", 1), ("mixed.json", 2)]


def test_single_object_file_error_has_index_zero(workspace):
    drop(workspace.inbound, "one.json", {"orderNo": 0})
    workspace.run("inbound_job")
    report = read_json(workspace.inbound / "failed" / "one.json.error.json")
    assert report["errors"][0]["index"] == 0 and report["errors"][0]["reason"].startswith("orderNo:")


@pytest.mark.parametrize(
    "content, reason",
    [
        ("{not json", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        ('"just a string"', "expected a work order object or an array"),
        ('{"orderNo": NaN}', "NaN is not a valid JSON number"),
    ],
)
def test_file_level_error_fails_the_file_with_null_index(workspace, content, reason):
    drop(workspace.inbound, "bad.json", content)
    result = workspace.run("inbound_job")
    assert result.success
    report = read_json(workspace.inbound / "failed" / "bad.json.error.json")
    assert report["errors"][0]["index"] is None and reason in report["errors"][0]["reason"]


def test_file_over_the_size_limit_is_failed_without_being_read(workspace, monkeypatch):
    monkeypatch.setenv("INBOUND_MAX_FILE_BYTES", "100")
    drop(workspace.inbound, "big.json", [client_order(n) for n in range(1, 10)])
    drop(workspace.inbound, "small.json", [])
    workspace.run("inbound_job")
    report = read_json(workspace.inbound / "failed" / "big.json.error.json")
    assert "INBOUND_MAX_FILE_BYTES limit of 100" in report["errors"][0]["reason"]
    assert workspace.processed() == ["small.json"]
    assert workspace.collection.count_documents({}) == 0


def test_young_unparseable_file_is_left_for_the_next_run(workspace, monkeypatch):
    monkeypatch.setenv("INBOUND_SETTLE_SECONDS", "60")
    drop(workspace.inbound, "half.json", '[{"orderNo": 1, "summ')
    drop(workspace.inbound, "done.json", [client_order(1)])
    result = workspace.run("inbound_job")
    assert (workspace.inbound / "half.json").exists() and workspace.failed() == []
    assert workspace.processed() == ["done.json"]
    assert inbound_metadata(result)["files_left_being_written"] == 1


def test_old_unparseable_file_is_failed(workspace, monkeypatch):
    monkeypatch.setenv("INBOUND_SETTLE_SECONDS", "60")
    path = drop(workspace.inbound, "half.json", '[{"orderNo": 1, "summ')
    os.utime(path, (0, 0))
    workspace.run("inbound_job")
    assert workspace.failed() == ["half.json", "half.json.error.json"]


def test_hidden_files_other_extensions_folders_and_symlinks_are_not_read(workspace, tmp_path):
    drop(workspace.inbound, ".hidden.json", [client_order(1)])
    drop(workspace.inbound, "notes.txt", [client_order(2)])
    drop(workspace.inbound, "upper.JSON", [client_order(3)])
    (workspace.inbound / "folder.json").mkdir()
    target = drop(tmp_path, "elsewhere.json", [client_order(4)])
    (workspace.inbound / "link.json").symlink_to(target)
    result = workspace.run("inbound_job")
    assert workspace.collection.count_documents({}) == 0
    assert sorted(p.name for p in workspace.inbound.iterdir()) == [
        ".hidden.json", "folder.json", "link.json", "notes.txt", "upper.JSON"
    ]
    metadata = inbound_metadata(result)
    assert metadata["files_left_symlinks"] == 1 and metadata["symlinks"] == ["link.json"]


def test_name_clash_adds_a_suffix_and_never_overwrites(workspace):
    (workspace.inbound / "processed").mkdir()
    drop(workspace.inbound / "processed", "a.json", "earlier")
    drop(workspace.inbound, "a.json", [client_order(1)])
    workspace.run("inbound_job")
    assert workspace.processed() == ["a.1.json", "a.json"]
    assert (workspace.inbound / "processed" / "a.json").read_text() == "earlier"


def test_failed_name_clash_keeps_both_reports(workspace):
    for _ in range(2):
        drop(workspace.inbound, "bad.json", "{")
        workspace.run("inbound_job")
    assert workspace.failed() == ["bad.1.json", "bad.1.json.error.json", "bad.json", "bad.json.error.json"]
    assert read_json(workspace.inbound / "failed" / "bad.1.json.error.json")["file"] == "bad.json"


def test_unique_index_on_number_exists_after_the_first_run(workspace):
    workspace.run("inbound_job")
    indexes = workspace.collection.index_information()
    assert any(info["key"] == [("number", 1)] and info.get("unique") for info in indexes.values())


def test_duplicates_already_in_tracos_are_reported_and_do_not_stop_others(workspace):
    workspace.collection.insert_many([tracos_document(8), tracos_document(8)])
    drop(workspace.inbound, "a.json", [client_order(8, lastUpdateDate="2025-01-01T00:00:00Z"), client_order(9)])
    result = workspace.run("inbound_job")
    assert result.success
    assert workspace.collection.count_documents({"number": 9}) == 1
    metadata = inbound_metadata(result)
    assert metadata["duplicate_numbers_in_tracos"] == [8]
    report = read_json(workspace.inbound / "failed" / "a.json.error.json")
    assert report["errors"] == [{"index": 0, "reason": report["errors"][0]["reason"]}]
    assert "number 8" in report["errors"][0]["reason"]


def test_mongodb_unreachable_fails_the_run_moves_nothing_and_hides_credentials(workspace):
    drop(workspace.inbound, "a.json", [client_order(1)])
    unreachable = MongoResource(
        uri="mongodb://admin:s3cret@127.0.0.1:9/tractian", retry_budget_seconds=0.5, server_selection_timeout_ms=100
    )
    result = workspace.run("inbound_job", mongo=unreachable)
    assert not result.success
    assert (workspace.inbound / "a.json").exists() and workspace.processed() == [] and workspace.failed() == []
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.error.message
    assert "127.0.0.1:9" in message and "still unreachable" in message
    everything = " ".join(str(e) for e in result.all_events)
    assert "s3cret" not in everything


def test_dry_run_writes_nothing_and_moves_nothing(workspace):
    drop(workspace.inbound, "a.json", [client_order(1)])
    result = workspace.run("inbound_job", {"ops": {"apply_inbound_files": {"config": {"dry_run": True}}}})
    assert counts(result)["inserted"] == 1
    assert workspace.collection.count_documents({}) == 0 and (workspace.inbound / "a.json").exists()


def test_client_timezone_is_read_at_run_start(workspace, monkeypatch):
    monkeypatch.setenv("CLIENT_TIMEZONE", "America/Sao_Paulo")
    drop(workspace.inbound, "a.json", [client_order(1, creationDate="2024-03-01T07:00:00")])
    workspace.run("inbound_job")
    assert workspace.collection.find_one({"number": 1})["createdAt"] == datetime(2024, 3, 1, 10, tzinfo=UTC)


def test_records_in_many_batches_are_all_applied(workspace):
    drop(workspace.inbound, "a.json", [client_order(n) for n in range(1, 8)])
    result = workspace.run("inbound_job", {"ops": {"apply_inbound_files": {"config": {"page_size": 3}}}})
    assert workspace.collection.count_documents({}) == 7 and counts(result)["inserted"] == 7


def test_mongodb_operators_in_values_are_rejected(workspace):
    drop(workspace.inbound, "evil.json", [{**client_order(1), "orderNo": {"$gt": ""}}, {**client_order(2), "summary": {"$ne": None}}])
    workspace.run("inbound_job")
    assert workspace.collection.count_documents({}) == 0
    assert len(read_json(workspace.inbound / "failed" / "evil.json.error.json")["errors"]) == 2


@pytest.mark.parametrize("variable, value", [("INBOUND_MAX_FILE_BYTES", "lots"), ("INBOUND_SETTLE_SECONDS", "-1"),
                                             ("CLIENT_TIMEZONE", "Mars/Olympus")])
def test_a_bad_setting_fails_the_run_clearly_and_moves_nothing(workspace, monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    drop(workspace.inbound, "a.json", [client_order(1)])
    result = workspace.run("inbound_job")
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert variable in failure.event_specific_data.error.message
    assert (workspace.inbound / "a.json").exists()


def test_a_run_logs_how_many_files_it_will_read_and_an_empty_folder_in_one_line(workspace):
    empty = workspace.run("inbound_job")
    lines = [line for line in workspace.logged(empty, logging.INFO) if "inbound" in line]
    assert lines == [f"inbound: no inbound file to read in {workspace.inbound}; read 0, inserted 0, updated 0, "
                     "unchanged 0, stale 0, rejected 0"]
    drop(workspace.inbound, "orders.json", [client_order(1)])
    one = workspace.run("inbound_job")
    lines = [line for line in workspace.logged(one, logging.INFO) if line.startswith(("1 inbound", "inbound:"))]
    assert lines == [f"1 inbound file(s) to read in {workspace.inbound}",
                     "inbound: read 1, inserted 1, updated 0, unchanged 0, stale 0, rejected 0"]
