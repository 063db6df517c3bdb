"""Moving an inbound file never replaces another (CONTRACT 5.5), by either of the two ways
client/rename.py moves it: renameat2(RENAME_NOREPLACE), or link then unlink where the file
system refuses that flag (NFS before 4.2, some FUSE file systems)."""

from __future__ import annotations

import ctypes
import errno
import os

import pytest

from tracos_integration.client import rename


@pytest.fixture(params=["renameat2", "link_then_unlink"])
def way(request, monkeypatch):
    if request.param == "link_then_unlink":
        def refuses_the_flag(*args):
            ctypes.set_errno(errno.EINVAL)
            return -1

        monkeypatch.setattr(rename, "_renameat2", refuses_the_flag)
        monkeypatch.setattr(rename, "_unsupported_folders", set())
    elif rename._renameat2 is None:
        pytest.skip("this C library has no renameat2")
    return request.param


def test_a_move_gives_the_file_its_new_name(tmp_path, way):
    (tmp_path / "a.json").write_text("mine")
    rename.rename_without_overwrite(tmp_path / "a.json", tmp_path / "b.json")
    assert [p.name for p in tmp_path.iterdir()] == ["b.json"] and (tmp_path / "b.json").read_text() == "mine"


def test_a_move_onto_a_taken_name_fails_and_changes_nothing(tmp_path, way):
    (tmp_path / "a.json").write_text("mine")
    (tmp_path / "b.json").write_text("theirs")
    with pytest.raises(FileExistsError):
        rename.rename_without_overwrite(tmp_path / "a.json", tmp_path / "b.json")
    assert (tmp_path / "a.json").read_text() == "mine" and (tmp_path / "b.json").read_text() == "theirs"


def test_a_folder_that_refused_the_flag_once_is_moved_into_by_link_from_then_on(tmp_path, monkeypatch):
    calls = []

    def refuses_the_flag(*args):
        calls.append(args)
        ctypes.set_errno(errno.EINVAL)
        return -1

    monkeypatch.setattr(rename, "_renameat2", refuses_the_flag)
    monkeypatch.setattr(rename, "_unsupported_folders", set())
    for name in ("a", "b"):
        (tmp_path / f"{name}.json").write_text(name)
        rename.rename_without_overwrite(tmp_path / f"{name}.json", tmp_path / f"{name}.moved")
    assert len(calls) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.moved", "b.moved"]


def test_names_relative_to_opened_folders_move_between_them_and_never_over_a_taken_name(tmp_path, way):
    (tmp_path / "in").mkdir()
    (tmp_path / "done").mkdir()
    (tmp_path / "in" / "a.json").write_text("mine")
    (tmp_path / "in" / "b.json").write_text("also mine")
    (tmp_path / "done" / "b.json").write_text("theirs")
    source, target = os.open(tmp_path / "in", os.O_RDONLY | os.O_DIRECTORY), os.open(tmp_path / "done", os.O_RDONLY | os.O_DIRECTORY)
    try:
        rename.rename_without_overwrite("a.json", "a.json", source_folder=source, target_folder=target)
        with pytest.raises(FileExistsError):
            rename.rename_without_overwrite("b.json", "b.json", source_folder=source, target_folder=target)
    finally:
        os.close(source)
        os.close(target)
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == ["b.json"]
    assert (tmp_path / "done" / "a.json").read_text() == "mine" and (tmp_path / "done" / "b.json").read_text() == "theirs"
