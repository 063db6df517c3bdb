"""The strict double's planner rule for partial indexes, as the server's `isSubsetOf`
(src/mongo/db/matcher/expression_algo.cpp) proves it: a partial index serves a query only
when the query's predicate implies the index's filter."""

import math

import mongomock
import pytest
from bson import Decimal128, Int64
from pymongo.errors import NetworkTimeout

from tracos_integration_tests.strict_server import StrictCollection, implies

ANY_NUMBER = {"number": {"$gte": -math.inf}}
TYPED = {"number": {"$type": "number"}}


@pytest.mark.parametrize("query", [
    {"number": 7}, {"number": {"$eq": 7}}, {"number": Int64(7)}, {"number": 7.5}, {"number": Decimal128("7")},
    {"number": {"$in": [1, Int64(2), 3.0]}}, {"number": {"$gt": 5}}, {"number": {"$gte": 5, "$lt": 9}},
    {"number": 7, "isSynced": False}, {"$and": [{"isSynced": False}, {"number": {"$in": [1]}}]},
], ids=repr)
def test_equality_ranges_and_in_on_numbers_imply_a_comparison_filter_of_the_number_bracket(query):
    assert implies(query, ANY_NUMBER)


@pytest.mark.parametrize("query", [
    {"number": "7"}, {"number": True}, {"number": None}, {"number": math.nan}, {"number": {"$in": [1, "2"]}},
    {"number": {"$lt": 5}}, {"number": {"$ne": 7}}, {"number": {"$nin": [1]}}, {"isSynced": False},
    {"$or": [{"number": 1}, {"number": 2}]},
], ids=repr)
def test_other_types_brackets_or_operators_prove_nothing(query):
    assert not implies(query, ANY_NUMBER)


@pytest.mark.parametrize("query", [
    {"number": 7}, {"number": {"$in": [1, 2]}}, {"number": {"$gte": 0}}, {"number": Int64(7)},
], ids=repr)
def test_nothing_implies_a_type_filter(query):
    assert not implies(query, TYPED)


def test_only_the_same_type_predicate_implies_a_type_filter():
    assert implies({"number": {"$in": [1, 2], "$type": "number"}}, TYPED)


def test_a_range_filter_is_implied_only_by_what_lies_inside_it():
    assert implies({"number": {"$gt": 5}}, {"number": {"$gte": 0}})
    assert implies({"number": 0}, {"number": {"$gte": 0}})
    assert not implies({"number": 0}, {"number": {"$gt": 0}})
    assert not implies({"number": {"$gte": -1}}, {"number": {"$gte": 0}})
    assert implies({"number": {"$lt": 3}}, {"number": {"$lte": 3}})


def test_exists_is_implied_by_a_comparison_or_in_without_null():
    exists = {"number": {"$exists": True}}
    assert implies({"number": 7}, exists) and implies({"number": {"$in": [1, 2]}}, exists)
    assert not implies({"number": None}, exists) and not implies({"number": {"$in": [1, None]}}, exists)


def test_every_conjunct_of_the_filter_must_be_implied():
    both = {"$and": [ANY_NUMBER, {"deleted": False}]}
    assert not implies({"number": 7}, both)
    assert implies({"number": 7, "deleted": False}, both)


def test_the_double_names_the_indexes_a_query_may_use():
    server = StrictCollection(mongomock.MongoClient().db.orders)
    server._inner.create_index([("number", 1)], unique=True, name="typed", partialFilterExpression=TYPED)
    server._inner.create_index([("title", 1), ("number", 1)], name="by_title")
    assert server.eligible_indexes({"number": 7}) == []  # a collection scan on a real server
    server._inner.create_index([("number", -1)], name="any_number", partialFilterExpression=ANY_NUMBER)
    assert server.eligible_indexes({"number": {"$in": [1, 2]}}) == ["any_number"]
    assert server.eligible_indexes({"number": "7"}) == []
    assert server.eligible_indexes({"_id": 1}) == ["_id_"]


def test_an_index_still_being_built_serves_no_query():
    server = StrictCollection(mongomock.MongoClient().db.orders)
    server.slow_index_builds()
    with pytest.raises(NetworkTimeout):  # the client stopped waiting; the server builds on
        server.create_index([("number", 1)], name="number_lookup")
    assert "number_lookup" in server.index_information() and server.eligible_indexes({"number": 1}) == []
    server.finish_index_builds()
    assert server.eligible_indexes({"number": 1}) == ["number_lookup"]
