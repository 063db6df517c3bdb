"""Every MongoDB query the sync makes, in one place. Each call is idempotent, so it
may be retried after a lost connection."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Iterator, Mapping, Sequence

from pymongo import ASCENDING, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

from tracos_integration.core.rules import UNSYNCED_FILTER
from tracos_integration.tracos.retry import Retrier

UNIQUE_NUMBER_INDEX = "number_unique"
UNSYNCED_INDEX = "isSynced_id"


@dataclass
class IndexReport:
    unique_number: bool
    duplicate_numbers: list[int] = field(default_factory=list)


DUPLICATE_KEY = 11000


@dataclass
class WriteCounts:
    inserted: set[int] = field(default_factory=set)
    matched: int = 0
    # number -> (error code, message) for writes MongoDB refused; the others were applied.
    refused: dict[int, tuple[Any, str]] = field(default_factory=dict)


class WorkOrderRepository:
    """The TracOS work order collection, seen through the queries the sync needs."""

    def __init__(self, collection: Any, retrier: Retrier) -> None:
        self.collection = collection
        self.retrier = retrier

    def ensure_indexes(self) -> IndexReport:
        """A unique index on `number` and one serving the outbound query. If TracOS already
        holds duplicate numbers the unique index cannot exist yet: report them."""
        self.retrier.call(
            lambda: self.collection.create_index([("isSynced", ASCENDING), ("_id", ASCENDING)], name=UNSYNCED_INDEX),
            "create the outbound index",
        )
        try:
            self.retrier.call(
                lambda: self.collection.create_index([("number", ASCENDING)], unique=True, name=UNIQUE_NUMBER_INDEX),
                "create the unique index on number",
            )
            return IndexReport(unique_number=True)
        except (DuplicateKeyError, OperationFailure) as error:
            if isinstance(error, OperationFailure) and error.code not in (11000, 11001, 85, 86):
                raise
            return IndexReport(unique_number=False, duplicate_numbers=self.duplicate_numbers())

    def duplicate_numbers(self) -> list[int]:
        pipeline = [
            {"$group": {"_id": "$number", "count": {"$sum": 1}}},
            {"$match": {"count": {"$gt": 1}}},
            {"$sort": {"_id": 1}},
        ]
        rows = self.retrier.call(lambda: list(self.collection.aggregate(pipeline)), "look for duplicate numbers")
        return [row["_id"] for row in rows]

    def find_by_numbers(self, numbers: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
        """One `$in` query for a batch of numbers."""
        found: dict[int, list[dict[str, Any]]] = {}
        if not numbers:
            return found
        documents = self.retrier.call(
            lambda: list(self.collection.find({"number": {"$in": list(numbers)}}).batch_size(len(numbers))),
            "read work orders by number",
        )
        for document in documents:
            found.setdefault(document.get("number"), []).append(document)
        return found

    def apply_client_changes(
        self,
        inserts: Sequence[Mapping[str, Any]],
        updates: Sequence[Mapping[str, Any]],
        synced_at: datetime,
        supersedes: Sequence[Mapping[str, Any]] = (),
    ) -> WriteCounts:
        """One bulk_write. Inserts only create a missing number (`$setOnInsert`); updates
        only replace an older `updatedAt`; supersedes only replace what this run wrote
        (`syncedAt` is this run's timestamp) with an equal or later one. All are
        idempotent under retry."""
        operations = [
            UpdateOne(
                {"number": fields["number"]},
                {"$setOnInsert": {**fields, "description": "", "isSynced": True, "syncedAt": synced_at}},
                upsert=True,
            )
            for fields in inserts
        ] + [
            UpdateOne(
                {"number": fields["number"], "updatedAt": {"$lt": fields["updatedAt"]}},
                {"$set": {**fields, "isSynced": True, "syncedAt": synced_at}},
            )
            for fields in updates
        ] + [
            UpdateOne(
                {"number": fields["number"], "syncedAt": synced_at, "updatedAt": {"$lte": fields["updatedAt"]}},
                {"$set": {**fields, "isSynced": True, "syncedAt": synced_at}},
            )
            for fields in supersedes
        ]
        if not operations:
            return WriteCounts()
        fields_by_index = [*inserts, *updates, *supersedes]
        try:
            result = self.retrier.call(
                lambda: self.collection.bulk_write(operations, ordered=False), "write client work orders"
            )
        except BulkWriteError as error:  # unordered: every write without an error was applied
            details = error.details
            return WriteCounts(
                inserted={inserts[u["index"]]["number"] for u in details.get("upserted", []) if u["index"] < len(inserts)},
                matched=details.get("nMatched", 0),
                refused={
                    fields_by_index[e["index"]]["number"]: (e.get("code"), str(e.get("errmsg", "")))
                    for e in details.get("writeErrors", [])
                },
            )
        inserted = {inserts[index]["number"] for index in result.upserted_ids if index < len(inserts)}
        return WriteCounts(inserted=inserted, matched=result.matched_count)

    def iter_unsynced(self, batch_size: int) -> Iterator[list[dict[str, Any]]]:
        """Unsynced documents in `_id` order, a batch at a time; after a lost connection the
        scan resumes after the last `_id` it returned."""
        last_id = None
        while True:
            condition = dict(UNSYNCED_FILTER)
            if last_id is not None:
                condition["_id"] = {"$gt": last_id}
            batch = self.retrier.call(
                # batch_size: the whole batch in one round trip (MongoDB's first batch is 101 otherwise)
                lambda condition=condition: list(
                    self.collection.find(condition).sort("_id", ASCENDING).limit(batch_size).batch_size(batch_size)
                ),
                "read unsynced work orders",
            )
            if not batch:
                return
            yield batch
            last_id = batch[-1]["_id"]
            if len(batch) < batch_size:
                return

    def count_unsynced(self) -> int:
        return self.retrier.call(lambda: self.collection.count_documents(UNSYNCED_FILTER), "count unsynced work orders")

    def mark_synced(self, conditions: Iterable[Mapping[str, Any]], synced_at: datetime) -> int:
        """One bulk_write; each mark applies only if the document is unchanged since read."""
        operations = [UpdateOne(dict(condition), {"$set": {"isSynced": True, "syncedAt": synced_at}}) for condition in conditions]
        if not operations:
            return 0
        try:
            result = self.retrier.call(
                lambda: self.collection.bulk_write(operations, ordered=False), "mark work orders synced"
            )
        except BulkWriteError as error:  # the refused marks stay unsynced and go out next run
            return error.details.get("nModified", 0)
        return result.modified_count

    def insert_documents(self, documents: Sequence[Mapping[str, Any]]) -> int:
        """Sample data: upsert by number so re-running the samples never duplicates."""
        operations = [UpdateOne({"number": doc["number"]}, {"$set": dict(doc)}, upsert=True) for doc in documents]
        if not operations:
            return 0
        result = self.retrier.call(lambda: self.collection.bulk_write(operations, ordered=False), "write sample work orders")
        return result.upserted_count + result.modified_count
