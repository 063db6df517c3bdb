"""Properties of the client record validator (CONTRACT 3) and its timestamps: for any JSON
value, `parse_client_record`

- returns a dict holding only declared keys, every timestamp an aware UTC datetime at
  millisecond precision, or raises RecordRejected naming the field; never another exception;
- accepts and rejects exactly what a pydantic model with the same annotations (built here
  from the field table) would, with the same reasons and the same values. The validator is a
  TypedDict for speed; this guards that it still says what the model said."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Optional
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import (
    AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, ValidationError, ValidationInfo, create_model,
    model_validator,
)

from tracos_integration.core import fields
from tracos_integration.core.client import (
    MAX_ORDER_NO, STATUS_FLAGS, RecordRejected, describe_validation_error, parse_client_record, storable_text,
)
from tracos_integration.core.timestamps import UTC, format_timestamp, parse_iso_timestamp
from tracos_integration_tests.properties import examples

PROPERTIES = settings(max_examples=examples(500), deadline=None)
DECLARED = (*(field.client for field in fields.FIELDS), *STATUS_FLAGS, "isDeleted", "deletedDate")
TIMESTAMPS = {field.client for field in fields.FIELDS if field.kind == fields.TIMESTAMP} | {"deletedDate"}
ZONES = [UTC, *map(ZoneInfo, ["UTC", "America/Sao_Paulo", "Asia/Kathmandu", "Pacific/Kiritimati", "America/St_Johns",
                               "Europe/Berlin"])]


# -- the reference: a model with the same annotations, as the validator was before the TypedDict --

class _Rules(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    @model_validator(mode="after")
    def _flags_agree(self) -> "_Rules":
        raised = [flag for flag in STATUS_FLAGS if getattr(self, flag)]
        if len(raised) > 1:
            raise ValueError(f"contradictory status: {', '.join(raised)} are all true; set at most one status flag")
        if self.deletedDate is not None and not self.isDeleted:
            raise ValueError("deletedDate is set but isDeleted is false; set isDeleted to true or clear deletedDate")
        return self


# The model's own annotations, written out here: an oracle that shares no code path with the
# validator but the two rules a person would write once (storable text, the ISO parse).
def _timestamp_in_context(value: Any, info: ValidationInfo) -> datetime:
    return parse_iso_timestamp(value, (info.context or {}).get("client_timezone", UTC))


ClientTimestamp = Annotated[datetime, PlainValidator(_timestamp_in_context)]
StrictFlag = Annotated[bool, Field(strict=True)]
_TYPE_BY_KIND = {
    fields.NUMBER: Annotated[int, Field(strict=True, ge=1, le=MAX_ORDER_NO)],
    fields.TEXT: Annotated[str, Field(strict=True), AfterValidator(storable_text)],
    fields.TIMESTAMP: ClientTimestamp,
    fields.FLAG: StrictFlag,
}


def _declared(field: fields.Field) -> tuple[Any, Any]:
    annotation = _TYPE_BY_KIND[field.kind]
    return (annotation, ...) if field.required else (Optional[annotation], None)


Reference = create_model(
    "Reference", __base__=_Rules,
    **{field.client: _declared(field) for field in fields.FIELDS},
    **{flag: (StrictFlag, False) for flag in STATUS_FLAGS},
    isDeleted=(StrictFlag, False), deletedDate=(Optional[ClientTimestamp], None),
)


def reference(raw: Any, zone: Any) -> Any:
    """The model's verdict: its values, or its reason in the validator's wording."""
    try:
        return Reference.model_validate(raw, context={"client_timezone": zone})
    except ValidationError as error:
        return describe_validation_error(error)


# -- what a client may send -----------------------------------------------------------------

def mostly(usual: st.SearchStrategy, unusual: st.SearchStrategy) -> st.SearchStrategy:
    """`usual` three times in four: Hypothesis favours the listed oddities, and a record
    rejected for its first field tests little of the others."""
    return st.integers(0, 3).flatmap(lambda pick: usual if pick else unusual)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70), st.floats(),
              st.text(max_size=20), st.sampled_from(["\ud800", "x\udfffy", "", " ", "1", "true", "null"])),
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(st.text(max_size=5), children, max_size=3)),
    max_leaves=8,
)
moments = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999),
                       timezones=st.one_of(st.none(), st.just(UTC),
                                           st.integers(-1439, 1439).map(lambda m: timezone(timedelta(minutes=m)))))
written = st.builds(lambda moment, spec, sep: moment.isoformat(sep=sep, timespec=spec), moments,
                    st.sampled_from(["auto", "hours", "minutes", "seconds", "milliseconds", "microseconds"]),
                    st.sampled_from(["T", " "]))
timestamps = mostly(written, st.one_of(
    written.map(lambda text: text.replace("+00:00", "Z")), written.map(lambda text: f" {text}\n"),
    st.sampled_from(["2024-03-01T10:00:00Z", "2024-03-01", "20240301T100000Z", "2024-03-01T10:00:00.1234567Z",
                     "2024-12-31T23:59:60Z", "2024-03-01T24:00:00Z", "0001-01-01T00:00:00+14:00",
                     "9999-12-31T23:59:59.9999-01:00", "2024-03-10T02:30:00", "2024-02-30T00:00:00Z", "yesterday",
                     "2024-03-01T10:00:00+24:00", "2024-03-01T10:00:00,5Z", "2024-W09-5T10:00", "", "\ud800"]),
))
values = {
    fields.NUMBER: mostly(st.integers(1, 2**63 - 1), st.one_of(
        st.integers(min_value=-2, max_value=2**64), st.sampled_from([2**63 - 1, 2**63, 10**5000, 1.0, True]))),
    fields.TEXT: mostly(st.text(max_size=30), st.sampled_from(["\ud800", "\x00", "a\udc80b", "é" * 300])),
    fields.TIMESTAMP: timestamps,
    fields.FLAG: st.booleans(),
}


@st.composite
def records(draw) -> Any:
    """Valid records, valid records with hostile fields, and any JSON value."""
    if draw(st.integers(0, 4)) == 0:
        return draw(json_values)
    record: dict[str, Any] = {field.client: draw(values[field.kind]) for field in fields.FIELDS}
    for flag in draw(st.lists(st.sampled_from([*STATUS_FLAGS, "isDeleted"]), max_size=2, unique=True)):
        record[flag] = draw(st.booleans())
    if draw(st.booleans()):
        record["deletedDate"] = draw(st.one_of(st.none(), timestamps))
    for key in draw(st.lists(st.sampled_from([*DECLARED, "isSynced", "extra", "orderno", ""]), max_size=3)):
        if draw(st.booleans()):
            record.pop(key, None)  # missing
        else:
            record[key] = draw(json_values)  # any value where a field is
    return record


# -- the properties -------------------------------------------------------------------------

@PROPERTIES
@given(raw=records(), zone=st.sampled_from(ZONES))
def test_a_record_is_a_valid_work_order_or_rejected_naming_the_field(raw, zone):
    try:
        order = parse_client_record(raw, zone)
    except RecordRejected as rejected:
        reason = str(rejected)
        assert reason and "\n" not in reason
        if isinstance(raw, dict):
            assert any(name in reason for name in DECLARED), reason
        return
    assert isinstance(order, dict) and set(order) <= set(DECLARED) and set(order) <= set(raw)
    for name in TIMESTAMPS & set(order):
        moment = order[name]
        if moment is None:
            assert name == "deletedDate"
            continue
        assert isinstance(moment, datetime) and moment.utcoffset() == timedelta(0) and moment.tzinfo is UTC
        assert moment.microsecond % 1000 == 0
        assert parse_iso_timestamp(format_timestamp(moment), UTC) == moment  # written back, read as the same


@PROPERTIES
@given(raw=records(), zone=st.sampled_from(ZONES))
def test_the_validator_says_what_a_model_with_the_same_annotations_says(raw, zone):
    if not isinstance(raw, dict):
        with pytest.raises(RecordRejected, match="expected a work order object"):
            parse_client_record(raw, zone)
        return
    expected = reference(raw, zone)
    try:
        order = parse_client_record(raw, zone)
    except RecordRejected as rejected:
        assert str(rejected) == expected
        return
    assert not isinstance(expected, str), f"the model rejects it: {expected}"
    for name in DECLARED:  # a key the record lacks reads as the model's default
        assert order.get(name, Reference.model_fields[name].default) == getattr(expected, name), name


@PROPERTIES
@given(moment=moments, zone=st.sampled_from(ZONES))
def test_a_written_timestamp_reads_back_as_the_same_instant_to_the_millisecond(moment, zone):
    try:
        parsed = parse_iso_timestamp(moment.isoformat(), zone)
    except ValueError as refused:  # only beyond the calendar's edges, in UTC
        assert "outside the supported date range" in str(refused)
        return
    aware = moment if moment.tzinfo else moment.replace(tzinfo=zone)
    assert parsed.tzinfo is UTC and abs(aware - parsed) < timedelta(milliseconds=1) and parsed <= aware
