"""File-system faults: permission denied, disk full, missing or unwritable folders, symlinks."""

import errno
import os

from tracos_integration.client import folder as folder_module
from tracos_integration_tests.conftest import inbound_metadata
from tracos_integration_tests.factories import client_order, drop, tracos_document


def failure_message(result) -> str:
    return next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE").event_specific_data.error.message


def test_permission_denied_on_one_inbound_file_processes_the_others(workspace, monkeypatch, figures):
    for n in range(1, 4):
        drop(workspace.inbound, f"f{n}.json", [client_order(n)])
    real_open = os.open

    def deny_f2(path, flags, *args, **kwargs):
        if str(path).endswith("f2.json") and not flags & os.O_CREAT:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    with monkeypatch.context() as patch:  # CI runs as root, where chmod stops nothing
        patch.setattr(folder_module.os, "open", deny_f2)
        result = workspace.run("inbound_job")
    assert result.success
    assert workspace.processed() == ["f1.json", "f3.json"]
    assert (workspace.inbound / "f2.json").exists()
    metadata = inbound_metadata(result)
    assert metadata["files_left_unreadable"] == 1 and "permission denied" in metadata["unreadable_files"]["f2.json"]
    assert sorted(d["number"] for d in workspace.collection.find({})) == [1, 3]
    assert workspace.run("inbound_job").success and workspace.processed() == ["f1.json", "f2.json", "f3.json"]
    figures(records_in=3, applied=3, rejected=0, lost=0, duplicated=0)


def test_disk_full_while_writing_outbound_marks_nothing_and_leaves_no_partial_file(workspace, monkeypatch, figures):
    workspace.collection.insert_many([tracos_document(n) for n in range(1, 4)])
    real_fsync = os.fsync
    calls = []

    def disk_full_on_second(descriptor):
        calls.append(descriptor)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(descriptor)

    with monkeypatch.context() as patch:
        patch.setattr(folder_module.os, "fsync", disk_full_on_second)
        result = workspace.run("outbound_job")
    assert not result.success
    assert "No space left on device" in failure_message(result)
    assert "Documents not marked synced stay unsynced" in failure_message(result)
    assert workspace.collection.count_documents({"isSynced": True}) == 0
    assert sorted(os.listdir(workspace.outbound)) == ["1.json"]  # complete files only, no temp
    assert workspace.run("outbound_job").success
    assert workspace.outbound_files() == ["1.json", "2.json", "3.json"]
    figures(records_in=3, applied=3, rejected=0, lost=0, duplicated=0)


def test_missing_outbound_folder_is_a_clear_error_and_marks_nothing(workspace, monkeypatch, tmp_path, figures):
    workspace.collection.insert_one(tracos_document(1))
    monkeypatch.setenv("DATA_OUTBOUND_DIR", str(tmp_path / "gone"))
    result = workspace.run("outbound_job")
    assert not result.success and "does not exist" in failure_message(result)
    assert workspace.collection.count_documents({"isSynced": True}) == 0
    figures(records_in=1, applied=0, rejected=0, lost=0, duplicated=0)


def test_unwritable_outbound_folder_is_a_clear_error_and_marks_nothing(workspace, monkeypatch, figures):
    workspace.collection.insert_one(tracos_document(1))
    real_open = os.open

    def read_only(path, flags, *args, dir_fd=None, **kwargs):
        # By path, or by a name relative to the opened folder (outbound writes that way).
        inside = str(path).startswith(str(workspace.outbound)) or (
            dir_fd is not None and os.path.samestat(os.fstat(dir_fd), os.stat(workspace.outbound)))
        if flags & os.O_CREAT and inside:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args, dir_fd=dir_fd, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(folder_module.os, "open", read_only)
        result = workspace.run("outbound_job")
    assert not result.success
    assert f"PermissionError: Permission denied ({workspace.outbound / '1.json'})" in failure_message(result)
    assert workspace.collection.count_documents({"isSynced": True}) == 0
    assert workspace.run("outbound_job").success
    figures(records_in=1, applied=1, rejected=0, lost=0, duplicated=0)


def test_symlink_planted_at_an_outbound_name_is_never_written_through(workspace, tmp_path, figures):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (workspace.outbound / "1.json").symlink_to(victim)
    workspace.collection.insert_one(tracos_document(1))
    assert workspace.run("outbound_job").success
    assert victim.read_text() == "precious" and not (workspace.outbound / "1.json").is_symlink()
    figures(records_in=1, applied=1, rejected=0, lost=0, duplicated=0)
