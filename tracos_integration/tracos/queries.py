"""Every MongoDB query the sync makes, in one place. Each call is idempotent, so it
may be retried after a lost connection.

Where a real MongoDB server is stricter than mongomock, the comments say what the
server does; `tracos_integration_tests/strict_server.py` simulates it in tests.
"""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, Sequence

from pymongo import ASCENDING, UpdateOne
from pymongo.errors import BulkWriteError, WriteConcernError

from tracos_integration.core.tracos import MAPPED_FIELDS, as_read
from tracos_integration.core.text import short
from tracos_integration.core.writes import IndexReport, Update, WriteRefusal, WriteResult
from tracos_integration.tracos import indexes
from tracos_integration.core.bson_order import after_id, number_key
from tracos_integration.tracos.retry import Retrier

# Unsynced = `isSynced` is not true. `$ne` cannot use the (isSynced, _id) index for a
# sorted walk on a server, so the pages ask for the two usual states (an index range
# each) and then sweep any odd value (a string, a number...) with `$nin`, also bounded.
UNSYNCED_USUAL: dict[str, Any] = {"isSynced": {"$in": [False, None]}}
UNSYNCED_ODD: dict[str, Any] = {"isSynced": {"$nin": [True, False, None]}}
# What the sync reads of a document: nothing it does not use crosses the network.
INBOUND_PROJECTION = {name: 1 for name in (*MAPPED_FIELDS, "syncedAt")}
OUTBOUND_PROJECTION = {name: 1 for name in MAPPED_FIELDS}


class WritesNotConfirmed(RuntimeError):
    """The server applied writes but could not confirm them with the write concern: they
    may be rolled back, so they are never counted as applied."""


class WorkOrderRepository:
    """The TracOS work order collection, seen through the queries the sync needs."""

    def __init__(self, collection: Any, retrier: Retrier) -> None:
        self.collection = collection
        self.retrier = retrier

    # -- indexes (tracos/indexes.py) ----------------------------------------------
    def ensure_indexes(self) -> IndexReport:
        return indexes.ensure_indexes(self.collection, self.retrier)

    def has_unique_numbers(self) -> bool:
        return indexes.has_unique_numbers(self.collection, self.retrier)

    # -- inbound -------------------------------------------------------------------
    def find_by_numbers(self, numbers: Sequence[int]) -> dict[Any, list[dict[str, Any]]]:
        """One `$in` query for up to BULK_SIZE numbers."""
        found: dict[Any, list[dict[str, Any]]] = {}
        if not numbers:
            return found
        documents = self.retrier.call(
            lambda: list(
                self.collection.find({"number": {"$in": list(numbers)}}, INBOUND_PROJECTION).batch_size(len(numbers))
            ),
            "read work orders by number",
        )
        asked = {number_key(n): n for n in numbers}
        for document in documents:
            number = document.get("number")
            # `$in` also matches an array holding the number (MongoDB compares array elements):
            # file it under each number asked for, so the sync sees it (and rejects the record).
            # A number of another type (7.0, an int64, a decimal) is filed under the one asked.
            values = number if isinstance(number, list) else [number]
            keys = {number_key(value) for value in values} & asked.keys()
            for key in keys:
                found.setdefault(asked[key], []).append(document)
        return found

    def apply_client_changes(
        self, inserts: Sequence[Mapping[str, Any]], updates: Sequence[Update], synced_at: datetime
    ) -> WriteResult:
        """One unordered bulk_write. An insert only creates a missing number
        (`$setOnInsert`); an update is a compare-and-swap on the document as read (its
        `_id` and exactly the `updatedAt` it held), so it never depends on how the server
        compares values of different types, and a retry never applies it twice."""
        operations = [
            UpdateOne(
                {"number": fields["number"]},
                {"$setOnInsert": {**fields, "description": "", "isSynced": True, "syncedAt": synced_at}},
                upsert=True,
            )
            for fields in inserts
        ] + [
            UpdateOne(
                {"_id": update.read["_id"], **as_read(update.read, "updatedAt")},
                {"$set": {**update.fields, "isSynced": True, "syncedAt": synced_at}},
            )
            for update in updates
        ]
        if not operations:
            return WriteResult()
        numbers = [fields["number"] for fields in inserts] + [update.fields["number"] for update in updates]
        try:
            result = self._bulk_write(operations, "write client work orders")
        except BulkWriteError as error:  # unordered: every write without an error was applied
            details = error.details
            return WriteResult(
                inserted={numbers[u["index"]] for u in details.get("upserted", []) if u["index"] < len(inserts)},
                matched=details.get("nMatched", 0),
                refused={numbers[e["index"]]: _refusal(e) for e in details.get("writeErrors", [])},
            )
        inserted = {numbers[index] for index in result.upserted_ids if index < len(inserts)}
        return WriteResult(inserted=inserted, matched=result.matched_count)

    def _bulk_write(self, operations: list[UpdateOne], what: str, send: Optional[Callable[[], Any]] = None) -> Any:
        """pymongo raises BulkWriteError also when the only problem is a write concern
        error: those writes may be rolled back, so they are retried (when the error is
        transient) or fail the run, never counted as applied."""
        send = send or (lambda: self.collection.bulk_write(operations, ordered=False))

        def attempt() -> Any:
            try:
                return send()
            except BulkWriteError as error:
                concern = error.details.get("writeConcernErrors") or []
                if concern:
                    first = concern[0]
                    raise WriteConcernError(first.get("errmsg", ""), first.get("code"), first) from None
                raise

        try:
            return self.retrier.call(attempt, what)
        except WriteConcernError as error:
            raise WritesNotConfirmed(
                f"TracOS applied the writes but did not confirm them with its write concern while trying to {what} "
                f"(code {error.code}: {short(str(error))}); they are not counted as applied"
            ) from None

    # -- outbound ------------------------------------------------------------------
    def iter_unsynced(self, page_size: int) -> Iterator[list[dict[str, Any]]]:
        """Unsynced documents in `_id` order, a page at a time, whatever the types of
        `_id`; after a lost connection a page is asked again from where it stood."""
        for condition in (UNSYNCED_USUAL, UNSYNCED_ODD):
            last: Any = _START
            while True:
                query = condition if last is _START else {"$and": [condition, after_id(last)]}
                page = self.retrier.call(
                    # batch_size = page_size: the whole page in one round trip (MongoDB's first batch is 101 otherwise)
                    lambda query=query: list(
                        self.collection.find(query, OUTBOUND_PROJECTION)
                        .sort("_id", ASCENDING).limit(page_size).batch_size(page_size)
                    ),
                    "read unsynced work orders",
                )
                if page:
                    yield page
                if len(page) < page_size:
                    break
                last = page[-1]["_id"]

    def find_same_numbers(self, documents: Iterable[Mapping[str, Any]]) -> dict[Any, list[dict[str, Any]]]:
        """Every document, synced or not, holding a number one of `documents` holds, by
        `number_key` (an int32, int64, double or decimal of one value is one number, as
        the server compares them): only the latest of a number is exported (CONTRACT 6.5)."""
        # Only a whole number can be a work order's: asked as an int, which the server (and the
        # stores) match against 7, an int64 7, 7.0 and a decimal 7 alike.
        numbers = {int(key) for key in map(number_key, (d.get("number") for d in documents))
                   if isinstance(key, (int, float, Decimal)) and math.isfinite(key) and key == int(key)}
        found: dict[Any, list[dict[str, Any]]] = {}
        for group in self.find_by_numbers(sorted(numbers)).values():
            for document in group:
                key = number_key(document.get("number"))
                if key is not None:  # not an array `$in` matched by an element: that one is skipped on its own
                    found.setdefault(key, []).append(document)
        return found

    def count_unsynced(self, limit: int = 0, updated_before: Optional[datetime] = None) -> int:
        """Unsynced documents (only those updated before `updated_before`, if given), counting
        at most `limit` (0: all) so a tick stays cheap."""
        counted = 0
        for condition in (UNSYNCED_USUAL, UNSYNCED_ODD):
            if updated_before is not None:
                condition = {**condition, "updatedAt": {"$lt": updated_before}}
            remaining = limit - counted if limit else 0
            options = {"limit": remaining} if remaining else {}
            counted += self.retrier.call(
                lambda condition=condition: self.collection.count_documents(condition, **options),
                "count unsynced work orders",
            )
            if limit and counted >= limit:
                break
        return counted

    def mark_synced(self, conditions: Iterable[Mapping[str, Any]], synced_at: datetime) -> int:
        """One bulk_write; each mark applies only if the document is unchanged since read."""
        conditions = list(conditions)
        operations = [UpdateOne(dict(condition), {"$set": {"isSynced": True, "syncedAt": synced_at}}) for condition in conditions]
        if not operations:
            return 0
        attempts = 0

        def counted() -> Any:
            nonlocal attempts
            attempts += 1
            return self.collection.bulk_write(operations, ordered=False)

        try:
            result = self._bulk_write(operations, "mark work orders synced", counted)
            modified = result.modified_count
        except BulkWriteError as error:  # the refused marks stay unsynced and go out next run
            modified = error.details.get("nModified", 0)
        if attempts == 1:
            return modified
        # Retried after a lost reply: the retry finds the first attempt's marks already applied
        # and reports them as not modified. What carries this mark's syncedAt is marked.
        ids = [condition["_id"] for condition in conditions]
        return self.retrier.call(
            lambda: self.collection.count_documents({"_id": {"$in": ids}, "syncedAt": synced_at}), "count marked work orders"
        )

    def insert_documents(self, documents: Sequence[Mapping[str, Any]]) -> int:
        """Sample data: upsert by number so re-running the samples never duplicates."""
        operations = [UpdateOne({"number": doc["number"]}, {"$set": dict(doc)}, upsert=True) for doc in documents]
        if not operations:
            return 0
        result = self._bulk_write(operations, "write sample work orders")
        return result.upserted_count + result.modified_count


_START = object()


def _refusal(error: Mapping[str, Any]) -> WriteRefusal:
    return WriteRefusal(
        code=error.get("code"), message=str(error.get("errmsg", "")),
        key_pattern=error.get("keyPattern"), key_value=error.get("keyValue"),
    )
