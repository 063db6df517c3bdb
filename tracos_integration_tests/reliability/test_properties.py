"""Property-based: the round trip keeps every mapped field; no bytes crash the reader."""

from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracos_integration.core.client import STATUS_FLAGS, RecordRejected, parse_client_record, raised_status_flag
from tracos_integration.core.tracos import parse_tracos_document
from tracos_integration.core.translation import to_client_record, to_tracos_fields
from tracos_integration_tests.conftest import read_inbound

UTC = timezone.utc
moments = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC))
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


@st.composite
def client_work_orders(draw):
    created = draw(moments)
    record = {
        "orderNo": draw(st.integers(min_value=1, max_value=2**63 - 1)),
        "summary": draw(st.text(max_size=200)),
        "creationDate": created.astimezone(draw(offsets)).isoformat(),
        "lastUpdateDate": draw(moments).isoformat(),
    }
    flag = draw(st.sampled_from((*STATUS_FLAGS, None)))
    if flag:
        record[flag] = True
    if draw(st.booleans()):
        record["isDeleted"] = True
        if draw(st.booleans()):
            record["deletedDate"] = draw(moments).isoformat()
    return record


@settings(max_examples=300, deadline=None)
@given(client_work_orders())
def test_client_to_tracos_to_client_keeps_every_mapped_field(record):
    order = parse_client_record(record)
    back = to_client_record(parse_tracos_document({**to_tracos_fields(order), "description": ""}))
    again = parse_client_record(back)
    for name in ("orderNo", "summary", "creationDate", "lastUpdateDate"):
        assert again[name] == order[name]
    assert raised_status_flag(again) == (raised_status_flag(order) or "isActive")
    assert again["isDeleted"] == order.get("isDeleted", False)
    if again["isDeleted"]:
        assert again["deletedDate"] == (order.get("deletedDate") or order["lastUpdateDate"])
    assert sum(back[flag] for flag in STATUS_FLAGS) == 1 and back["isSynced"] is True


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.one_of(st.binary(max_size=2000), st.text(max_size=500).map(str.encode)))
def test_any_bytes_as_a_file_never_crash_the_reader(tmp_path, content):
    (tmp_path / "any.json").write_bytes(content)
    batch = read_inbound(tmp_path, max_file_bytes=1000)
    assert len(batch.files) == 1
    read = batch.files[0]
    assert isinstance(read.records, list) and (read.error is None or read.records == [])
    for raw in read.records:
        try:
            parse_client_record(raw)
        except RecordRejected:  # a reason, never any other exception
            pass
