"""The client folders on a real filesystem: safe reads, moves and atomic writes."""

import os
from pathlib import Path

from tracos_integration.client.writing import move_without_overwrite, write_json_atomically
from tracos_integration_tests.conftest import read_inbound as read
from tracos_integration_tests.factories import client_order, drop, read_json


def test_files_are_read_in_name_order(tmp_path):
    for name in ("b.json", "a.json", "c.json"):
        drop(tmp_path, name, [client_order(1)])
    assert [f.name for f in read(tmp_path).files] == ["a.json", "b.json", "c.json"]


def test_utf8_with_a_byte_order_mark_is_accepted(tmp_path):
    drop(tmp_path, "bom.json", "\ufeff" + '{"orderNo": 1, "summary": "Bomba d\'água"}')
    batch = read(tmp_path)
    assert batch.files[0].error is None and batch.files[0].records[0]["summary"] == "Bomba d'água"


def test_single_object_file_is_one_record(tmp_path):
    drop(tmp_path, "one.json", client_order(1))
    assert read(tmp_path).files[0].records == [client_order(1)]


def test_oversized_file_is_refused_before_reading(tmp_path):
    drop(tmp_path, "big.json", "[" + " " * 500 + "]")
    batch = read(tmp_path, max_file_bytes=100)
    assert "over the INBOUND_MAX_FILE_BYTES limit" in batch.files[0].error


def test_huge_number_and_deep_nesting_are_file_errors_not_crashes(tmp_path):
    drop(tmp_path, "digits.json", '{"orderNo": ' + "9" * 5000 + "}")
    drop(tmp_path, "deep.json", "[" * 100_000 + "]" * 100_000)
    errors = {f.name: f.error for f in read(tmp_path).files}
    assert errors["digits.json"].startswith("not valid JSON") and errors["deep.json"].startswith("not valid JSON")


def test_a_fifo_is_not_read_and_does_not_block(tmp_path):
    os.mkfifo(tmp_path / "pipe.json")
    assert read(tmp_path).files == []


def test_move_never_overwrites(tmp_path):
    target = tmp_path / "processed"
    target.mkdir()
    drop(target, "a.json", "old")
    drop(target, "a.1.json", "older")
    source = drop(tmp_path, "a.json", "new")
    moved = Path(move_without_overwrite(source, target))
    assert moved.name == "a.2.json" and moved.read_text() == "new"
    assert (target / "a.json").read_text() == "old" and not source.exists()


def test_atomic_write_leaves_no_temp_file(tmp_path):
    write_json_atomically(tmp_path, "1.json", {"orderNo": 1})
    assert os.listdir(tmp_path) == ["1.json"] and read_json(tmp_path / "1.json") == {"orderNo": 1}


def test_a_symlink_planted_at_the_name_is_replaced_not_written_through(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    outbound = tmp_path / "outbound"
    outbound.mkdir()
    (outbound / "1.json").symlink_to(victim)
    write_json_atomically(outbound, "1.json", {"orderNo": 1})
    assert victim.read_text() == "precious"
    assert not (outbound / "1.json").is_symlink() and read_json(outbound / "1.json") == {"orderNo": 1}
