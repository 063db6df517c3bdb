"""A counting, in-memory stand-in for a MongoDB collection, for benchmarks.

mongomock scans the whole collection for every filter that is not `_id`, so it measures
mongomock rather than the sync. This double applies the same operations the sync sends,
looked up by `number` or `_id` in O(1), and counts round trips (one per call, plus the
getMores a server would need for results past the cursor's batch size). It supports
only the query shapes the project uses; anything else raises.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Optional

from bson import ObjectId

from tracos_integration.core.bson_order import bson_type_alias

FIRST_BATCH = 101  # MongoDB's default first batch when batch_size is not set


@dataclass
class BulkResult:
    matched_count: int
    modified_count: int
    upserted_ids: dict[int, Any]

    @property
    def upserted_count(self) -> int:
        return len(self.upserted_ids)


class Cursor:
    def __init__(self, owner: "KeyedCollection", documents: Iterable[dict], in_id_order: bool = False) -> None:
        self._owner, self._documents = owner, documents
        self._limit: Optional[int] = None
        self._batch: Optional[int] = None
        self._sort = False
        self._in_id_order = in_id_order  # already walked in _id order, as an index scan would

    def sort(self, key: str, direction: int = 1) -> "Cursor":
        assert key == "_id" and direction == 1, "only _id ascending is supported"
        self._sort = True
        return self

    def limit(self, count: int) -> "Cursor":
        self._limit = count
        return self

    def batch_size(self, size: int) -> "Cursor":
        self._batch = size
        return self

    def __iter__(self) -> Iterator[dict]:
        documents = self._documents
        if self._sort and not self._in_id_order:
            documents = sorted(documents, key=lambda d: d["_id"])
        results = list(itertools.islice(documents, self._limit))
        first = self._batch or FIRST_BATCH
        if len(results) > first:  # getMores, up to 16 MB each; our documents are small
            self._owner.round_trips += -(-(len(results) - first) // max(first, 1000))
        return iter([dict(d) for d in results])


class KeyedCollection:
    """`keep_documents=False` discards writes (an external TracOS), for memory figures."""

    def __init__(self, keep_documents: bool = True) -> None:
        self.keep = keep_documents
        self.by_id: dict[Any, dict] = {}
        self.by_number: dict[int, dict] = {}
        self.ids: list[Any] = []  # in _id order
        self.round_trips = 0
        self.indexes: dict[str, dict] = {}
        self.name = "workorders"
        self.full_name = "benchmark.workorders"
        # ObjectIds from a counter started at a real one: unique and increasing, as a server
        # makes them, at a tenth of ObjectId()'s cost (which is the double's, not the sync's).
        self._ids = itertools.count(int.from_bytes(ObjectId().binary, "big"))

    def _new_id(self) -> ObjectId:
        return ObjectId(next(self._ids).to_bytes(12, "big"))

    # -- reads
    def find(self, query: dict, projection: Any = None) -> Cursor:
        self.round_trips += 1
        if set(query) == {"number"} and "$in" in query["number"]:
            found = (self.by_number[n] for n in query["number"]["$in"] if n in self.by_number)
            return Cursor(self, found)
        if "isSynced" in query or "$and" in query:  # the outbound pages: a walk from the page's bound, as an index gives
            return Cursor(self, (d for d in self._from_bound(query) if _matches(d, query)), in_id_order=True)
        if not query:
            return Cursor(self, self.by_id.values())
        if isinstance(query.get("_id"), dict) and "$in" in query["_id"]:  # counting marks by _id
            found = (self.by_id[i] for i in query["_id"]["$in"] if i in self.by_id)
            return Cursor(self, (d for d in found if _matches(d, query)))
        raise NotImplementedError(f"query shape {query!r}")

    def count_documents(self, query: dict, limit: int = 0) -> int:
        return len(list(itertools.islice(self.find(query), limit or None)))

    def aggregate(self, pipeline: list) -> list:
        self.round_trips += 1
        return []  # numbers are unique here by construction

    def create_index(self, keys: Any, **options: Any) -> str:
        self.round_trips += 1
        name = options.get("name", "index")
        self.indexes[name] = {"key": list(keys), **{k: v for k, v in options.items() if k != "name"}}
        return name

    def index_information(self) -> dict:
        self.round_trips += 1
        return {"_id_": {"key": [("_id", 1)]}, **self.indexes}

    # -- writes
    def insert_many(self, documents: Iterable[dict]) -> None:
        self.round_trips += 1
        for document in documents:
            self._store({"_id": self._new_id(), **document})

    def insert_one(self, document: dict) -> None:
        self.insert_many([document])

    def bulk_write(self, operations: list, ordered: bool = True) -> BulkResult:
        self.round_trips += 1
        matched = modified = 0
        upserted: dict[int, Any] = {}
        for index, operation in enumerate(operations):
            query, update = operation._filter, operation._doc
            target = self._lookup(query)
            if target is not None and _matches(target, query):
                matched += 1
                if "$set" in update:
                    target.update(update["$set"])
                    modified += 1
            elif target is None and operation._upsert:
                document = {"_id": self._new_id()}
                for key, value in query.items():  # the filter's equalities, as the server does
                    if not isinstance(value, dict):
                        document[key] = value
                document.update(update.get("$setOnInsert", ()))
                document.update(update.get("$set", ()))
                self._store(document)
                upserted[index] = document["_id"]
        return BulkResult(matched, modified, upserted)

    def update_one(self, query: dict, update: dict, upsert: bool = False) -> BulkResult:
        from pymongo import UpdateOne

        return self.bulk_write([UpdateOne(query, update, upsert=upsert)])

    def find_one(self, query: dict) -> Optional[dict]:
        self.round_trips += 1
        found = self._lookup(query)
        return dict(found) if found is not None and _matches(found, query) else None

    def _lookup(self, query: dict) -> Optional[dict]:
        if "_id" in query:
            return self.by_id.get(query["_id"])
        if "number" in query and not isinstance(query["number"], dict):
            return self.by_number.get(query["number"])
        raise NotImplementedError(f"query shape {query!r}")

    def _store(self, document: dict) -> None:
        if self.keep:
            if document["_id"] not in self.by_id:
                self.ids.append(document["_id"])  # ObjectIds grow: appending keeps the list in _id order
            self.by_id[document["_id"]] = document
            self.by_number[document["number"]] = document

    def _from_bound(self, query: dict) -> Iterator[dict]:
        """Documents in _id order, from the ObjectId a page continues after (if any)."""
        start = 0
        for part in query.get("$and", []):
            branches = part.get("$or", [part])
            bound = branches[0].get("_id", {}).get("$gt")
            if isinstance(bound, ObjectId):
                start = bisect.bisect_right(self.ids, bound)
        return (self.by_id[_id] for _id in itertools.islice(self.ids, start, None))


def _matches(document: dict, query: dict) -> bool:
    """The operators the sync's queries use, with MongoDB's meaning (missing = null)."""
    for field, condition in query.items():
        if field == "$and":
            if not all(_matches(document, part) for part in condition):
                return False
            continue
        if field == "$or":
            if not any(_matches(document, part) for part in condition):
                return False
            continue
        value = document.get(field)
        if not isinstance(condition, dict):
            condition = {"$eq": condition}
        for operator, operand in condition.items():
            if operator == "$eq" and value != operand:
                return False
            if operator == "$ne" and value == operand:
                return False
            if operator == "$in" and value not in operand:
                return False
            if operator == "$nin" and value in operand:
                return False
            if operator == "$type" and bson_type_alias(value) != operand:
                return False
            if operator in ("$gt", "$lt", "$lte") and (value is None or bson_type_alias(value) != bson_type_alias(operand)):
                return False
            if operator == "$gt" and not value > operand:
                return False
            if operator == "$lt" and not value < operand:
                return False
            if operator == "$lte" and not value <= operand:
                return False
    return True
