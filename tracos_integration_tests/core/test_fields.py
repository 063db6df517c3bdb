"""The field map (core/fields.py) is the one place the 1:1 fields are named."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from tracos_integration.client.formats import format_for
from tracos_integration.client.formats.csv import COLUMNS
from tracos_integration.core import fields
from tracos_integration.core.client import STATUS_FLAGS, ClientWorkOrder, parse_client_record
from tracos_integration.core.tracos import MAPPED_FIELDS, TracosWorkOrder, parse_tracos_document
from tracos_integration.core.translation import to_client_record, to_tracos_fields
from tracos_integration.core.tracos import unchanged_since_read
from tracos_integration.tracos.queries import OUTBOUND_PROJECTION

DOCUMENT = {
    "_id": "a1", "number": 7, "title": "Lubricate gearbox", "status": "completed",
    "createdAt": datetime(2026, 11, 26, 13, 30), "updatedAt": datetime(2026, 11, 27, 8, 5),
    "deleted": False, "deletedAt": None, "description": "kept", "isSynced": False,
}


def test_csv_header_is_the_field_maps_columns_with_status_and_deleted_in_their_places():
    rendered = format_for("csv").render(to_client_record(parse_tracos_document(dict(DOCUMENT))), "UTC")
    header = rendered.decode("utf-8").split("\r\n")[0]
    assert header.split(";") == list(COLUMNS) == list(fields.CSV_COLUMNS)
    assert [c for c in COLUMNS if c not in ("status", "deleted")] == [f.csv_column for f in fields.FIELDS]
    assert header == "order_no;description;status;opened_at;changed_at;deleted"  # the ERP's export, unchanged


def test_json_record_keys_are_the_field_maps_client_fields_then_the_rules():
    rendered = format_for("json").render(to_client_record(parse_tracos_document(dict(DOCUMENT))), "UTC")
    keys = list(json.loads(rendered))
    assert keys == [f.client for f in fields.FIELDS] + [*STATUS_FLAGS, "isDeleted", "deletedDate", "isSynced"]
    assert keys[:4] == ["orderNo", "summary", "creationDate", "lastUpdateDate"]  # unchanged outbound files


def test_models_translation_projection_and_mark_read_every_row_of_the_field_map():
    assert [f.client for f in fields.FIELDS] == list(ClientWorkOrder.__annotations__)[: len(fields.FIELDS)]
    assert {f.tracos for f in fields.FIELDS} <= set(TracosWorkOrder.model_fields)
    assert list(MAPPED_FIELDS) == list(TracosWorkOrder.model_fields)
    assert {f.tracos for f in fields.FIELDS} <= set(OUTBOUND_PROJECTION)
    assert {f.tracos for f in fields.FIELDS} <= set(unchanged_since_read(DOCUMENT))
    assert fields.DATE_FIELDS == {f.tracos for f in fields.FIELDS if f.kind == fields.TIMESTAMP} | {"deletedAt"}


def test_every_1to1_field_goes_to_tracos_and_back_under_its_names():
    record = to_client_record(parse_tracos_document(dict(DOCUMENT)))
    back = to_tracos_fields(parse_client_record(record))
    assert list(back) == list(MAPPED_FIELDS)  # the document keeps its field order
    for field in fields.FIELDS:
        stored = DOCUMENT[field.tracos]
        expected = stored.replace(tzinfo=timezone.utc) if isinstance(stored, datetime) else stored
        assert back[field.tracos] == expected, field
