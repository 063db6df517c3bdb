"""A strict server double: mongomock, made to behave like a MongoDB server where
mongomock is lenient and the difference matters to the sync.

What it adds, each as the server documents it:
- `createIndexes` refuses a key pattern that already exists under another name, and a
  name that exists with another key or options: code 85 (IndexOptionsConflict) or 86
  (IndexKeySpecsConflict). Indexes on one key pattern may coexist only when their partial
  filters differ (5.0+; before 5.0, `version=(4, 4)`, never). Without the privilege: code 13 (Unauthorized).
- An E11000 write error names the unique index's `keyPattern` and the `keyValue` it
  clashed on (server 4.4+; mongomock gives neither).
- A write-concern failure (e.g. wtimeout, code 64) still applies the writes and then
  raises BulkWriteError carrying only `writeConcernErrors`, as pymongo does.
- A document may hold a date outside years 1-9999: pymongo with
  `datetime_conversion=DATETIME_AUTO` returns it as `DatetimeMS` (store one directly).
- The query planner's rule for partial indexes (`isSubsetOf` in the server's
  src/mongo/db/matcher/expression_algo.cpp): a partial index serves a query only when the
  query's predicate implies the filter. `eligible_indexes(query)` names the indexes a
  query may use, and every filter the sync sends is kept in `queries`, so a test can check
  that each query by number has one.
- A slow index build (`slow_index_builds()`): the index is listed at once (listIndexes
  shows builds in progress) but serves no query until `finish_index_builds()`. A client
  that stops waiting (socket timeout) leaves the build running; a createIndexes sent with
  a deadline (maxTimeMS, i.e. under `pymongo.timeout`) is interrupted, which aborts the
  build (4.4+): the index is gone and the client gets code 50.
- A bulk whose write errors carry a transient code (`fail_writes()`), e.g. a primary
  stepping down mid-batch: the other writes are applied.
- An upsert whose filter holds `$expr` is refused: code 224, "$expr is not allowed in the
  query predicate for an upsert" (mongomock applies it).
Everything else passes through to mongomock, which `tracos/stores/mongomock_compat.py` makes
match and sort as the server does (a number never equals a boolean, numbers equal by value
whatever their type, the server's type order, `$gt: NaN` matches nothing).
"""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal
from typing import Any, Optional

from bson import Decimal128, Int64, ObjectId
from pymongo import _csot
from pymongo.errors import BulkWriteError, DuplicateKeyError, ExecutionTimeout, NetworkTimeout, OperationFailure


class StrictCollection:
    def __init__(
        self, inner: Any, *, unauthorized: frozenset[str] = frozenset(), version: tuple[int, int] = (7, 0)
    ) -> None:
        self._inner = inner
        self._version = version
        self._unauthorized = unauthorized  # "createIndexes", "listIndexes"
        self._write_concern_failures: list[dict[str, Any]] = []
        self._write_failures: list[dict[str, Any]] = []
        self._slow_builds = False
        self.building: set[str] = set()  # index names still being built
        self.queries: list[dict[str, Any]] = []  # every filter the sync sent, in order

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    # -- what the server does differently -------------------------------------------
    def fail_write_concern(self, times: int = 1, code: int = 64, errmsg: str = "waiting for replication timed out",
                           labels: Optional[list[str]] = None) -> None:
        """The next `times` bulk writes are applied, then reported with a write concern error."""
        error = {"code": code, "errmsg": errmsg, "errInfo": {"wtimeout": True}}
        if labels:
            error["errorLabels"] = labels
        self._write_concern_failures.extend([error] * times)

    def fail_writes(self, times: int = 1, code: int = 11602, errmsg: str = "operation was interrupted") -> None:
        """In the next `times` bulk writes the first write fails with `code`; the others are applied."""
        self._write_failures.extend([{"code": code, "errmsg": errmsg}] * times)

    def slow_index_builds(self) -> None:
        self._slow_builds = True

    def finish_index_builds(self) -> None:
        self._slow_builds = False
        self.building.clear()

    # -- the planner ----------------------------------------------------------------
    def eligible_indexes(self, query: dict[str, Any]) -> list[str]:
        """The indexes the planner may use for `query`: built, on a field the query constrains
        first, and, when partial, with a filter the query implies."""
        names = []
        for name, info in self._inner.index_information().items():
            leading = info["key"][0][0]
            if name in self.building or not any(path == leading and op in _INDEXABLE for path, op, _ in _leaves(query)):
                continue
            partial = info.get("partialFilterExpression")
            if partial is None or implies(query, partial):
                names.append(name)
        return names

    def find(self, filter: Optional[dict[str, Any]] = None, *args: Any, **kwargs: Any) -> Any:
        self.queries.append(dict(filter or {}))
        return self._inner.find(filter, *args, **kwargs)

    def count_documents(self, filter: dict[str, Any], *args: Any, **kwargs: Any) -> int:
        self.queries.append(dict(filter))
        return self._inner.count_documents(filter, *args, **kwargs)

    def index_information(self) -> dict[str, Any]:
        if "listIndexes" in self._unauthorized:
            raise OperationFailure("not authorized on tractian to execute command { listIndexes: ... }", 13)
        return self._inner.index_information()

    def create_index(self, keys: Any, **options: Any) -> str:
        if "createIndexes" in self._unauthorized:
            raise OperationFailure("not authorized on tractian to execute command { createIndexes: ... }", 13)
        key = [tuple(part) for part in keys]
        name = options.get("name") or "_".join(f"{field}_{direction}" for field, direction in key)
        wanted = _options(options)
        for existing_name, info in self._inner.index_information().items():
            existing_key = [tuple(part) for part in info["key"]]
            existing = _options(info)
            if existing_name == name:
                if existing_key != key:
                    raise OperationFailure(f"An existing index has the same name as the requested index: {name}", 86)
                if existing != wanted:
                    raise OperationFailure(f"Index with name: {name} already exists with different options", 85)
                if name in self.building and self._slow_builds:  # the same build: the request waits for it
                    raise NetworkTimeout(f"localhost:27017: timed out (building the index {name})")
                return name
            same_filter = existing["partialFilterExpression"] == wanted["partialFilterExpression"]
            if existing_key == key and (self._version < (5, 0) or same_filter):
                raise OperationFailure(f"Index already exists with a different name: {existing_name}", 85)
        if self._slow_builds:
            self._inner.create_index(keys, **options)
            if _csot.get_timeout() is not None:  # maxTimeMS went with it: interrupted, the build aborts
                self._inner.drop_index(name)
                raise ExecutionTimeout("operation exceeded time limit", 50, {"codeName": "MaxTimeMSExpired"})
            self.building.add(name)
            raise NetworkTimeout(f"localhost:27017: timed out (building the index {name})")
        try:
            return self._inner.create_index(keys, **options)
        except DuplicateKeyError:
            raise DuplicateKeyError(
                f"Index build failed: E11000 duplicate key error collection: {self._inner.full_name} index: {name}",
                11000, {"keyPattern": dict(key)},
            ) from None

    def update_one(self, filter: dict[str, Any], update: Any, upsert: bool = False, **kwargs: Any) -> Any:
        _refuse_expr_in_upsert(filter, upsert)
        return self._inner.update_one(filter, update, upsert=upsert, **kwargs)

    def find_one_and_update(self, filter: dict[str, Any], update: Any, *args: Any, upsert: bool = False,
                            **kwargs: Any) -> Any:
        _refuse_expr_in_upsert(filter, upsert)
        return self._inner.find_one_and_update(filter, update, *args, upsert=upsert, **kwargs)

    def bulk_write(self, operations: list, ordered: bool = True, **kwargs: Any) -> Any:
        self.queries.extend(dict(operation._filter) for operation in operations)
        if self._write_failures and operations:
            failure = self._write_failures.pop(0)
            rest = operations[1:]
            applied = self._inner.bulk_write(rest, ordered=False) if rest else None
            upserted = applied.upserted_ids if applied else {}
            raise BulkWriteError({
                "writeErrors": [{"index": 0, **failure}], "writeConcernErrors": [],
                "nInserted": 0, "nUpserted": len(upserted),
                "nMatched": applied.matched_count if applied else 0,
                "nModified": applied.modified_count if applied else 0, "nRemoved": 0,
                "upserted": [{"index": index + 1, "_id": _id} for index, _id in upserted.items()],
            })
        try:
            result = self._inner.bulk_write(operations, ordered=ordered, **kwargs)
        except BulkWriteError as error:
            details = dict(error.details)
            details["writeErrors"] = [self._with_key(operations, item) for item in details.get("writeErrors", [])]
            raise BulkWriteError(details) from None
        if self._write_concern_failures:
            concern = self._write_concern_failures.pop(0)
            raise BulkWriteError({
                "writeErrors": [], "writeConcernErrors": [concern],
                "nInserted": 0, "nUpserted": result.upserted_count, "nMatched": result.matched_count,
                "nModified": result.modified_count, "nRemoved": 0,
                "upserted": [{"index": index, "_id": _id} for index, _id in result.upserted_ids.items()],
            })
        return result

    def _with_key(self, operations: list, item: dict[str, Any]) -> dict[str, Any]:
        """Name the unique index an E11000 clashed on, as the server does."""
        if item.get("code") != 11000 or "keyPattern" in item:
            return item
        operation = operations[item["index"]]
        update = operation._doc
        fields = {
            **{k: v for k, v in operation._filter.items() if not k.startswith("$") and not isinstance(v, dict)},
            **update.get("$setOnInsert", {}), **update.get("$set", {}),
        }
        own_id = operation._filter.get("_id")
        for info in self._inner.index_information().values():
            if not info.get("unique"):
                continue
            names = [field for field, _ in info["key"]]
            if not all(name in fields for name in names):
                continue
            clash = {name: fields[name] for name in names}
            query = dict(clash) if own_id is None else {**clash, "_id": {"$ne": own_id}}
            if self._inner.count_documents(query):
                return {**item, "keyPattern": dict(info["key"]), "keyValue": clash,
                        "errmsg": f"E11000 duplicate key error collection: {self._inner.full_name} dup key: {clash}"}
        return item


def _options(info: dict[str, Any]) -> dict[str, Any]:
    return {"unique": bool(info.get("unique")), "partialFilterExpression": info.get("partialFilterExpression")}


# -- the planner's rule for partial indexes (expression_algo.cpp, isSubsetOf) ---------------
# Operators an index scan can bound on its leading field.
_INDEXABLE = {"$eq", "$in", "$gt", "$gte", "$lt", "$lte", "$type"}
_COMPARISONS = {"$eq", "$gt", "$gte", "$lt", "$lte"}


def implies(query: dict[str, Any], partial_filter: dict[str, Any]) -> bool:
    """Whether every document `query` matches also matches `partial_filter`, as far as the
    server can prove it: each conjunct of the filter must follow from one conjunct of the
    query. An identical conjunct follows; equality, ranges and `$in` imply a comparison of
    the same type bracket and `$exists: true`; nothing else implies `$type`."""
    query_leaves = _leaves(query)
    return all(any(_leaf_implies(leaf, wanted) for leaf in query_leaves) for wanted in _leaves(partial_filter))


def _leaves(expression: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """A filter's top-level conjuncts as (path, operator, value); `$or`, `$nor` and the like
    are opaque (the server proves nothing from them for a leaf of the filter)."""
    leaves: list[tuple[str, str, Any]] = []
    for path, condition in expression.items():
        if path == "$and":
            for part in condition:
                leaves.extend(_leaves(part))
        elif path.startswith("$"):
            leaves.append((path, path, condition))
        elif isinstance(condition, dict) and condition and all(key.startswith("$") for key in condition):
            leaves.extend((path, operator, value) for operator, value in condition.items())
        else:
            leaves.append((path, "$eq", condition))
    return leaves


def _leaf_implies(leaf: tuple[str, str, Any], wanted: tuple[str, str, Any]) -> bool:
    path, operator, value = leaf
    wanted_path, wanted_operator, wanted_value = wanted
    if path != wanted_path:
        return False
    if (operator, _key(value)) == (wanted_operator, _key(wanted_value)):
        return True  # the same predicate (`equivalent` in the server)
    if operator == "$in":
        return isinstance(value, list) and all(_leaf_implies((path, "$eq", item), wanted) for item in value)
    if wanted_operator == "$exists":
        return wanted_value is True and (
            (operator in _COMPARISONS and value is not None) or operator in ("$type", "$exists") and value is not False
        )
    if wanted_operator in _COMPARISONS and operator in _COMPARISONS:
        return _comparison_implies(operator, value, wanted_operator, wanted_value)
    return False  # `$type`, `$ne`, `$nin`, `$regex`, ...: no proof


def _comparison_implies(operator: str, value: Any, wanted_operator: str, wanted_value: Any) -> bool:
    bracket = _bracket(value)
    if bracket != _bracket(wanted_value) or bracket in ("array", "object", "other"):
        return False
    if bracket == "number" and (_is_nan(value) or _is_nan(wanted_value)):
        with_equality = ("$eq", "$lte", "$gte")  # NaN equals only NaN
        return operator in with_equality and wanted_operator in with_equality and _is_nan(value) and _is_nan(wanted_value)
    left, right = _comparable(value), _comparable(wanted_value)
    cmp = (left > right) - (left < right)
    if operator == wanted_operator and cmp == 0:
        return True
    if wanted_operator in ("$lt", "$lte") and operator in ("$lt", "$lte", "$eq"):
        return cmp <= 0 if wanted_operator == "$lte" else cmp < 0
    if wanted_operator in ("$gt", "$gte") and operator in ("$gt", "$gte", "$eq"):
        return cmp >= 0 if wanted_operator == "$gte" else cmp > 0
    return False


def _bracket(value: Any) -> str:
    """The server's canonical type: int32, int64, double and decimal are one bracket; a bool is not a number."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float, Int64, Decimal128)):
        return "number"
    for kind, name in ((str, "string"), (datetime, "date"), (ObjectId, "objectId"), (list, "array"), (dict, "object")):
        if isinstance(value, kind):
            return name
    return "null" if value is None else "other"


def _comparable(value: Any) -> Any:
    return value.to_decimal() if isinstance(value, Decimal128) else value


def _is_nan(value: Any) -> bool:
    value = _comparable(value)
    return value != value if isinstance(value, (float, Decimal)) else False


def _key(value: Any) -> Any:
    return repr(value) if not (isinstance(value, float) and math.isnan(value)) else "nan"


def _refuse_expr_in_upsert(filter: Any, upsert: bool) -> None:
    def holds_expr(value: Any) -> bool:
        if isinstance(value, dict):
            return "$expr" in value or any(holds_expr(inner) for inner in value.values())
        return isinstance(value, list) and any(holds_expr(inner) for inner in value)

    if upsert and holds_expr(filter):
        raise OperationFailure("$expr is not allowed in the query predicate for an upsert", 224,
                               {"code": 224, "codeName": "QueryFeatureNotAllowed"})
