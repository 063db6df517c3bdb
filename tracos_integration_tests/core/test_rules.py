"""CONTRACT sections 5-6: who wins, what is applied, what is stale, what goes out."""

from datetime import datetime, timedelta, timezone

from tracos_integration.core.client import parse_client_record
from tracos_integration.core.rules import (
    Candidate,
    Decision,
    RecordSource,
    decide,
    pick_winners,
)
from tracos_integration.core.translation import to_tracos_fields
from tracos_integration.core.tracos import unchanged_since_read
from tracos_integration_tests.factories import client_order

UTC = timezone.utc


def candidate(file="a.json", index=0, **overrides) -> Candidate:
    return Candidate(RecordSource(file, index), to_tracos_fields(parse_client_record(client_order(**overrides))))


def stored(c: Candidate, **changes):
    return {**c.fields, "description": "kept", **changes}


def test_new_number_is_inserted():
    assert decide(candidate().fields, None) is Decision.INSERT


def test_newer_client_update_is_applied():
    c = candidate()
    assert decide(c.fields, stored(c, updatedAt=c.updated_at - timedelta(seconds=1), title="old")) is Decision.UPDATE


def test_older_client_update_is_stale():
    c = candidate(summary="client text")
    assert decide(c.fields, stored(c, updatedAt=c.updated_at + timedelta(hours=1), title="newer")) is Decision.STALE


def test_equally_old_different_content_is_stale():
    c = candidate(summary="client text")
    assert decide(c.fields, stored(c, title="TracOS text")) is Decision.STALE


def test_equally_old_same_content_is_unchanged():
    c = candidate()
    assert decide(c.fields, stored(c)) is Decision.UNCHANGED


def test_updated_at_is_compared_at_millisecond_precision():
    c = candidate(lastUpdateDate="2024-03-02T10:00:00.000900Z")
    assert decide(c.fields, stored(c, updatedAt=datetime(2024, 3, 2, 10, tzinfo=UTC))) is Decision.UNCHANGED


def test_stored_dates_as_naive_or_strings_compare_in_utc():
    c = candidate()
    naive = stored(c, updatedAt=datetime(2024, 3, 2, 10), createdAt="2024-03-01T10:00:00Z")
    assert decide(c.fields, naive) is Decision.UNCHANGED


def test_stored_document_without_updated_at_is_updated():
    c = candidate()
    assert decide(c.fields, stored(c, updatedAt=None)) is Decision.UPDATE


def test_latest_record_for_an_order_wins_and_the_others_are_stale():
    old = candidate("a.json", 0, lastUpdateDate="2024-03-02T10:00:00Z")
    new = candidate("a.json", 1, lastUpdateDate="2024-03-03T10:00:00Z")
    older = candidate("b.json", 0, lastUpdateDate="2024-03-01T10:00:00Z")
    winners, superseded = pick_winners([old, new, older])
    assert winners == {1: new} and sorted(c.source for c in superseded) == [old.source, older.source]


def test_on_a_tie_the_last_in_file_then_position_order_wins():
    first = candidate("a.json", 1, summary="first")
    second = candidate("b.json", 0, summary="second")
    third = candidate("b.json", 2, summary="third")
    winners, superseded = pick_winners([third, first, second])
    assert winners[1] is third and len(superseded) == 2


def test_distinct_orders_all_win():
    winners, superseded = pick_winners([candidate(orderNo=1), candidate(orderNo=2)])
    assert set(winners) == {1, 2} and superseded == []


def test_mark_condition_matches_only_the_document_as_read():
    raw = {"_id": "x", "number": 1, "title": {"$gt": ""}, "status": "pending"}
    condition = unchanged_since_read(raw)
    assert condition["_id"] == "x" and condition["isSynced"] == {"$ne": True}
    assert condition["title"] == {"$eq": {"$gt": ""}}  # a stored value is never read as an operator
    assert condition["deletedAt"] == {"$eq": None}
