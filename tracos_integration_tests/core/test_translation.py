"""CONTRACT section 4: status, deletion and field mapping, both ways."""

from datetime import datetime, timezone

import pytest

from tracos_integration.core.client import STATUS_FLAGS, parse_client_record
from tracos_integration.core.tracos import DocumentUntranslatable, parse_tracos_document
from tracos_integration.core.translation import to_client_record, to_tracos_fields
from tracos_integration_tests.factories import client_order, tracos_document

UTC = timezone.utc
STATUS_ROWS = [
    ("isPending", "pending"),
    ("isActive", "in_progress"),
    ("isDone", "completed"),
    ("isOnHold", "on_hold"),
    ("isCanceled", "cancelled"),
]


def inbound(**overrides):
    return to_tracos_fields(parse_client_record(client_order(**overrides)))


def outbound(**overrides):
    return to_client_record(parse_tracos_document(tracos_document(**overrides)))


@pytest.mark.parametrize("flag, status", STATUS_ROWS)
def test_client_flag_becomes_tracos_status(flag, status):
    assert inbound(**{flag: True})["status"] == status


def test_no_status_flag_means_in_progress():
    assert inbound()["status"] == "in_progress"


@pytest.mark.parametrize("flag, status", STATUS_ROWS)
def test_tracos_status_becomes_exactly_one_client_flag(flag, status):
    record = outbound(status=status)
    assert [name for name in STATUS_FLAGS if record[name]] == [flag]


def test_fields_are_renamed_inbound():
    fields = inbound(orderNo=12, summary="Fix pump")
    assert fields["number"] == 12 and fields["title"] == "Fix pump"
    assert fields["createdAt"] == datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert fields["updatedAt"] == datetime(2024, 3, 2, 10, tzinfo=UTC)


def test_inbound_never_sets_description_or_sync_state():
    assert not {"description", "isSynced", "syncedAt"} & set(inbound())


def test_deleted_without_deleted_date_takes_last_update_date():
    fields = inbound(isDeleted=True)
    assert fields["deleted"] is True and fields["deletedAt"] == datetime(2024, 3, 2, 10, tzinfo=UTC)


def test_deleted_with_deleted_date_keeps_it():
    fields = inbound(isDeleted=True, deletedDate="2024-03-05T00:00:00+02:00")
    assert fields["deletedAt"] == datetime(2024, 3, 4, 22, tzinfo=UTC)


def test_not_deleted_has_no_deleted_at():
    fields = inbound()
    assert fields["deleted"] is False and fields["deletedAt"] is None


def test_outbound_file_carries_every_client_field():
    record = outbound(number=5, title="Fix pump", status="completed")
    assert record == {
        "orderNo": 5,
        "summary": "Fix pump",
        "creationDate": "2024-03-01T10:00:00.000+00:00",
        "lastUpdateDate": "2024-03-02T10:00:00.000+00:00",
        "isPending": False,
        "isActive": False,
        "isDone": True,
        "isOnHold": False,
        "isCanceled": False,
        "isDeleted": False,
        "deletedDate": None,
        "isSynced": True,
    }


def test_outbound_deleted_document_has_deleted_date():
    record = outbound(deleted=True, deletedAt=datetime(2024, 3, 3, tzinfo=UTC))
    assert record["isDeleted"] is True and record["deletedDate"] == "2024-03-03T00:00:00.000+00:00"


def test_outbound_deleted_without_deleted_at_uses_updated_at():
    assert outbound(deleted=True, deletedAt=None)["deletedDate"] == "2024-03-02T10:00:00.000+00:00"


def test_outbound_deleted_date_is_null_unless_deleted():
    assert outbound(deleted=False, deletedAt=datetime(2024, 3, 3, tzinfo=UTC))["deletedDate"] is None


def test_outbound_naive_tracos_datetimes_are_utc():
    record = outbound(createdAt=datetime(2024, 3, 1, 10, 0, 0, 123456))
    assert record["creationDate"] == "2024-03-01T10:00:00.123+00:00"


@pytest.mark.parametrize(
    "overrides, field",
    [({"status": "exploded"}, "status"), ({"title": None}, "title"), ({"updatedAt": "soon"}, "updatedAt"), ({"number": "7"}, "number")],
)
def test_untranslatable_document_names_the_field(overrides, field):
    with pytest.raises(DocumentUntranslatable, match=field):
        parse_tracos_document(tracos_document(**overrides))


def test_round_trip_keeps_every_mapped_field():
    original = client_order(9, summary="Round trip", isOnHold=True, isDeleted=True, deletedDate="2024-03-03T00:00:00Z")
    fields = to_tracos_fields(parse_client_record(original))
    back = to_client_record(parse_tracos_document({**fields, "description": ""}))
    again = to_tracos_fields(parse_client_record(back))
    assert again == fields
