"""Client file formats: the registry, the JSON format as it always was, and the CSV export
mapping to exactly the TracOS document the JSON format maps to."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracos_integration.client import formats
from tracos_integration.client.formats import FORMATS, ClientFormat, discover, format_for
from tracos_integration.client.formats.csv import COLUMNS, row_number
from tracos_integration.client.formats.csv_writing import sample_csv_files
from tracos_integration.client.writing import write_json_atomically
from tracos_integration.core.client import RecordRejected, parse_client_record
from tracos_integration.core.samples import sample_client_files
from tracos_integration.core.tracos import TracosWorkOrder
from tracos_integration.core.translation import to_client_record, to_tracos_fields
from tracos_integration_tests.factories import client_order, tracos_document

UTC = timezone.utc
BERLIN = "Europe/Berlin"
HEADER = ";".join(COLUMNS)
CSV = FORMATS["csv"]
JSON = FORMATS["json"]


def csv_file(*rows: str, header: str = HEADER, newline: str = "\r\n") -> bytes:
    return (newline.join([header, *rows]) + newline).encode("utf-8")


def tracos_fields(raw, zone: str = BERLIN) -> dict:
    return to_tracos_fields(parse_client_record(raw, ZoneInfo(zone)))


def rejection(raw, zone: str = BERLIN) -> str:
    with pytest.raises(RecordRejected) as caught:
        parse_client_record(raw, ZoneInfo(zone))
    return str(caught.value)


def file_error(client_format: ClientFormat, data: bytes) -> str:
    with pytest.raises(ValueError) as caught:
        client_format.parse(data)
    return str(caught.value)


# The registry


def test_registry_holds_json_and_csv_by_name():
    assert set(FORMATS) == {"json", "csv"}
    assert format_for("csv") is CSV and format_for("json") is JSON
    assert (JSON.suffix, CSV.suffix) == (".json", ".csv")


def test_unknown_format_name_is_refused_naming_the_known_ones():
    with pytest.raises(ValueError, match="unknown file format 'xml'; use one of csv, json"):
        format_for("xml")


def test_a_new_module_defining_FORMAT_is_registered_without_editing_anything(tmp_path, monkeypatch):
    package = tmp_path / "more_formats"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "tsv.py").write_text(
        "from tracos_integration.client.formats import ClientFormat\n"
        "class TsvFormat(ClientFormat):\n"
        "    name, suffix = 'tsv', '.tsv'\n"
        "    def parse(self, data): return []\n"
        "    def render(self, record, timezone): return b''\n"
        "FORMAT = TsvFormat()\n"
    )
    (package / "helpers.py").write_text("VALUE = 1\n")  # a module without FORMAT is not a format
    monkeypatch.syspath_prepend(str(tmp_path))
    import more_formats

    try:
        assert list(discover(more_formats)) == ["tsv"]
        assert discover(formats).keys() == FORMATS.keys()
    finally:
        for name in [name for name in sys.modules if name.startswith("more_formats")]:
            del sys.modules[name]


@pytest.mark.parametrize("client_format,good,bad", [
    (JSON, "order.json", ["order.csv", ".order.json.1a2b.tmp", ".hidden.json", "order.json.error.json.txt"]),
    (CSV, "export.csv", ["export.json", ".export.csv", "export.csv.error.json", "export.CSV.bak"]),
])
def test_inbound_candidates_are_visible_files_with_the_format_suffix(client_format, good, bad):
    assert client_format.is_candidate(good)
    assert not any(client_format.is_candidate(name) for name in bad)


def test_outbound_file_is_named_after_the_order_number_with_the_suffix():
    assert (JSON.file_name(1042), CSV.file_name(1042)) == ("1042.json", "1042.csv")


# JSON: exactly today's behaviour


@pytest.mark.parametrize("data, records", [
    (b'{"orderNo": 1}', [{"orderNo": 1}]),
    (b'\xef\xbb\xbf[{"orderNo": 1}, {"orderNo": 2}]', [{"orderNo": 1}, {"orderNo": 2}]),
    (b'[{"orderNo": 1, "orderNo": 2}, {"extra": {"a": 1, "a": 2}}]', [{"orderNo": 2}, {"extra": {"a": 2}}]),
])
def test_json_format_reads_one_object_or_an_array_with_or_without_a_bom(data, records):
    assert JSON.parse(data) == records


@pytest.mark.parametrize("data,reason", [
    (b'{"orderNo": NaN}', "NaN is not a valid JSON number"),
    (b"\xff{}", "not UTF-8 text"),
    # The offset counts from the file's first byte, BOM included, and names the bad byte.
    (b'\xef\xbb\xbf{"a": "\xff"}', "not UTF-8 text (byte 0xff at offset 10)"),
    (b'{"orderNo": ', "not valid JSON"),
    (b"42", "expected a work order object or an array of them, found a number"),
])
def test_json_file_that_cannot_be_read_is_a_file_level_error(data, reason):
    assert reason in file_error(JSON, data)


def test_json_key_written_twice_is_the_records_problem_not_an_ignored_fields():
    outer, inner = JSON.parse(b'[{"orderNo": 1, "orderNo": 2}, {"orderNo": 3, "extra": {"a": 1, "a": 2}}]')
    assert JSON.record_problem(outer) == 'duplicate key "orderNo" in the work order; each key may appear once'
    assert JSON.record_problem(inner) is None


def test_json_render_is_byte_for_byte_what_the_writer_writes(tmp_path):
    record = to_client_record(TracosWorkOrder.model_validate(tracos_document(7, title="Größe prüfen ✓")))
    written = write_json_atomically(tmp_path, "7.json", record)
    assert JSON.render(record, BERLIN) == written.read_bytes()


# CSV inbound: a row maps to exactly what the JSON record maps to


@pytest.mark.parametrize("status,flag", [
    ("OPEN", "isPending"), ("IN PROGRESS", "isActive"), ("DONE", "isDone"),
    ("ON HOLD", "isOnHold"), ("CANCELLED", "isCanceled"),
])
def test_csv_row_and_equivalent_json_record_make_the_same_tracos_document(status, flag):
    [row] = CSV.parse(csv_file(f"1042;Replace worn bearing;{status};26/11/2026 14:30;27/11/2026 09:05;N"))
    json_record = client_order(1042, summary="Replace worn bearing", creationDate="2026-11-26T13:30:00Z",
                               lastUpdateDate="2026-11-27T08:05:00+00:00", **{flag: True})
    assert CSV.record_problem(row) is None
    assert tracos_fields(row) == tracos_fields(json_record, "UTC")


def test_deleted_csv_row_takes_changed_at_as_its_deletion_time_like_json():
    [row] = CSV.parse(csv_file("7;Lubricate gearbox;DONE;01/03/2026 08:00;02/03/2026 17:45;Y"))
    json_record = client_order(7, summary="Lubricate gearbox", isDone=True, creationDate="2026-03-01T08:00:00+01:00",
                               lastUpdateDate="2026-03-02T17:45:00+01:00", isDeleted=True,
                               deletedDate="2026-03-02T16:45:00Z")
    fields = tracos_fields(row)
    assert fields == tracos_fields(json_record)
    assert fields["deleted"] is True and fields["deletedAt"] == datetime(2026, 3, 2, 16, 45, tzinfo=UTC)


def test_csv_times_are_read_in_the_customers_time_zone():
    [row] = CSV.parse(csv_file("1;x;OPEN;26/07/2026 14:30;26/07/2026 14:30;N"))
    assert row["creationDate"] == "2026-07-26T14:30:00"  # naive: the core reads it in the customer's zone
    assert tracos_fields(row, BERLIN)["createdAt"] == datetime(2026, 7, 26, 12, 30, tzinfo=UTC)
    assert tracos_fields(row, "America/Sao_Paulo")["createdAt"] == datetime(2026, 7, 26, 17, 30, tzinfo=UTC)


def test_csv_file_with_bom_lf_and_quoted_fields_is_read():
    data = b"\xef\xbb\xbf" + csv_file('5;"Seal; gasket ""B""";OPEN;01/01/2026 00:00;01/01/2026 00:01;N', newline="\n")
    [row] = CSV.parse(data)
    assert row["summary"] == 'Seal; gasket "B"' and row["orderNo"] == 5


def test_csv_description_may_span_lines_when_quoted():
    [row] = CSV.parse(csv_file('5;"first line\nsecond line";OPEN;01/01/2026 00:00;01/01/2026 00:01;N'))
    assert row["summary"] == "first line\nsecond line"


def test_csv_with_only_a_header_holds_no_work_orders_and_trailing_blank_lines_are_not_rows():
    assert CSV.parse(csv_file()) == []
    assert len(CSV.parse(csv_file("1;x;OPEN;01/01/2026 00:00;01/01/2026 00:00;N", "", ""))) == 1


def test_csv_record_position_is_its_row_number_header_being_row_one():
    assert [row_number(0), row_number(41)] == [2, 43]
    assert CSV.where(0) == "row 2" and JSON.where(0) == "record 0"


# CSV inbound: a bad row is a rejected record with a clear reason; the file goes on


BAD_ROWS = [
    ("1;x;FOO;01/01/2026 00:00;01/01/2026 00:00;N",
     'status: "FOO" is not one of OPEN, IN PROGRESS, DONE, ON HOLD, CANCELLED'),
    ("1;x;;01/01/2026 00:00;01/01/2026 00:00;N", 'status: "" is not one of OPEN, IN PROGRESS, DONE, ON HOLD, CANCELLED'),
    ("1;x;OPEN;2026-01-01 00:00;01/01/2026 00:00;N",
     'opened_at: "2026-01-01 00:00" is not a date and time written DD/MM/YYYY HH:MM'),
    ("1;x;OPEN;01/01/2026 00:00;31/02/2026 10:00;N", 'changed_at: "31/02/2026 10:00" is not a real date and time'),
    ("1;x;OPEN;01/01/2026 00:00;01/01/2026 00:00;yes", 'deleted: "yes" is not Y or N'),
    ("1;x;OPEN;01/01/2026 00:00;01/01/2026 00:00", "the row has 5 columns, expected 6"),
    ("1;a;b;OPEN;01/01/2026 00:00;01/01/2026 00:00;N", "the row has 7 columns, expected 6"),
    ("", "the row is empty"),
]


@pytest.mark.parametrize("line,reason", BAD_ROWS)
def test_bad_csv_row_is_rejected_with_its_reason_and_the_rows_after_it_still_read(line, reason):
    bad, good = CSV.parse(csv_file(line, "2;y;DONE;01/01/2026 00:00;01/01/2026 00:00;N"))
    assert reason in CSV.record_problem(bad)
    assert CSV.record_problem(good) is None and tracos_fields(good)["number"] == 2


@pytest.mark.parametrize("line,reason", BAD_ROWS)
def test_bad_csv_row_is_refused_by_the_core_too_if_a_caller_skipped_the_check(line, reason):
    [bad] = CSV.parse(csv_file(line, "1;x;OPEN;01/01/2026 00:00;01/01/2026 00:00;N"))[:1]
    rejection(bad)


def test_csv_row_with_several_problems_names_each():
    [row] = CSV.parse(csv_file("1;x;FOO;01/01/2026 00:00;01/01/2026 00:00;?"))
    assert CSV.record_problem(row) == (
        'status: "FOO" is not one of OPEN, IN PROGRESS, DONE, ON HOLD, CANCELLED; deleted: "?" is not Y or N'
    )


@pytest.mark.parametrize("order_no,reason", [
    ("A-17", 'orderNo: input should be a valid integer (got "A-17")'),
    ("0", "orderNo: input should be greater than or equal to 1"),
    ("99999999999999999999", "orderNo: input should be less than or equal to 9223372036854775807"),
])
def test_csv_order_no_that_is_no_order_number_is_rejected_by_the_cores_usual_reason(order_no, reason):
    [row] = CSV.parse(csv_file(f"{order_no};x;OPEN;01/01/2026 00:00;01/01/2026 00:00;N"))
    assert CSV.record_problem(row) is None
    assert rejection(row).startswith(reason)


@pytest.mark.parametrize("data,reason", [
    (csv_file(header="order_no,description,status,opened_at,changed_at,deleted"),
     "expected the columns order_no;description;status;opened_at;changed_at;deleted, separated by semicolons"),
    (csv_file(header="order_no;summary;status;opened_at;changed_at;deleted"), "the header row is order_no;summary;"),
    (b"", "the file is empty; expected the header row order_no;description;status;opened_at;changed_at;deleted"),
    (b"\xef\xbb\xbf", "the file is empty"),
    (HEADER.encode() + b"\r\n1;caf\xe9;OPEN", "not UTF-8 text (byte 0xe9 at offset"),
    (csv_file('1;"open quote;OPEN;01/01/2026 00:00;01/01/2026 00:00;N'), "not valid CSV"),
])
def test_csv_file_that_cannot_be_read_is_a_file_level_error_saying_why(data, reason):
    assert reason in file_error(CSV, data)


def test_csv_header_names_may_carry_spaces_around_them():
    assert CSV.parse(csv_file(header=" order_no ; description;status;opened_at;changed_at;deleted")) == []


# CSV outbound


def test_csv_outbound_file_is_the_header_and_one_row_in_the_customers_zone():
    document = tracos_document(1042, title="Seal; gasket", status="on_hold",
                               createdAt=datetime(2026, 11, 26, 13, 30, 59, 999000, tzinfo=UTC),
                               updatedAt=datetime(2026, 11, 27, 8, 5, tzinfo=UTC))
    rendered = CSV.render(to_client_record(TracosWorkOrder.model_validate(document)), BERLIN)
    assert rendered == (
        b"order_no;description;status;opened_at;changed_at;deleted\r\n"
        b'1042;"Seal; gasket";ON HOLD;26/11/2026 14:30;27/11/2026 09:05;N\r\n'
    )


def test_deleted_order_is_written_with_deleted_Y():
    document = tracos_document(3, deleted=True, deletedAt=datetime(2024, 3, 2, 10, tzinfo=UTC))
    rendered = CSV.render(to_client_record(TracosWorkOrder.model_validate(document)), "UTC").decode()
    assert rendered.endswith(";02/03/2024 10:00;Y\r\n")


def minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


@pytest.mark.parametrize("status", ["pending", "in_progress", "completed", "on_hold", "cancelled"])
@pytest.mark.parametrize("deleted", [False, True])
def test_tracos_document_round_trips_through_csv_at_minute_precision(status, deleted):
    created = datetime(2026, 3, 29, 0, 59, 42, 123000, tzinfo=UTC)  # the night Berlin's clocks go forward
    updated = created + timedelta(hours=3, seconds=5)
    document = TracosWorkOrder.model_validate(tracos_document(
        9, title='Pump "P-7"; re-align\nand check', status=status, createdAt=created, updatedAt=updated,
        deleted=deleted, deletedAt=updated if deleted else None,
    ))
    [row] = CSV.parse(CSV.render(to_client_record(document), BERLIN))
    assert CSV.record_problem(row) is None
    assert tracos_fields(row, BERLIN) == {
        "number": 9, "title": document.title, "status": status,
        "createdAt": minute(created), "updatedAt": minute(updated),
        "deleted": deleted, "deletedAt": minute(updated) if deleted else None,
    }


@settings(max_examples=200, deadline=None)
@given(
    moment=st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)),
    zone=st.sampled_from(["UTC", BERLIN, "America/Sao_Paulo", "Asia/Kolkata", "Pacific/Chatham"]),
)
def test_any_time_round_trips_through_csv_to_the_minute_outside_the_hour_clocks_turn_back(moment, zone):
    local = moment.astimezone(ZoneInfo(zone))
    ambiguous = local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset()
    if ambiguous:  # 02:30 twice in one night: without an offset, it reads as the first (documented)
        return
    document = TracosWorkOrder.model_validate(tracos_document(1, createdAt=moment, updatedAt=moment))
    [row] = CSV.parse(CSV.render(to_client_record(document), zone))
    assert tracos_fields(row, zone)["createdAt"] == minute(moment).replace(microsecond=0)


# Sample data


def test_csv_samples_are_files_of_valid_rows_numbered_from_one(tmp_path):
    files = sample_csv_files(40, BERLIN)
    numbers = []
    for name, data in files.items():
        assert CSV.is_candidate(name)
        for row in CSV.parse(data):
            assert CSV.record_problem(row) is None
            numbers.append(tracos_fields(row)["number"])
    assert sorted(numbers) == list(range(1, 41))
    assert any(len(CSV.parse(data)) > 1 for data in files.values())


def test_csv_samples_hold_the_same_orders_in_the_same_files_as_the_json_samples():
    csv_files = {name.removesuffix(".csv"): [int(row["orderNo"]) for row in CSV.parse(data)]
                 for name, data in sample_csv_files(40, BERLIN).items()}
    json_files = {name.removesuffix(".json"): [order["orderNo"] for order in _orders_in(content)]
                  for name, content in sample_client_files(40).items()}
    assert csv_files == json_files


def _orders_in(content):
    """A JSON sample file holds one order alone, or several as an array."""
    return content if isinstance(content, list) else [content]
