"""Properties of inbound client files, JSON and CSV (issue 16): whatever a customer drops
(random bytes, files cut off anywhere, random fields and types, long cells, many rows), an
inbound run

- never fails (no exception escapes);
- counts every record it read exactly once: read = inserted + updated + unchanged + stale +
  rejected, and the rejected ones are exactly those the failed/ reports list (errors_total);
- ends every file in processed/, in failed/ beside its report, or leaves it in the inbound
  folder counted under a reason (files_left);
- inserts exactly the documents it counts as inserted.

Small example counts in `make test`; PROPERTY_EXAMPLES=2000 runs them long."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import uuid
from pathlib import Path

import dagster as dg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracos_integration_tests.properties import examples
from tracos_integration.client.folder import ClientFolder
from tracos_integration.client.formats.csv import COLUMNS, FLAG_BY_CSV_STATUS
from tracos_integration.definitions import defs
from tracos_integration.tracos.resource import MongoResource
from tracos_integration_tests.conftest import inbound_metadata

EXAMPLES = examples(10)
PROPERTIES = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

# -- what a customer may drop ---------------------------------------------------------

timestamps = st.one_of(
    st.sampled_from(["2024-03-01T10:00:00Z", "2024-03-02T10:00:00.123+02:00", "2024-03-02T10:00:00", "0001-01-01T00:00:00Z",
                     "9999-12-31T23:59:59Z", "yesterday", ""]),
    st.datetimes().map(lambda moment: moment.isoformat()),
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
              st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30)),
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(st.text(max_size=5), children, max_size=3)),
    max_leaves=6,
)
json_records = st.fixed_dictionaries(
    {},
    optional={
        "orderNo": st.one_of(st.integers(min_value=1, max_value=30), json_values),
        "summary": st.one_of(st.text(max_size=40), st.just("x" * 200_000), json_values),
        "creationDate": st.one_of(timestamps, json_values),
        "lastUpdateDate": st.one_of(timestamps, json_values),
        "isPending": st.one_of(st.booleans(), json_values),
        "isDone": st.one_of(st.booleans(), json_values),
        "isDeleted": st.one_of(st.booleans(), json_values),
        "deletedDate": st.one_of(st.none(), timestamps),
        "extra": json_values,
    },
)

local_times = st.one_of(st.sampled_from(["01/03/2024 10:00", "31/12/9999 23:59", "01/01/0001 00:00", "29/02/2023 10:00",
                                         "2024-03-01T10:00", ""]),
                        st.text(max_size=16))
csv_cells = {
    "order_no": st.one_of(st.integers(min_value=1, max_value=30).map(str), st.text(max_size=8)),
    "description": st.one_of(st.text(max_size=40), st.just("y" * 200_000),
                             st.sampled_from(["=1+1", "'=1+1", "-", "@x", "a;b", 'say "hi"', "two\nlines", "\r"])),
    "status": st.one_of(st.sampled_from(sorted(FLAG_BY_CSV_STATUS)), st.text(max_size=10)),
    "opened_at": local_times,
    "changed_at": local_times,
    "deleted": st.one_of(st.sampled_from(["Y", "N"]), st.text(max_size=3)),
}
csv_rows = st.one_of(
    st.tuples(*(csv_cells[column] for column in COLUMNS)).map(list),
    st.lists(st.text(max_size=10), max_size=8),  # any number of cells
)


@st.composite
def json_files(draw) -> bytes:
    kind = draw(st.sampled_from(["object", "array", "many", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "many":  # many rows: the same record, a few thousand times
        data = json.dumps([draw(json_records)] * draw(st.integers(0, 3000))).encode()
    elif kind == "object":
        data = json.dumps(draw(json_records)).encode()
    else:
        data = json.dumps(draw(st.lists(json_records, max_size=6))).encode()
    return cut(draw, data)


@st.composite
def csv_files(draw) -> bytes:
    kind = draw(st.sampled_from(["rows", "many", "bytes", "blank rows"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=";", lineterminator=draw(st.sampled_from(["\r\n", "\n"])))
    writer.writerow(COLUMNS if draw(st.integers(0, 9)) else draw(st.lists(st.text(max_size=8), max_size=7)))
    if kind == "rows":
        writer.writerows(draw(st.lists(csv_rows, max_size=6)))
    elif kind == "many":
        writer.writerows([draw(csv_rows)] * draw(st.integers(0, 3000)))
    else:
        buffer.write("\n;\n" * draw(st.integers(0, 3000)))
    return cut(draw, buffer.getvalue().encode("utf-8", "surrogatepass"))


def cut(draw, data: bytes) -> bytes:
    """Some files are cut off at any byte, as a writer that has not finished leaves them."""
    if data and draw(st.integers(0, 3)) == 0:
        return data[: draw(st.integers(0, len(data) - 1))]
    return data


# -- the invariants ---------------------------------------------------------------


def run_inbound(file_format: str, files: list[bytes], young: bool) -> None:
    # Removed after each example: a run of these properties left up to 500 MB in /tmp.
    with tempfile.TemporaryDirectory(prefix="tracos-property-") as root:
        _check_inbound(Path(root), file_format, files, young)


def _check_inbound(root: Path, file_format: str, files: list[bytes], young: bool) -> None:
    inbound, outbound = root / "inbound", root / "outbound"
    inbound.mkdir()
    outbound.mkdir()
    suffix = "." + file_format
    names = [f"file{index}{suffix}" for index in range(len(files))]
    for name, data in zip(names, files):
        (inbound / name).write_bytes(data)
    mongo = MongoResource(uri=f"mongomock://property-{uuid.uuid4().hex}")
    folder = ClientFolder(inbound_dir=str(inbound), outbound_dir=str(outbound), file_format=file_format,
                          settle_seconds=3600 if young else 0, max_file_bytes=16 * 1024 * 1024)
    result = defs.get_job_def("inbound_job").execute_in_process(
        resources={"client_folder": folder, "mongo": mongo}, instance=dg.DagsterInstance.ephemeral(), raise_on_error=False,
    )
    assert result.success, [event.message for event in result.all_events if event.is_failure]
    metadata = inbound_metadata(result)

    counted = sum(metadata[name] for name in ("inserted", "updated", "unchanged", "stale", "rejected"))
    assert metadata["read"] == counted
    assert mongo.get_collection().count_documents({}) == metadata["inserted"]

    processed = sorted(path.name for path in (inbound / "processed").glob("*")) if (inbound / "processed").exists() else []
    failed_dir = inbound / "failed"
    failed = sorted(path.name for path in failed_dir.glob("*") if not path.name.endswith(".error.json")) \
        if failed_dir.exists() else []
    left = sorted(path.name for path in inbound.iterdir() if path.is_file())
    assert sorted(processed + failed + left) == sorted(names)  # every file somewhere, none twice
    assert metadata["files_processed"] == len(processed) and metadata["files_failed"] == len(failed)
    assert metadata["files_left"] == len(left)  # each file left in place is counted under a reason
    reported = 0
    for name in failed:
        report = json.loads((failed_dir / f"{name}.error.json").read_text(encoding="utf-8"))
        assert report["file"] == name and report["errors_total"] >= 1 and report["errors"]
        assert all(isinstance(error["reason"], str) and error["reason"] for error in report["errors"])
        reported += report["errors_total"]
    assert metadata["rejected"] == reported  # every rejected record has its reason in a report
    if not young:
        assert left == []  # settled files never stay


@PROPERTIES
@given(files=st.lists(json_files(), min_size=1, max_size=3), young=st.booleans())
def test_any_json_files_are_each_counted_once_and_end_somewhere(files, young):
    run_inbound("json", files, young)


@PROPERTIES
@given(files=st.lists(csv_files(), min_size=1, max_size=3), young=st.booleans())
def test_any_csv_files_are_each_counted_once_and_end_somewhere(files, young):
    run_inbound("csv", files, young)
