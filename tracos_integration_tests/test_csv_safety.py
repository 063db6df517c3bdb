"""The CSV format against hostile and careless input (CONTRACT 3, 5.6, 5.8, 6.4, 6.6): long
cells, files cut off while being written, local times a zone cannot hold, files of blank rows,
formula cells, and files of another format in the folder."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import datetime, timezone

import dagster as dg
import pytest

from tracos_integration.client.folder import ClientFolder
from tracos_integration.client.formats import FORMATS
from tracos_integration.client.formats.csv import COLUMNS
from tracos_integration.core.translation import to_client_record
from tracos_integration.core.tracos import parse_tracos_document
from tracos_integration.sensors import inbound_file_sensor
from tracos_integration_tests.conftest import inbound_metadata, outbound_metadata
from tracos_integration_tests.factories import client_order, drop, read_json, tracos_document

CSV = FORMATS["csv"]
HEADER = ";".join(COLUMNS)
ROW = "{};{};OPEN;01/03/2024 10:00;02/03/2024 11:00;N"
UTC = timezone.utc


def csv_folder(**fields) -> ClientFolder:
    return ClientFolder(file_format="csv", **fields)


def csv_text(*rows: str) -> str:
    return "\r\n".join([HEADER, *rows]) + "\r\n"


# 1. A cell of any length within the file size limit is read


def test_a_cell_longer_than_pythons_csv_field_limit_is_read_like_its_json_twin(workspace):
    long_summary = "x" * 200_000  # the csv module refuses fields over 131,072 characters by default
    drop(workspace.inbound, "long.csv", csv_text(ROW.format(1, long_summary)))
    result = workspace.run("inbound_job", client_folder=csv_folder())
    assert result.success
    assert workspace.processed() == ["long.csv"] and workspace.failed() == []
    assert workspace.collection.find_one({"number": 1})["title"] == long_summary


def test_the_field_limit_follows_the_file_and_is_never_lowered():
    before = csv.field_size_limit()
    CSV.parse(csv_text(ROW.format(1, "y" * 300_000)).encode())
    raised = csv.field_size_limit()
    assert raised >= 300_000 and raised >= before
    CSV.parse(csv_text(ROW.format(2, "short")).encode())
    assert csv.field_size_limit() == raised  # a small file after a large one lowers nothing


# 2. A CSV file still being written is left in place (CONTRACT 5.6)

CUT_OFF = {
    "the last line has no line end": csv_text(ROW.format(1, "complete")) + "2;half a ro",
    "a quoted description never closed": csv_text(ROW.format(1, "complete")) + '2;"first line\r\nsecond',
    "the last row has too few cells": csv_text(ROW.format(1, "complete"), "2;cut;OPEN"),
}


@pytest.mark.parametrize("how", sorted(CUT_OFF))
def test_a_young_csv_file_cut_off_mid_write_is_left_in_place_and_nothing_applied(workspace, monkeypatch, how):
    monkeypatch.setenv("INBOUND_SETTLE_SECONDS", "3600")
    drop(workspace.inbound, "export.csv", CUT_OFF[how])
    result = workspace.run("inbound_job", client_folder=csv_folder())
    assert result.success
    assert (workspace.inbound / "export.csv").exists()
    assert workspace.processed() == [] and workspace.failed() == []
    assert workspace.collection.count_documents({}) == 0
    metadata = inbound_metadata(result)
    assert metadata["files_left_being_written"] == 1 and metadata["read"] == 0


def test_a_settled_csv_file_without_a_final_line_end_is_read_whole(workspace):
    drop(workspace.inbound, "export.csv", csv_text(ROW.format(1, "one")) + ROW.format(2, "two"))
    assert workspace.run("inbound_job", client_folder=csv_folder()).success
    assert workspace.processed() == ["export.csv"]
    assert sorted(d["number"] for d in workspace.collection.find({})) == [1, 2]


def test_a_young_complete_looking_csv_file_is_left_until_it_settles(workspace, monkeypatch):
    """A file cut at a row's end looks complete (the hostile pass: a row-by-row writer lost
    its later rows into processed/); test_hostile_pass_v3 has the writer."""
    monkeypatch.setenv("INBOUND_SETTLE_SECONDS", "3600")
    drop(workspace.inbound, "export.csv", csv_text(ROW.format(1, "one")))
    assert workspace.run("inbound_job", client_folder=csv_folder()).success
    assert workspace.processed() == [] and (workspace.inbound / "export.csv").exists()


def test_a_settled_cut_off_csv_file_fails_with_its_complete_rows_applied(workspace):
    drop(workspace.inbound, "export.csv", CUT_OFF["the last row has too few cells"])
    assert workspace.run("inbound_job", client_folder=csv_folder()).success
    assert workspace.failed() == ["export.csv", "export.csv.error.json"]
    assert [d["number"] for d in workspace.collection.find({})] == [1]


# 3. An outbound local time the customer's zone cannot hold skips that order (CONTRACT 6.4)


@pytest.mark.parametrize("zone,moment", [
    ("Europe/Berlin", datetime(9999, 12, 31, 23, 30, tzinfo=UTC)),  # 10000-01-01 00:30 in Berlin
    ("America/Sao_Paulo", datetime(1, 1, 1, 0, 30, tzinfo=UTC)),  # year 0 in Sao Paulo
])
def test_an_order_whose_local_time_is_out_of_range_is_skipped_and_the_others_go_out(workspace, zone, moment):
    workspace.collection.insert_many([
        tracos_document(1, updatedAt=moment), tracos_document(2),
    ])
    result = workspace.run("outbound_job", client_folder=csv_folder(client_timezone=zone))
    assert result.success
    assert workspace.outbound_files() == ["2.csv"]
    metadata = outbound_metadata(result)
    assert metadata["exported"] == 1 and metadata["skipped"] == 1
    [row] = metadata["skipped_documents"].records
    assert row.data["number"] == 1 and zone in row.data["reason"] and "outside years 1-9999" in row.data["reason"]
    assert workspace.collection.find_one({"number": 1})["isSynced"] is False
    assert workspace.collection.find_one({"number": 2})["isSynced"] is True


# 4. Memory is bounded by bytes (CONTRACT 5.8)

PEAK_RSS_SCRIPT = """
import json, sys
from pathlib import Path
import dagster as dg
from tracos_integration.client.folder import ClientFolder
from tracos_integration.definitions import defs
folder = Path(sys.argv[1])
(folder / "blank.csv").write_bytes(b"order_no;description;status;opened_at;changed_at;deleted\\n" + b"\\n;\\n" * (1024 * 1024 // 3))
result = defs.get_job_def("inbound_job").execute_in_process(
    resources={"client_folder": ClientFolder(file_format="csv")}, instance=dg.DagsterInstance.ephemeral())
report = json.loads((folder / "failed" / "blank.csv.error.json").read_text())
# VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork and exec, so a child of a big
# pytest process would report its parent's peak.
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"success": result.success, "errors_total": report["errors_total"], "peak_rss_mb": peak_kb // 1024}))
"""


def test_a_csv_file_of_blank_rows_is_read_in_memory_bounded_by_its_bytes(workspace):
    """1 MiB of blank and `;` rows (350,000 rows): every row is rejected with its reason, and
    the run's peak memory stays far below what a record object per row took (1.4 GB for 2 MiB)."""
    process = subprocess.run([sys.executable, "-c", PEAK_RSS_SCRIPT, str(workspace.inbound)], capture_output=True,
                             text=True, env={**__import__("os").environ}, timeout=600)
    assert process.returncode == 0, process.stderr[-2000:]
    figures = json.loads(process.stdout.strip().splitlines()[-1])
    print("peak RSS", figures)
    assert figures["success"] and figures["errors_total"] == 2 * (1024 * 1024 // 3)
    assert figures["peak_rss_mb"] < 400


# 5. Outbound cells are data, never formulas (CONTRACT 6.6)

FORMULAS = ["=HYPERLINK(\"http://evil\")", "+1+1", "-2+3", "@SUM(A1:A2)", "\tcmd", "\rcmd"]


@pytest.mark.parametrize("title", FORMULAS)
def test_an_outbound_cell_that_would_be_a_formula_is_written_with_a_leading_quote(workspace, title):
    workspace.collection.insert_one(tracos_document(5, title=title))
    assert workspace.run("outbound_job", client_folder=csv_folder()).success
    text = (workspace.outbound / "5.csv").read_bytes().decode("utf-8")
    header, row = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    assert row[0] == "5" and row[1] == "'" + title and row[2] == "OPEN"


@pytest.mark.parametrize("title", [*FORMULAS, "'=already quoted", "''+twice", "'plain", "plain - with a dash", "-", "'"])
def test_our_own_outbound_file_read_back_gives_the_same_summary(title):
    document = parse_tracos_document(tracos_document(5, title=title))
    [row] = CSV.parse(CSV.render(to_client_record(document), "UTC"))
    assert row["summary"] == title


def test_an_inbound_formula_cell_is_stored_as_text(workspace):
    drop(workspace.inbound, "export.csv", csv_text(ROW.format(1, "=1+1")))
    assert workspace.run("inbound_job", client_folder=csv_folder()).success
    assert workspace.collection.find_one({"number": 1})["title"] == "=1+1"


# 6. Files of another format are reported, never read


def test_a_json_file_in_a_csv_customers_folder_is_reported_and_left_unread(workspace):
    drop(workspace.inbound, "a.json", [client_order(1)])
    drop(workspace.inbound, "b.csv", csv_text(ROW.format(2, "csv row")))
    result = workspace.run("inbound_job", client_folder=csv_folder())
    assert result.success
    metadata = inbound_metadata(result)
    assert metadata["files_left_other_format"] == 1 and metadata["other_format_files"] == ["a.json"]
    assert (workspace.inbound / "a.json").exists() and workspace.processed() == ["b.csv"]
    assert [d["number"] for d in workspace.collection.find({})] == [2]
    assert any("a.json" in line and "csv" in line for line in workspace.logged(result))


def test_a_csv_file_in_a_json_customers_folder_is_reported_by_the_sensor(workspace):
    drop(workspace.inbound, "a.csv", csv_text(ROW.format(1, "x")))
    with dg.instance_for_test() as instance:
        with dg.build_sensor_context(instance=instance, resources={"client_folder": ClientFolder()}) as context:
            result = inbound_file_sensor.evaluate_tick(context)
    assert not result.run_requests
    assert "1 file(s) of another format" in result.skip_message and "*.csv" in result.skip_message
    result = workspace.run("inbound_job")
    assert inbound_metadata(result)["other_format_files"] == ["a.csv"]
    assert (workspace.inbound / "a.csv").exists()
