"""Hostile inbound files (CONTRACT 3, 5.5, 5.8): files replaced while a run works, names
that are not UTF-8 or at the 255-byte limit, stale reports, millions of bad records, and
sub-folders that cannot be created."""

import json
import os
import pickle
import subprocess
import sys
import textwrap
from datetime import datetime, timezone

import pytest

from tracos_integration.client import archive as archive_module
from tracos_integration.client import folder as folder_module
from tracos_integration.client import writing as writing_module
from tracos_integration.client.folder import ClientFolder
from tracos_integration.client.reading import FileIdentity
from tracos_integration.sync.inbound import InboundSync
from tracos_integration.tracos.resource import MongoResource
from tracos_integration_tests.conftest import inbound_metadata, outbound_metadata
from tracos_integration_tests.factories import client_order, drop, read_json
from tracos_integration_tests.reliability.harness import FailingCollection, use_collection

UTC = timezone.utc


def settle_metadata(result) -> dict:
    return inbound_metadata(result)


def failure_message(result) -> str:
    return next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE").event_specific_data.error.message


def while_the_run_writes(workspace, patch, change):
    """Call `change()` once, between the run reading its files and moving them."""
    collection = FailingCollection(workspace.collection)
    done = []

    def once(*args, **kwargs):
        if not done:
            done.append(True)
            change()

    collection.before("bulk_write", once)
    use_collection(patch, collection)


# CONTRACT 5.5: a file whose content changed after the run read it is not moved.

def replace_by_rename(path, content):
    temp = path.parent / ".incoming.tmp"
    temp.write_text(json.dumps(content))
    os.replace(temp, path)


def rewrite_longer(path, content):
    path.write_text(json.dumps(content))


def rewrite_same_size_later(path, content):
    before = path.stat()
    text = json.dumps(content)
    assert len(text) == before.st_size
    path.write_text(text)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))


@pytest.mark.parametrize(
    "replace, new_summary",
    [(replace_by_rename, "replaced"), (rewrite_longer, "rewritten, longer"), (rewrite_same_size_later, "Work order 2")],
    ids=["atomic rename over it", "rewritten with another size", "rewritten, same size, later mtime"],
)
def test_a_file_replaced_while_the_run_works_stays_for_the_next_run(workspace, monkeypatch, replace, new_summary):
    path = drop(workspace.inbound, "orders.json", [client_order(1)])
    drop(workspace.inbound, "other.json", [client_order(3)])
    new_content = [client_order(1, summary=new_summary, lastUpdateDate="2024-05-01T00:00:00Z")]
    if replace is rewrite_same_size_later:
        new_content = [client_order(2)]  # same length as client_order(1)
    with monkeypatch.context() as patch:
        while_the_run_writes(workspace, patch, lambda: replace(path, new_content))
        result = workspace.run("inbound_job")
    assert result.success
    assert workspace.processed() == ["other.json"]
    assert read_json(workspace.inbound / "orders.json") == new_content  # not moved, not lost
    moved = inbound_metadata(result)
    assert moved["files_left_not_moved"] == 1
    assert "changed after this run read it" in moved["not_moved_files"]["orders.json"]
    assert workspace.run("inbound_job").success
    assert workspace.processed() == ["orders.json", "other.json"]
    titles = {d["number"]: d["title"] for d in workspace.collection.find({})}
    assert new_content[0]["summary"] in titles.values()


def test_a_file_left_alone_during_the_run_is_moved(workspace):
    drop(workspace.inbound, "orders.json", [client_order(1)])
    result = workspace.run("inbound_job")
    assert workspace.processed() == ["orders.json"]
    assert inbound_metadata(result)["files_left_not_moved"] == 0


# CONTRACT 5.5: any name the file system accepts ends in processed/ or failed/ with its report.

def drop_bytes_name(folder, name: bytes, content) -> None:
    with open(os.path.join(os.fsencode(folder), name), "wb") as handle:
        handle.write(json.dumps(content).encode())


def names_in(folder) -> list[bytes]:
    return sorted(os.listdir(os.fsencode(folder)))


def test_a_name_that_is_not_utf8_is_processed_and_does_not_fail_the_run(workspace):
    drop_bytes_name(workspace.inbound, b"caf\xe9.json", [client_order(1)])
    result = workspace.run("inbound_job")
    assert result.success
    assert names_in(workspace.inbound / "processed") == [b"caf\xe9.json"]
    assert workspace.collection.count_documents({}) == 1


def test_a_failed_file_whose_name_is_not_utf8_gets_its_report_with_the_bytes_escaped(workspace):
    drop_bytes_name(workspace.inbound, b"caf\xe9.json", [client_order(1), {"orderNo": 0}])
    result = workspace.run("inbound_job")
    assert result.success
    assert names_in(workspace.inbound / "failed") == [b"caf\xe9.json", b"caf\xe9.json.error.json"]
    with open(os.path.join(os.fsencode(workspace.inbound / "failed"), b"caf\xe9.json.error.json"), "rb") as handle:
        report = json.loads(handle.read().decode("utf-8"))
    assert report["file"] == "caf\\xe9.json" and report["errors_total"] == 1
    metadata = settle_metadata(result)
    assert [r.data["file"] for r in metadata["rejected_records"].records] == ["caf\\xe9.json"]
    assert inbound_metadata(result)["failed_files"] == ["failed/caf\\xe9.json"]


LONGEST = "a" * 250 + ".json"  # 255 bytes, the file system's limit


def test_a_255_byte_name_gets_its_report_under_a_shortened_unique_name(workspace):
    drop(workspace.inbound, LONGEST, [{"orderNo": 0}])
    result = workspace.run("inbound_job")
    assert result.success
    moved = inbound_metadata(result)
    assert moved["files_left_not_moved"] == 0 and moved["files_failed"] == 1
    failed = workspace.failed()
    assert LONGEST in failed and len(failed) == 2
    report_name = next(name for name in failed if name.endswith(".error.json"))
    assert len(report_name.encode()) <= 255
    report = read_json(workspace.inbound / "failed" / report_name)
    assert report["file"] == LONGEST and report["errors_total"] == 1


def test_a_255_byte_name_that_clashes_is_moved_under_a_shortened_name(workspace):
    (workspace.inbound / "processed").mkdir()
    drop(workspace.inbound / "processed", LONGEST, "earlier")
    drop(workspace.inbound, LONGEST, [client_order(1)])
    result = workspace.run("inbound_job")
    assert inbound_metadata(result)["files_left_not_moved"] == 0
    assert list(workspace.inbound.glob("*.json")) == []
    assert len(workspace.processed()) == 2
    assert (workspace.inbound / "processed" / LONGEST).read_text() == "earlier"


def test_a_stale_report_never_blocks_nor_stands_in_for_the_new_one(workspace):
    (workspace.inbound / "failed").mkdir()
    stale = {"file": "bad.json", "errors": [{"index": None, "reason": "an earlier failure"}]}
    drop(workspace.inbound / "failed", "bad.json.error.json", stale)  # its file was taken back for a retry
    drop(workspace.inbound, "bad.json", [{"orderNo": 0}])
    result = workspace.run("inbound_job")
    assert result.success
    moved = inbound_metadata(result)
    assert moved["files_left_not_moved"] == 0 and moved["failed_files"] == ["failed/bad.1.json"]
    assert workspace.failed() == ["bad.1.json", "bad.1.json.error.json", "bad.json.error.json"]
    report = read_json(workspace.inbound / "failed" / "bad.1.json.error.json")
    assert report["file"] == "bad.json" and report["errors"][0]["index"] == 0
    assert read_json(workspace.inbound / "failed" / "bad.json.error.json") == stale  # nothing deleted


# CONTRACT 5.5 and 5.8: bounded reports, memory bounded by bytes.

def empty_objects(count: int) -> str:
    return "[" + ",".join(["{}"] * count) + "]"


def test_a_report_lists_at_most_1000_errors_and_carries_the_total(workspace):
    drop(workspace.inbound, "empties.json", empty_objects(1500))
    drop(workspace.inbound, "bad.json", "{")
    result = workspace.run("inbound_job")
    report = read_json(workspace.inbound / "failed" / "empties.json.error.json")
    assert report["errors_total"] == 1500 and len(report["errors"]) == 1000
    assert [e["index"] for e in report["errors"][:3]] == [0, 1, 2]
    assert read_json(workspace.inbound / "failed" / "bad.json.error.json")["errors_total"] == 1
    assert settle_metadata(result)["rejected"] == 1501


def test_what_the_apply_step_hands_on_stays_small_however_many_records_are_bad(workspace, tmp_path):
    drop(workspace.inbound, "empties.json", empty_objects(500_000))  # 1.5 MB
    repository = MongoResource(uri=workspace.mongo_uri).repository()
    client = ClientFolder(inbound_dir=str(workspace.inbound), settle_seconds=0)
    run = InboundSync(repository, now=datetime.now(UTC), client_timezone="UTC", client_format=client.format)
    names, _ = client.list_inbound()
    for page in client.read(names, files_per_page=1000):
        run.apply(page)
    assert run.report.counts["rejected"] == 500_000
    assert run.report.failed["empties.json"].total == 500_000
    assert len(pickle.dumps(run.report)) < 1_000_000  # what Dagster pickles into its storage


def test_a_page_stops_taking_files_at_its_byte_budget(tmp_path, monkeypatch):
    for name in ("a.json", "b.json", "c.json", "d.json"):
        drop(tmp_path, name, "[" + " " * 98 + "]")  # 100 bytes each
    client = ClientFolder(inbound_dir=str(tmp_path), settle_seconds=0, max_file_bytes=1000)
    names, _ = client.list_inbound()
    monkeypatch.setattr(folder_module, "PAGE_BYTES", 250)
    assert [len(page.files) for page in client.read(names, 1000)] == [2, 2]
    monkeypatch.setattr(folder_module, "PAGE_BYTES", 50)
    assert [len(page.files) for page in client.read(names, 1000)] == [1, 1, 1, 1]  # a big file still goes
    monkeypatch.setattr(folder_module, "PAGE_BYTES", 16 * 1024 * 1024)
    assert [len(page.files) for page in client.read(names, 3)] == [3, 1]


MEMORY_RUN = textwrap.dedent("""
    import os, resource, subprocess, sys
    work = '''
    import os
    os.environ.update(MONGO_URI="mongomock://memory", DATA_INBOUND_DIR=sys.argv[1], DATA_OUTBOUND_DIR=sys.argv[2],
                      INBOUND_SETTLE_SECONDS="0")
    from tracos_integration.definitions import defs
    assert defs.get_job_def("inbound_job").execute_in_process().success
    '''
    subprocess.run([sys.executable, "-c", "import sys\\n" + work, sys.argv[1], sys.argv[2]], check=True)
    print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
""")


@pytest.mark.slow
def test_sixteen_mib_of_empty_objects_is_handled_in_under_1_gb(tmp_path):
    inbound, outbound = tmp_path / "inbound", tmp_path / "outbound"
    inbound.mkdir()
    outbound.mkdir()
    limit = 16 * 1024 * 1024  # the default INBOUND_MAX_FILE_BYTES
    (inbound / "empties.json").write_text(empty_objects((limit - 2) // 3))
    assert os.path.getsize(inbound / "empties.json") <= limit
    done = subprocess.run([sys.executable, "-c", MEMORY_RUN, str(inbound), str(outbound)],
                          capture_output=True, text=True, check=True)
    peak_mib = int(done.stdout.split()[-1]) / 1024  # ru_maxrss is in KiB on Linux
    print(f"peak RSS of inbound_job over 16 MiB of [{{}},...]: {peak_mib:.0f} MiB")
    assert peak_mib < 1024
    report_path = inbound / "failed" / "empties.json.error.json"
    assert os.path.getsize(report_path) < 1_000_000
    assert read_json(report_path)["errors_total"] == (limit - 2) // 3


# processed/ or failed/ that cannot be created: one clear line naming the path, nothing lost.

def test_a_file_in_the_way_of_processed_fails_the_run_with_one_clear_line(workspace):
    drop(workspace.inbound, "processed", "not a folder")
    drop(workspace.inbound, "orders.json", [client_order(1)])
    result = workspace.run("inbound_job")
    assert not result.success
    message = failure_message(result)
    assert str(workspace.inbound / "processed") in message and "in the way" in message
    assert "Traceback" not in message and len(message.splitlines()) == 1
    assert (workspace.inbound / "orders.json").exists()  # nothing lost: read again next run
    assert workspace.collection.count_documents({}) == 1


def test_a_read_only_inbound_folder_fails_the_run_before_moving_anything(workspace, monkeypatch):
    drop(workspace.inbound, "good.json", [client_order(1)])
    drop(workspace.inbound, "bad.json", "{")
    (workspace.inbound / "processed").mkdir()  # only failed/ is missing

    def read_only(path, *args, **kwargs):  # tests run as root, where chmod stops nothing
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(folder_module.os, "mkdir", read_only)
    result = workspace.run("inbound_job")
    assert not result.success
    message = failure_message(result)
    assert f"cannot create the folder {workspace.inbound / 'failed'}: Permission denied" in message
    assert len(message.splitlines()) == 1
    assert sorted(p.name for p in workspace.inbound.glob("*.json")) == ["bad.json", "good.json"]
    assert workspace.processed() == []


# CONTRACT 3: a value BSON cannot encode is a per-record rejection, never a run failure.

def test_a_lone_surrogate_in_summary_is_rejected_and_the_rest_is_applied(workspace):
    drop(workspace.inbound, "orders.json", [client_order(1, summary="pump \ud800"), client_order(2)])
    result = workspace.run("inbound_job")
    assert result.success
    assert [d["number"] for d in workspace.collection.find({})] == [2]
    report = read_json(workspace.inbound / "failed" / "orders.json.error.json")
    assert report["errors_total"] == 1 and report["errors"][0]["index"] == 0
    assert "lone surrogate \\ud800" in report["errors"][0]["reason"]
    assert settle_metadata(result)["rejected"] == 1


def test_a_surrogate_escaped_in_the_file_bytes_is_a_rejection(workspace):
    drop(workspace.inbound, "escaped.json", b'{"orderNo": 1, "summary": "\\ud800", "creationDate": '
                                             b'"2024-03-01T10:00:00Z", "lastUpdateDate": "2024-03-02T10:00:00Z"}')
    result = workspace.run("inbound_job")
    assert result.success and workspace.collection.count_documents({}) == 0
    reason = read_json(workspace.inbound / "failed" / "escaped.json.error.json")["errors"][0]["reason"]
    assert reason.startswith("summary: holds a lone surrogate \\ud800")


def test_a_full_surrogate_pair_is_valid_text():
    from tracos_integration.core.client import parse_client_record

    assert parse_client_record(json.loads('{"orderNo": 1, "summary": "\\ud83d\\udd27 wrench", '
                                          '"creationDate": "2024-03-01T10:00:00Z", '
                                          '"lastUpdateDate": "2024-03-02T10:00:00Z"}'))["summary"] == "\U0001F527 wrench"


# Reasons speak JSON, not Python.

def reason_for(record) -> str:
    from tracos_integration.core.client import RecordRejected, parse_client_record

    with pytest.raises(RecordRejected) as caught:
        parse_client_record(record)
    return str(caught.value)


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"orderNo": None}, "orderNo: input should be a valid integer (got null)"),
        ({"orderNo": True}, "orderNo: input should be a valid integer (got true)"),
        ({"orderNo": 1.5}, "(got 1.5)"),
        ({"orderNo": "7"}, '(got "7")'),
        ({"isDone": None}, "isDone: input should be a valid boolean (got null)"),
        ({"isDone": 1}, "isDone: input should be a valid boolean (got 1)"),
        ({"summary": False}, "summary: input should be a valid string (got false)"),
        ({"summary": {"$ne": 1}}, "(got an object)"),
        ({"deletedDate": True, "isDeleted": True}, "deletedDate: expected an ISO 8601 timestamp string, got a boolean"),
    ],
)
def test_reasons_name_values_as_json(overrides, expected):
    reason = reason_for(client_order(1, **overrides))
    assert expected in reason
    for python in ("None", "True", "False", "NoneType", "'"):
        assert python not in reason


def test_a_file_of_the_wrong_kind_is_named_in_json_words(workspace):
    drop(workspace.inbound, "number.json", "3")
    drop(workspace.inbound, "null.json", "null")
    workspace.run("inbound_job")
    assert read_json(workspace.inbound / "failed" / "number.json.error.json")["errors"][0]["reason"] == (
        "expected a work order object or an array of them, found a number"
    )
    null_reason = read_json(workspace.inbound / "failed" / "null.json.error.json")["errors"][0]["reason"]
    assert null_reason.endswith("found null")


# Timestamps ISO 8601 allows but nothing downstream can hold; naive times around DST changes.

@pytest.mark.parametrize(
    "value, expected",
    [
        ("2024-06-30T23:59:60Z", "leap seconds (23:59:60) are not supported; use 23:59:59.999"),
        ("2024-06-30T23:59:60.500+00:00", "leap seconds (23:59:60) are not supported; use 23:59:59.999"),
        ("2024-03-01T24:00:00Z", "24:00 is not accepted; use 00:00 of the next day"),
        ("2024-03-01T24:00", "24:00 is not accepted; use 00:00 of the next day"),
    ],
)
def test_leap_seconds_and_24_00_get_a_precise_reason(value, expected):
    assert reason_for(client_order(1, lastUpdateDate=value)) == f'lastUpdateDate: "{value}": {expected}'


def test_other_unparseable_timestamps_keep_the_general_reason():
    assert reason_for(client_order(1, lastUpdateDate="2024-03-01T25:00:00Z")) == (
        'lastUpdateDate: "2024-03-01T25:00:00Z" is not an ISO 8601 timestamp'
    )


def parse_naive(value: str, zone: str) -> datetime:
    from zoneinfo import ZoneInfo

    from tracos_integration.core.client import parse_client_record

    return parse_client_record(client_order(1, creationDate=value), ZoneInfo(zone))["creationDate"]


def test_a_naive_time_in_a_dst_gap_is_read_with_the_offset_before_the_gap():
    # New York skipped 02:00-03:00 on 2024-03-10; 02:30 is read as EST (-05:00), the offset before.
    assert parse_naive("2024-03-10T02:30:00", "America/New_York") == datetime(2024, 3, 10, 7, 30, tzinfo=UTC)


def test_an_ambiguous_naive_time_in_a_dst_fold_takes_the_first_occurrence():
    # New York lived 01:00-02:00 twice on 2024-11-03; 01:30 is read as the first, EDT (-04:00).
    assert parse_naive("2024-11-03T01:30:00", "America/New_York") == datetime(2024, 11, 3, 5, 30, tzinfo=UTC)


def test_dst_rules_hold_through_inbound_job(workspace, monkeypatch):
    monkeypatch.setenv("CLIENT_TIMEZONE", "America/New_York")
    drop(workspace.inbound, "dst.json", [client_order(1, creationDate="2024-03-10T02:30:00",
                                                      lastUpdateDate="2024-11-03T01:30:00")])
    assert workspace.run("inbound_job").success
    stored = workspace.collection.find_one({"number": 1})
    assert stored["createdAt"] == datetime(2024, 3, 10, 7, 30, tzinfo=UTC)
    assert stored["updatedAt"] == datetime(2024, 11, 3, 5, 30, tzinfo=UTC)


# A folder named like an outbound file: that document is skipped and stays unsynced.

def test_a_folder_named_like_an_outbound_file_skips_that_document_and_the_others_go_out(workspace):
    from tracos_integration_tests.factories import tracos_document

    workspace.collection.insert_many([tracos_document(n) for n in (2, 3, 4)])
    (workspace.outbound / "3.json").mkdir()
    result = workspace.run("outbound_job")
    assert result.success
    assert workspace.outbound_files() == ["2.json", "3.json", "4.json"] and (workspace.outbound / "3.json").is_dir()
    synced = {d["number"]: d["isSynced"] for d in workspace.collection.find({})}
    assert synced == {2: True, 3: False, 4: True}
    [row] = outbound_metadata(result)["skipped_documents"].records
    assert row.data["number"] == 3 and "3.json" in row.data["reason"] and "is a folder" in row.data["reason"]
    assert ".tmp" not in row.data["reason"]
    (workspace.outbound / "3.json").rmdir()
    assert workspace.run("outbound_job").success
    assert workspace.collection.count_documents({"isSynced": True}) == 3


def test_a_folder_appearing_at_an_outbound_name_mid_write_is_named_not_the_temp_file(tmp_path):
    (tmp_path / "3.json").mkdir()
    with pytest.raises(IsADirectoryError) as caught:
        writing_module.write_json_atomically(tmp_path, "3.json", {"orderNo": 3})
    assert caught.value.filename == str(tmp_path / "3.json") and caught.value.filename2 is None
    assert os.listdir(tmp_path) == ["3.json"]  # no temp file left behind


def test_the_sensor_scan_takes_a_name_that_is_not_utf8(tmp_path):
    drop_bytes_name(tmp_path, b"caf\xe9.json", [client_order(1)])
    os.utime(os.path.join(os.fsencode(tmp_path), b"caf\xe9.json"), (0, 0))
    scan = ClientFolder(inbound_dir=str(tmp_path), settle_seconds=0).scan()
    assert len(scan.ready) == 1 and len(scan.fingerprint) == 24


def test_a_document_skipped_for_a_folder_taking_its_file_name_does_not_relaunch_outbound_every_tick(workspace):
    import dagster as dg

    from tracos_integration.definitions import defs
    from tracos_integration.jobs import OUTBOUND_TAG
    from tracos_integration.sensors import outbound_pending_sensor
    from tracos_integration_tests.factories import tracos_document

    workspace.collection.insert_many([tracos_document(2), tracos_document(3)])
    (workspace.outbound / "3.json").mkdir()
    mongo = MongoResource(uri=workspace.mongo_uri)
    with dg.instance_for_test() as instance:
        result = defs.get_job_def("outbound_job").execute_in_process(
            instance=instance, tags={OUTBOUND_TAG: "true"}
        )
        assert result.success and workspace.collection.count_documents({"isSynced": {"$ne": True}}) == 1
        with dg.build_sensor_context(instance=instance, resources={"mongo": mongo}) as context:
            skip = outbound_pending_sensor.evaluate_tick(context)
            assert skip.run_requests == [] and "could not translate or write" in skip.skip_message


def test_a_file_renamed_over_the_name_just_before_the_move_is_put_back(tmp_path, monkeypatch):
    path = drop(tmp_path, "orders.json", [client_order(1)])
    info = path.stat()
    read = FileIdentity(inode=info.st_ino, size=info.st_size, mtime_ns=info.st_mtime_ns)
    real_move = archive_module.move_without_overwrite

    def replaced_right_before_the_move(*args, **kwargs):
        replace_by_rename(path, [client_order(1, summary="newer")])
        return real_move(*args, **kwargs)

    monkeypatch.setattr(archive_module, "move_without_overwrite", replaced_right_before_the_move)
    archived = archive_module.archive_files(tmp_path, {"orders.json": read.packed()}, {})
    assert archived.processed == 0 and "inode" in archived.not_moved["orders.json"]
    assert read_json(path)[0]["summary"] == "newer" and os.listdir(tmp_path / "processed") == []


def test_a_file_level_error_counts_as_one_record_read_and_rejected(workspace):
    drop(workspace.inbound, "broken.json", "{not json")
    drop(workspace.inbound, "good.json", [client_order(1), client_order(2)])
    counts = inbound_metadata(workspace.run("inbound_job"))
    assert counts["read"] == 3 and counts["rejected"] == 1 and counts["inserted"] == 2
    assert counts["read"] == sum(counts[name] for name in ("inserted", "updated", "unchanged", "stale", "rejected"))


def test_a_processed_folder_that_is_a_symlink_is_refused_not_followed(workspace, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (workspace.inbound / "processed").symlink_to(elsewhere)
    drop(workspace.inbound, "a.json", [client_order(1)])
    result = workspace.run("inbound_job")
    assert not result.success and "is a symbolic link" in failure_message(result)
    assert list(elsewhere.iterdir()) == [] and (workspace.inbound / "a.json").exists()


def test_the_same_folder_for_inbound_and_outbound_is_refused(workspace, monkeypatch):
    monkeypatch.setenv("DATA_OUTBOUND_DIR", str(workspace.inbound))
    drop(workspace.inbound, "a.json", [client_order(1)])
    result = workspace.run("sync_job")
    assert not result.success and "are the same folder" in failure_message(result)
    assert (workspace.inbound / "a.json").exists()
