"""A hostile pass over the speed changes (folders opened once, reads stopping at fstat's size,
one-int identities): the ground moving under an archive, on a real file system."""

from __future__ import annotations

import ctypes
import errno
import json
import os

import pytest

from tracos_integration.client import archive as archive_module
from tracos_integration.client import folder as folder_module
from tracos_integration.client import reading as reading_module
from tracos_integration.client import rename
from tracos_integration.client import writing as writing_module
from tracos_integration.client.reading import FileErrors, FileError, FileIdentity
from tracos_integration_tests.conftest import inbound_metadata
from tracos_integration_tests.factories import client_order, drop, read_json, tracos_document


def identity_of(path) -> int:
    info = path.stat()
    return FileIdentity(inode=info.st_ino, size=info.st_size, mtime_ns=info.st_mtime_ns).packed()


def errors(reason: str) -> FileErrors:
    found = FileErrors()
    found.add(FileError(None, reason))
    return found


def swap_folder_before_the_first_move(monkeypatch, folder, swap):
    real_move, done = archive_module.move_without_overwrite, []

    def swapped_first(*args, **kwargs):
        if not done:
            done.append(True)
            swap(folder)
        return real_move(*args, **kwargs)

    monkeypatch.setattr(archive_module, "move_without_overwrite", swapped_first)


def rotated(elsewhere):
    def swap(failed):
        os.rename(failed, failed.with_name("failed.old"))
        if elsewhere is not None:
            failed.symlink_to(elsewhere)
    return swap


# CONTRACT 5.5: beside a failed file stands its report; §8 names never escape their folders.
@pytest.mark.parametrize("replaced_by_link", [False, True], ids=["renamed away", "renamed and replaced by a link"])
def test_a_failed_files_report_stands_beside_it_when_failed_is_rotated_mid_archive(tmp_path, monkeypatch,
                                                                                  replaced_by_link):
    inbound, elsewhere = tmp_path / "inbound", tmp_path / "elsewhere"
    inbound.mkdir(), elsewhere.mkdir(), (inbound / "failed").mkdir()
    names = ["a.json", "b.json"]
    files = {name: identity_of(drop(inbound, name, "{")) for name in names}
    swap_folder_before_the_first_move(monkeypatch, inbound / "failed",
                                      rotated(elsewhere if replaced_by_link else None))
    archived = archive_module.archive_files(inbound, files, {name: errors("not valid JSON") for name in names})
    kept = inbound / "failed.old"  # where the folder the archive opened now is
    assert sorted(os.listdir(kept)) == ["a.json", "a.json.error.json", "b.json", "b.json.error.json"]
    assert json.loads((kept / "a.json.error.json").read_text())["file"] == "a.json"
    assert archived.unreported == {} and sorted(archived.failed) == names
    assert list(elsewhere.iterdir()) == []  # nothing written through the planted link


# CONTRACT 5.5 on file systems that refuse RENAME_NOREPLACE (EINVAL): only they move by link.
@pytest.mark.skipif(rename._renameat2 is None, reason="this C library has no renameat2")
def test_a_folder_refusing_the_flag_never_makes_a_later_folder_at_its_descriptor_number_move_by_link(
        tmp_path, monkeypatch):
    real_renameat2 = rename._renameat2
    (tmp_path / "refusing").mkdir(), (tmp_path / "in").mkdir(), (tmp_path / "done").mkdir()
    refusing_inode = (tmp_path / "refusing").stat().st_ino

    def refuses_there(source_at, source, target_at, target, flags):
        if os.fstat(target_at).st_ino == refusing_inode:  # e.g. an NFS mount before 4.2
            ctypes.set_errno(errno.EINVAL)
            return -1
        return real_renameat2(source_at, source, target_at, target, flags)

    monkeypatch.setattr(rename, "_renameat2", refuses_there)
    monkeypatch.setattr(rename, "_unsupported_folders", set())
    (tmp_path / "in" / "a.json").write_text("a")
    (tmp_path / "in" / "b.json").write_text("b")
    source = os.open(tmp_path / "in", os.O_RDONLY | os.O_DIRECTORY)
    number = os.open(tmp_path / "refusing", os.O_RDONLY | os.O_DIRECTORY)
    try:
        rename.rename_without_overwrite("a.json", "a.json", source_folder=source, target_folder=number)
        os.close(number)  # the archive is done with that folder; its number is free again
        done = os.open(tmp_path / "done", os.O_RDONLY | os.O_DIRECTORY)
        if done != number:
            os.dup2(done, number)
            os.close(done)

        def no_links_here(*args, **kwargs):  # protected_hardlinks: a file of another owner cannot be linked
            raise PermissionError(errno.EPERM, "Operation not permitted")

        monkeypatch.setattr(rename.os, "link", no_links_here)
        rename.rename_without_overwrite("b.json", "b.json", source_folder=source, target_folder=number)
    finally:
        os.close(source)
        os.close(number)
    assert os.listdir(tmp_path / "refusing") == ["a.json"] and os.listdir(tmp_path / "done") == ["b.json"]


# CONTRACT 5.5/5.6: a file cut short while the run reads it is being rewritten: left in place
# for the next run, never parsed half (no record applied from it, no rejection for its cut).
def test_a_file_cut_short_while_it_is_read_is_left_for_the_next_run_never_parsed_half(workspace, monkeypatch):
    path = drop(workspace.inbound, "orders.json", [client_order(1), client_order(2)])
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))  # settled long ago: not young, so not "being written"
    whole = path.read_bytes()
    real_read, done = os.read, []

    def cut_after_fstat(descriptor, size):
        if not done:
            done.append(True)
            with open(path, "r+b") as rewriting:
                rewriting.truncate(len(whole) // 2)
        return real_read(descriptor, size)

    monkeypatch.setattr(reading_module.os, "read", cut_after_fstat)
    result = workspace.run("inbound_job")
    assert result.success
    counts = inbound_metadata(result)
    assert counts["read"] == 0 and counts["rejected"] == 0 and counts["files_left"] == 1
    assert counts["files_left_being_written"] == 1
    assert os.listdir(workspace.inbound) == ["orders.json"] and workspace.collection.count_documents({}) == 0


def refuses_new_files(real_open):
    def read_only(path, flags, mode=0o777, *, dir_fd=None):  # tests run as root, where chmod stops nothing
        if flags & os.O_CREAT:
            raise PermissionError(errno.EACCES, "Permission denied", path)  # as the kernel names it: the path given
        return real_open(path, flags, mode, dir_fd=dir_fd)
    return read_only


def full_after_ten_bytes(real_write):
    def full(descriptor, data):
        if len(data) > 10:
            return real_write(descriptor, data[:10])  # a short write, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")
    return full


# CONTRACT 6.2/6.3 and "errors name what and where": a folder that refuses the file fails the
# run naming the folder and the file the user knows, never a bare hidden temp name.
@pytest.mark.parametrize("attribute, refusal", [("open", refuses_new_files), ("write", full_after_ten_bytes)],
                         ids=["read-only", "full"])
def test_an_outbound_folder_that_refuses_a_file_fails_naming_the_folder_and_leaves_nothing(
        workspace, monkeypatch, attribute, refusal):
    workspace.collection.insert_many([tracos_document(1), tracos_document(2)])
    monkeypatch.setattr(writing_module.os, attribute, refusal(getattr(os, attribute)))
    result = workspace.run("outbound_job")
    assert not result.success
    message = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE").event_specific_data.error.message
    assert str(workspace.outbound / "1.json") in message and ".tmp" not in message
    assert os.listdir(workspace.outbound) == []  # no partial file, no temp file
    assert [d.get("isSynced") for d in workspace.collection.find({})] == [False, False]


# "Errors name what and where": a flaky disk failing one inbound file's read fails the run
# naming that file in its folder (files are opened relative to the folder, by name alone).
@pytest.mark.parametrize("attribute", ["open", "read"])
def test_an_inbound_file_the_disk_cannot_read_fails_the_run_naming_it_in_its_folder(workspace, monkeypatch, attribute):
    drop(workspace.inbound, "a.json", [client_order(1)])
    drop(workspace.inbound, "b.json", [client_order(2)])
    real = getattr(os, attribute)

    def flaky(*args, **kwargs):
        if attribute == "read" or args[0] == "b.json":
            raise OSError(errno.EIO, "Input/output error", *(args[:1] if attribute == "open" else ()))
        return real(*args, **kwargs)

    monkeypatch.setattr(reading_module.os, attribute, flaky)
    result = workspace.run("inbound_job")
    assert not result.success
    message = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE").event_specific_data.error.message
    assert f"Input/output error ({workspace.inbound / ('b.json' if attribute == 'open' else 'a.json')})" in message
    assert sorted(os.listdir(workspace.inbound)) == ["a.json", "b.json"]  # nothing moved, nothing lost


# CONTRACT 5.8 and "nothing silent": a flaky disk failing the fsync after the moves is a
# warning naming the folder; the run never claims "no file was moved" over moved files, and
# keeps its counts (a move lost in a crash only brings the file back: read again, unchanged).
def test_a_folder_fsync_failing_after_the_moves_is_a_warning_not_a_false_nothing_moved(workspace, monkeypatch):
    drop(workspace.inbound, "a.json", [client_order(1)])

    def flaky(descriptor):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(archive_module.os, "fsync", flaky)
    result = workspace.run("inbound_job")
    assert result.success and workspace.processed() == ["a.json"]
    assert inbound_metadata(result)["files_processed"] == 1
    warnings = [line for line in workspace.logged(result) if "Input/output error" in line]
    assert len(warnings) == 1 and str(workspace.inbound / "processed") in warnings[0]


# "Errors name what and where": the outbound folder's fsync failing names the folder; the
# documents stay unsynced (their files go out again next run).
def test_an_outbound_folder_whose_fsync_fails_is_named_and_its_documents_stay_unsynced(workspace, monkeypatch):
    workspace.collection.insert_many([tracos_document(1)])
    real_fsync = os.fsync

    def flaky(descriptor):
        if os.path.samestat(os.fstat(descriptor), os.stat(workspace.outbound)):
            raise OSError(errno.EIO, "Input/output error")
        return real_fsync(descriptor)

    monkeypatch.setattr(folder_module.os, "fsync", flaky)
    result = workspace.run("outbound_job")
    assert not result.success
    message = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE").event_specific_data.error.message
    assert f"Input/output error ({workspace.outbound})" in message
    assert [d.get("isSynced") for d in workspace.collection.find({})] == [False]
