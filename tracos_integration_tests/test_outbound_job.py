"""CONTRACT section 6, through outbound_job on real folders and an in-memory TracOS."""

from datetime import datetime, timezone

import pytest

from tracos_integration.sync.outbound import translate_page
from tracos_integration.tracos.resource import MongoResource
from tracos_integration_tests.conftest import inbound_metadata, outbound_metadata
from tracos_integration_tests.factories import ABSENT, client_order, drop, read_json, tracos_document

UTC = timezone.utc


def totals(result) -> dict:
    metadata = outbound_metadata(result)
    return {name: metadata[name] for name in ("exported", "marked_synced", "changed_meanwhile", "skipped")}


def test_unsynced_documents_are_written_then_marked_synced(workspace):
    workspace.collection.insert_many([
        tracos_document(1, status="completed"),
        tracos_document(2, isSynced=ABSENT),
        tracos_document(3, isSynced=True),
    ])
    result = workspace.run("outbound_job")
    assert result.success
    assert workspace.outbound_files() == ["1.json", "2.json"]
    record = read_json(workspace.outbound / "1.json")
    assert record["orderNo"] == 1 and record["isDone"] is True and record["isSynced"] is True
    assert record["creationDate"] == "2024-03-01T10:00:00.000+00:00"
    for number in (1, 2):
        document = workspace.collection.find_one({"number": number})
        assert document["isSynced"] is True and isinstance(document["syncedAt"], datetime)
    assert totals(result) == {"exported": 2, "marked_synced": 2, "changed_meanwhile": 0, "skipped": 0}


def test_outbound_file_carries_every_client_field(workspace):
    workspace.collection.insert_one(tracos_document(5, deleted=True, deletedAt=datetime(2024, 3, 3, tzinfo=UTC)))
    workspace.run("outbound_job")
    record = read_json(workspace.outbound / "5.json")
    assert set(record) == {
        "orderNo", "summary", "creationDate", "lastUpdateDate", "isPending", "isActive", "isDone",
        "isOnHold", "isCanceled", "isDeleted", "deletedDate", "isSynced",
    }
    assert record["isDeleted"] is True and record["deletedDate"] == "2024-03-03T00:00:00.000+00:00"


def test_there_is_no_cap_per_run(workspace):
    workspace.collection.insert_many([tracos_document(n) for n in range(1, 8)])
    result = workspace.run("outbound_job", {"ops": {"export_unsynced": {"config": {"page_size": 3}}}})
    assert len(workspace.outbound_files()) == 7
    assert workspace.collection.count_documents({"isSynced": True}) == 7
    assert totals(result)["marked_synced"] == 7
    assert outbound_metadata(result)["pages"] == 3  # 3 + 3 + 1, all in one run


def test_untranslatable_document_is_skipped_with_a_reason_and_stays_unsynced(workspace):
    workspace.collection.insert_many([tracos_document(1, status="exploded"), tracos_document(2)])
    result = workspace.run("outbound_job")
    assert result.success
    assert workspace.outbound_files() == ["2.json"]
    assert workspace.collection.find_one({"number": 1})["isSynced"] is False
    assert totals(result)["skipped"] == 1
    table = outbound_metadata(result)["skipped_documents"]
    assert table.records[0].data["number"] == 1 and "status" in table.records[0].data["reason"]


def test_newest_state_replaces_an_older_file(workspace):
    workspace.collection.insert_one(tracos_document(1, title="first"))
    workspace.run("outbound_job")
    workspace.collection.update_one({"number": 1}, {"$set": {"title": "second", "isSynced": False}})
    workspace.run("outbound_job")
    assert workspace.outbound_files() == ["1.json"]
    assert read_json(workspace.outbound / "1.json")["summary"] == "second"


def test_outbound_folder_receives_nothing_else(workspace):
    workspace.collection.insert_many([tracos_document(n) for n in range(1, 4)])
    workspace.run("outbound_job")
    assert workspace.outbound_files() == ["1.json", "2.json", "3.json"]


def test_document_changed_after_read_stays_unsynced_and_goes_out_next_run(workspace):
    collection = workspace.collection
    collection.insert_one(tracos_document(1, title="as read"))
    repository = MongoResource(uri=workspace.mongo_uri).repository()
    batch, _ = translate_page(next(repository.iter_unsynced(10)))
    collection.update_one({"number": 1}, {"$set": {"title": "changed meanwhile"}})
    assert repository.mark_synced(batch.mark_conditions, datetime.now(UTC)) == 0
    assert collection.find_one({"number": 1})["isSynced"] is False
    workspace.run("outbound_job")
    assert read_json(workspace.outbound / "1.json")["summary"] == "changed meanwhile"
    assert collection.find_one({"number": 1})["isSynced"] is True


def test_missing_outbound_folder_fails_clearly_and_marks_nothing(workspace, monkeypatch, tmp_path):
    monkeypatch.setenv("DATA_OUTBOUND_DIR", str(tmp_path / "nowhere"))
    workspace.collection.insert_one(tracos_document(1))
    result = workspace.run("outbound_job")
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "outbound folder" in str(failure.event_specific_data.error.message)
    assert "DATA_OUTBOUND_DIR" in str(failure.event_specific_data.error.message)
    assert workspace.collection.find_one({"number": 1})["isSynced"] is False


def test_dry_run_writes_no_file_and_marks_nothing(workspace):
    workspace.collection.insert_one(tracos_document(1))
    result = workspace.run("outbound_job", {"ops": {"export_unsynced": {"config": {"dry_run": True}}}})
    assert result.success and workspace.outbound_files() == []
    assert workspace.collection.find_one({"number": 1})["isSynced"] is False
    assert outbound_metadata(result)["to_export"] == 1


def test_sync_job_does_not_echo_inbound_records_back(workspace):
    drop(workspace.inbound, "a.json", [client_order(1)])
    workspace.collection.insert_one(tracos_document(2))
    result = workspace.run("sync_job")
    assert result.success
    assert workspace.outbound_files() == ["2.json"]
    assert workspace.processed() == ["a.json"]
    assert inbound_metadata(result)["inserted"] == 1
    assert totals(result)["exported"] == 1


def test_empty_tracos_reports_zero_counts(workspace):
    result = workspace.run("outbound_job")
    assert result.success
    assert totals(result) == {"exported": 0, "marked_synced": 0, "changed_meanwhile": 0, "skipped": 0}


@pytest.mark.parametrize("count", [5])
def test_samples_job_writes_both_sides_and_sync_handles_them(workspace, count):
    result = workspace.run("samples_job", {"ops": {"write_samples": {"config": {"count": count}}}})
    assert result.success
    assert workspace.collection.count_documents({"isSynced": False}) == count
    inbound_files = sorted(p.name for p in workspace.inbound.glob("*.json"))
    assert inbound_files and all(name.startswith("sample_") for name in inbound_files)
    sync = workspace.run("sync_job")
    assert sync.success and workspace.failed() == []
    assert workspace.collection.count_documents({"isSynced": {"$ne": True}}) == 0
