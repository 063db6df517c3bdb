"""How MongoDB orders and equates values (core/bson_order.py), and the stores that must
match documents as the server does (mongomock and the embedded store's copy of it)."""

import math
import re
from datetime import datetime, timezone

import pytest
from bson import Binary, Code, DBRef, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp
from bson.datetime_ms import DatetimeMS
from mongomock import filtering as mongomock_filtering

from tracos_integration.core.bson_order import after_id, bson_type_alias, number_key, server_equal, sort_key
from tracos_integration.tracos.stores.litemongo_adapter import vendored_filtering

embedded_filtering = vendored_filtering()

UTC = timezone.utc
OID = ObjectId("000000000000000000000001")

# One value of every type an `_id` can hold, in the server's sort order (its manual's
# "Comparison/Sort Order"; DBPointer from `canonicalizeBSONType`).
IN_SERVER_ORDER = [
    MinKey(), None, math.nan, -1, 2.5, Decimal128("3"), "a string", {"an": "object"}, Binary(b"x", 0), OID,
    False, True, datetime(2024, 1, 1, tzinfo=UTC), DatetimeMS(253402300800000 + 1), Timestamp(1, 1),
    Regex("^a"), DBRef("c", OID), Code("f()"), Code("g()", {"x": 1}), MaxKey(),
]


# -- number_key: the server's number equality -------------------------------------------------

@pytest.mark.parametrize("value", [7, Int64(7), 7.0, Decimal128("7"), Decimal128("7.000")])
def test_an_int32_int64_double_and_decimal_of_one_value_are_one_number(value):
    assert number_key(value) == number_key(7) and hash(number_key(value)) == hash(number_key(7))


@pytest.mark.parametrize("value", [True, False, "7", None, [7], {"n": 7}])
def test_a_bool_or_any_other_type_is_not_a_number(value):
    assert number_key(value) is None


def test_numbers_of_different_values_stay_apart_and_every_nan_is_one():
    assert number_key(Decimal128("0.1")) != number_key(0.1)  # the double is not exactly 0.1
    assert number_key(8) != number_key(7) and number_key(7.5) != number_key(7)
    assert number_key(math.nan) == number_key(Decimal128("NaN"))


@pytest.mark.parametrize("a, b, equal", [
    (1, True, False), (0, False, False), (1.0, True, False), (True, True, True), (Int64(1), 1, True),
    (Decimal128("1"), 1.0, True), ("true", True, False), (Code("x"), "x", False), (math.nan, math.nan, True),
])
def test_server_equal_never_takes_a_number_for_a_bool(a, b, equal):
    assert server_equal(a, b) is equal


# -- the type order and the page walk ----------------------------------------------------------

def test_sort_key_follows_the_servers_type_order():
    keys = [sort_key(value) for value in IN_SERVER_ORDER]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)


@pytest.mark.parametrize("value, alias", [
    (Code("f()"), "javascript"), (Code("f()", {}), "javascriptWithScope"), (DBRef("c", OID), "dbPointer"),
    (DatetimeMS(-1), "date"), (MinKey(), "minKey"), (MaxKey(), "maxKey"), (re.compile("a"), "regex"),
])
def test_javascript_dbpointer_and_out_of_range_dates_have_their_own_types(value, alias):
    assert bson_type_alias(value) == alias


def matches(query, value, filtering=mongomock_filtering):
    return filtering.filter_applies(query, {"_id": value})


@pytest.mark.parametrize("position", range(len(IN_SERVER_ORDER) - 1))
def test_after_an_id_the_walk_matches_every_later_type_and_no_earlier_one(position):
    last = IN_SERVER_ORDER[position]
    if isinstance(last, (DBRef, dict)) or (isinstance(last, Code) and last.scope is not None):
        pytest.skip("mongomock compares objects and DBRefs as Python dicts")
    query = after_id(last)
    for later in IN_SERVER_ORDER[position + 1:]:
        if not isinstance(later, (DBRef, Binary)):  # mongomock holds neither as the server types them
            assert matches(query, later), (last, later, query)
    for earlier in IN_SERVER_ORDER[:position + 1]:
        assert not matches(query, earlier), (last, earlier, query)


def test_after_nan_the_walk_goes_on_with_every_other_number():
    query = after_id(math.nan)
    assert all(matches(query, value) for value in (float("-inf"), -1, 0, Decimal128("3"), "s"))
    assert not matches(query, math.nan) and not matches({"_id": {"$gt": math.nan}}, 5)  # as a server


def test_javascript_is_paged_as_javascript_never_as_a_string():
    assert matches(after_id(OID), Code("zzz"))  # javascript sorts after ObjectId
    assert not matches(after_id(Code("f()")), {"an": "object"})  # and objects sort before it
    assert not matches({"_id": {"$type": "string"}}, Code("f()"))


# -- the stores match as the server does -------------------------------------------------------

@pytest.mark.parametrize("filtering", [mongomock_filtering, embedded_filtering], ids=["mongomock", "embedded"])
@pytest.mark.parametrize("value", [1, 1.0, Int64(1), Decimal128("1"), "true"])
def test_the_stores_never_take_a_number_or_string_for_the_boolean_true(filtering, value):
    document = {"isSynced": value}
    assert filtering.filter_applies({"isSynced": {"$ne": True}}, document)
    assert filtering.filter_applies({"isSynced": {"$nin": [True, False, None]}}, document)
    assert not filtering.filter_applies({"isSynced": {"$in": [True, False, None]}}, document)
    assert not filtering.filter_applies({"isSynced": True}, document)


@pytest.mark.parametrize("filtering", [mongomock_filtering, embedded_filtering], ids=["mongomock", "embedded"])
def test_the_stores_match_numbers_by_value_whatever_their_type(filtering):
    for stored in (7, Int64(7), 7.0, Decimal128("7")):
        assert filtering.filter_applies({"number": {"$in": [7]}}, {"number": stored})
        assert filtering.filter_applies({"number": Int64(7)}, {"number": stored})
    assert not filtering.filter_applies({"number": {"$in": [1]}}, {"number": True})


@pytest.mark.parametrize("twin", [1.0, Int64(1)])
def test_a_unique_index_refuses_numbers_of_one_value_as_the_server_does(twin):
    """A server cannot build a unique index over 1 and 1.0 (one key); mongomock could, and
    then refused to mark the latest duplicate synced (its update clashed on the index)."""
    import mongomock
    from pymongo.errors import DuplicateKeyError

    collection = mongomock.MongoClient().db.coll
    collection.insert_many([{"_id": 1, "number": 1}, {"_id": 2, "number": twin}])
    with pytest.raises(DuplicateKeyError):
        collection.create_index([("number", 1)], unique=True, partialFilterExpression={"number": {"$gte": float("-inf")}})
