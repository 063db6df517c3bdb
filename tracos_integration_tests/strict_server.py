"""A strict server double: mongomock, made to behave like a MongoDB server where
mongomock is lenient and the difference matters to the sync.

What it adds, each as the server documents it:
- `createIndexes` refuses a key pattern that already exists under another name, and a
  name that exists with another key or options: code 85 (IndexOptionsConflict) or 86
  (IndexKeySpecsConflict). Indexes on one key pattern may coexist only when their partial
  filters differ. Without the privilege: code 13 (Unauthorized).
- An E11000 write error names the unique index's `keyPattern` and the `keyValue` it
  clashed on (server 4.4+; mongomock gives neither).
- A write-concern failure (e.g. wtimeout, code 64) still applies the writes and then
  raises BulkWriteError carrying only `writeConcernErrors`, as pymongo does.
- A document may hold a date outside years 1-9999: pymongo with
  `datetime_conversion=DATETIME_AUTO` returns it as `DatetimeMS` (store one directly).
Everything else passes through to mongomock, which `tracos/mongomock_compat.py` already makes
match and sort as the server does (a number never equals a boolean, numbers equal by value
whatever their type, the server's type order, `$gt: NaN` matches nothing).
"""

from __future__ import annotations

from typing import Any, Optional

from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure


class StrictCollection:
    def __init__(self, inner: Any, *, unauthorized: frozenset[str] = frozenset()) -> None:
        self._inner = inner
        self._unauthorized = unauthorized  # "createIndexes", "listIndexes"
        self._write_concern_failures: list[dict[str, Any]] = []

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
                return name
            if existing_key == key and existing["partialFilterExpression"] == wanted["partialFilterExpression"]:
                raise OperationFailure(f"Index already exists with a different name: {existing_name}", 85)
        try:
            return self._inner.create_index(keys, **options)
        except DuplicateKeyError:
            raise DuplicateKeyError(
                f"Index build failed: E11000 duplicate key error collection: {self._inner.full_name} index: {name}",
                11000, {"keyPattern": dict(key)},
            ) from None

    def bulk_write(self, operations: list, ordered: bool = True, **kwargs: Any) -> Any:
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
                return {**item, "keyPattern": {name: 1 for name in names}, "keyValue": clash,
                        "errmsg": f"E11000 duplicate key error collection: {self._inner.full_name} dup key: {clash}"}
        return item


def _options(info: dict[str, Any]) -> dict[str, Any]:
    return {"unique": bool(info.get("unique")), "partialFilterExpression": info.get("partialFilterExpression")}
