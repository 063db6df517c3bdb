"""CONTRACT section 3: what a valid client work order is, and why others are rejected."""

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from tracos_integration.core.client import STATUS_FLAGS, RecordRejected, parse_client_record
from tracos_integration_tests.factories import ABSENT, client_order

UTC = timezone.utc


def rejection(record, zone=UTC) -> str:
    with pytest.raises(RecordRejected) as caught:
        parse_client_record(record, zone)
    return str(caught.value)


def test_minimal_record_is_valid_and_flags_default_false():
    order = parse_client_record(client_order(7))
    assert order["orderNo"] == 7
    assert not any(order.get(flag, False) for flag in (*STATUS_FLAGS, "isDeleted"))
    assert order.get("deletedDate") is None


@pytest.mark.parametrize("value", [True, 1.0, 2.5, "12", 0, -3, None, {"$gt": ""}, [1]])
def test_order_no_must_be_an_integer_of_at_least_one(value):
    reason = rejection(client_order(orderNo=value))
    assert reason.startswith("orderNo:")


def test_order_no_beyond_int64_is_rejected():
    assert "orderNo" in rejection(client_order(orderNo=2**63))


@pytest.mark.parametrize("field", ["orderNo", "summary", "creationDate", "lastUpdateDate"])
def test_required_field_missing_is_rejected(field):
    assert rejection(client_order(**{field: ABSENT})) == f"{field}: required field is missing"


@pytest.mark.parametrize("value", [42, None, ["a"], {"$ne": 1}])
def test_summary_must_be_a_string(value):
    assert rejection(client_order(summary=value)).startswith("summary:")


@pytest.mark.parametrize("value", ["yesterday", "2024-13-01T00:00:00Z", "", 1700000000, None])
def test_unparseable_timestamp_rejects_the_work_order(value):
    assert rejection(client_order(lastUpdateDate=value)).startswith("lastUpdateDate:")


def test_timestamp_with_offset_is_converted_to_utc():
    order = parse_client_record(client_order(creationDate="2024-03-01T07:00:00-03:00"))
    assert order["creationDate"] == datetime(2024, 3, 1, 10, tzinfo=UTC)


def test_timestamp_without_offset_is_read_in_client_timezone():
    order = parse_client_record(client_order(creationDate="2024-03-01T07:00:00"), ZoneInfo("America/Sao_Paulo"))
    assert order["creationDate"] == datetime(2024, 3, 1, 10, tzinfo=UTC)


def test_timestamp_without_offset_defaults_to_utc():
    assert parse_client_record(client_order(creationDate="2024-03-01T07:00:00"))["creationDate"].hour == 7


def test_timestamps_keep_milliseconds_only():
    order = parse_client_record(client_order(lastUpdateDate="2024-03-01T07:00:00.123987Z"))
    assert order["lastUpdateDate"].microsecond == 123000


@pytest.mark.parametrize("flag", ["isPending", "isActive", "isDone", "isOnHold", "isCanceled", "isDeleted"])
@pytest.mark.parametrize("value", [None, "true", 1, 0])
def test_present_flag_must_be_true_or_false(flag, value):
    assert rejection(client_order(**{flag: value})).startswith(f"{flag}:")


def test_two_status_flags_true_is_a_contradictory_status():
    reason = rejection(client_order(isActive=True, isDone=True))
    assert "contradictory status" in reason and "isActive" in reason and "isDone" in reason


def test_deleted_date_with_is_deleted_false_is_rejected():
    assert "deletedDate is set but isDeleted is false" in rejection(
        client_order(deletedDate="2024-03-02T10:00:00Z")
    )


def test_null_deleted_date_is_allowed():
    assert parse_client_record(client_order(deletedDate=None))["deletedDate"] is None


def test_unknown_extra_fields_are_ignored():
    order = parse_client_record(client_order(priority="high", **{"$where": "sleep(1000)"}))
    assert order["orderNo"] == 1 and "priority" not in order and "$where" not in order


@pytest.mark.parametrize("value", [True, False, "garbage", None])
def test_is_synced_is_ignored_on_inbound(value):
    assert parse_client_record(client_order(isSynced=value)) == parse_client_record(client_order())


@pytest.mark.parametrize("raw, kind", [([], "an array"), ("x", "a string"), (None, "null"), (3, "a number")])
def test_a_record_that_is_not_an_object_is_rejected(raw, kind):
    assert rejection(raw) == f"expected a work order object, got {kind}"


def test_every_problem_is_named_in_one_reason():
    reason = rejection({"orderNo": "7"})
    assert reason.count(";") == 3 and 'got "7"' in reason
