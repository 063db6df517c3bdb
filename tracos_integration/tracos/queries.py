"""Every MongoDB query the sync makes, in one place. Each call is idempotent, so it
may be retried after a lost connection.

Where a real MongoDB server is stricter than mongomock, the comments say what the
server does; `tracos_integration_tests/strict_server.py` simulates it in tests.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Iterable, Iterator, Mapping, Optional, Sequence

from bson import Binary, Decimal128, Int64, ObjectId, Regex, Timestamp
from pymongo import ASCENDING, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure, WriteConcernError

from tracos_integration.core.tracos import MAPPED_FIELDS
from tracos_integration.tracos.retry import Retrier

UNIQUE_NUMBER_INDEX = "number_unique"
NUMBER_LOOKUP_INDEX = "number_lookup"
UNSYNCED_INDEX = "isSynced_id"
NUMBER_KEY = [("number", ASCENDING)]
UNSYNCED_KEY = [("isSynced", ASCENDING), ("_id", ASCENDING)]
# Partial, so documents without a numeric `number` (which the sync never writes) do not
# block the build: a plain unique index treats every missing `number` as a duplicate null.
NUMERIC_NUMBER: dict[str, Any] = {"number": {"$type": "number"}}

DUPLICATE_KEY = 11000
UNAUTHORIZED = 13
INDEX_CONFLICTS = (85, 86)  # IndexOptionsConflict, IndexKeySpecsConflict

# Unsynced = `isSynced` is not true. `$ne` cannot use the (isSynced, _id) index for a
# sorted walk on a server, so the pages ask for the two usual states (an index range
# each) and then sweep any odd value (a string, a number...) with `$nin`, also bounded.
NOT_SYNCED: dict[str, Any] = {"isSynced": {"$ne": True}}
UNSYNCED_USUAL: dict[str, Any] = {"isSynced": {"$in": [False, None]}}
UNSYNCED_ODD: dict[str, Any] = {"isSynced": {"$nin": [True, False, None]}}
# What the sync reads of a document: nothing it does not use crosses the network.
INBOUND_PROJECTION = {name: 1 for name in (*MAPPED_FIELDS, "syncedAt")}
OUTBOUND_PROJECTION = {name: 1 for name in MAPPED_FIELDS}

# BSON's sort order of the types an `_id` can have. `$gt` compares only within one type,
# so paging by `_id` continues with every later type explicitly.
_ID_TYPE_ORDER = ("null", "number", "string", "object", "binData", "objectId", "bool", "date", "timestamp", "regex")


@dataclass
class IndexReport:
    duplicate_numbers: list[Any] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class WriteRefusal:
    """A write the server refused: its code, message, and for a unique index the key."""

    code: Any
    message: str
    key_pattern: Optional[dict[str, Any]] = None
    key_value: Optional[dict[str, Any]] = None

    @property
    def lost_race_on_number(self) -> bool:
        """Someone inserted this number meanwhile: decide again. mongomock gives no key
        pattern; then the sync re-decides, and a write that still fails is rejected."""
        return self.code == DUPLICATE_KEY and self.key_pattern in (None, {"number": 1})

    def describe(self) -> str:
        if self.code == DUPLICATE_KEY and self.key_pattern:
            fields = ", ".join(self.key_pattern)
            return (
                f"TracOS has a unique index on {fields} and another work order already holds "
                f"{_short(self.key_value)}; change the record or the other work order"
            )
        return f"TracOS refused the write (code {self.code}: {_short(self.message)})"


@dataclass
class WriteResult:
    inserted: set[Any] = field(default_factory=set)
    matched: int = 0
    refused: dict[Any, WriteRefusal] = field(default_factory=dict)  # by number; the rest were applied


class WritesNotConfirmed(RuntimeError):
    """The server applied writes but could not confirm them with the write concern: they
    may be rolled back, so they are never counted as applied."""


@dataclass(frozen=True)
class Update:
    """Client fields to write over `read`, the document as the sync read it."""

    fields: Mapping[str, Any]
    read: Mapping[str, Any]


class WorkOrderRepository:
    """The TracOS work order collection, seen through the queries the sync needs."""

    def __init__(self, collection: Any, retrier: Retrier) -> None:
        self.collection = collection
        self.retrier = retrier

    # -- indexes -------------------------------------------------------------------
    def ensure_indexes(self) -> IndexReport:
        """A partial unique index on `number`, and the outbound index. Existing equivalent
        indexes are accepted under any name. If TracOS holds duplicate numbers the unique
        index cannot exist yet: report them, and keep a plain index so lookups never scan."""
        report = IndexReport()
        existing = self._existing_indexes(report)
        self._create(report, existing, UNSYNCED_KEY, UNSYNCED_INDEX)
        if any(_rules_out_duplicate_numbers(key, info) for key, info in existing.values()):
            return report
        try:
            self._create(report, existing, NUMBER_KEY, UNIQUE_NUMBER_INDEX, unique=True,
                         partialFilterExpression=NUMERIC_NUMBER)
        except (DuplicateKeyError, OperationFailure) as error:
            if error.code not in (DUPLICATE_KEY, 11001):
                raise
            report.duplicate_numbers = self.duplicate_numbers()
            if not any(key[:1] == NUMBER_KEY for key, _ in existing.values()):
                self._create(report, existing, NUMBER_KEY, NUMBER_LOOKUP_INDEX)
        return report

    def ensure_outbound_index(self) -> IndexReport:
        """Outbound may run before any inbound run: it makes the index its pages walk."""
        report = IndexReport()
        self._create(report, self._existing_indexes(report), UNSYNCED_KEY, UNSYNCED_INDEX)
        return report

    def has_unique_numbers(self) -> bool:
        """Whether a unique index on `number` rules out duplicate numbers."""
        existing = self._existing_indexes(IndexReport())
        return any(_rules_out_duplicate_numbers(key, info) for key, info in existing.values())

    def _existing_indexes(self, report: IndexReport) -> dict[str, tuple[list[tuple[str, Any]], dict[str, Any]]]:
        try:
            information = self.retrier.call(self.collection.index_information, "list TracOS's indexes")
        except OperationFailure as error:
            if error.code != UNAUTHORIZED:
                raise
            report.warnings.append(f"not allowed to list TracOS's indexes (code 13); assuming none: {_short(str(error))}")
            return {}
        return {name: ([tuple(part) for part in info["key"]], info) for name, info in information.items()}

    def _create(self, report: IndexReport, existing: dict, key: list[tuple[str, Any]], name: str, **options: Any) -> None:
        """Create an index unless an equivalent one exists. The server refuses a key
        pattern that exists under another name (code 85/86) and an index build without
        the privilege (code 13): both are warnings, since the sync still works."""
        wanted = {"unique": options.get("unique", False), "partial": options.get("partialFilterExpression")}
        for existing_key, info in existing.values():
            if existing_key == key and {"unique": bool(info.get("unique")), "partial": info.get("partialFilterExpression")} == wanted:
                return
        try:
            # An index build can take long on a big collection: its own budget, and a
            # timeout is reported as such, not as "unreachable".
            self.retrier.call(
                lambda: self.collection.create_index(key, name=name, **options), f"create the index {name}",
                budget_seconds=self.retrier.long_operation_budget_seconds,
            )
        except OperationFailure as error:
            if error.code in INDEX_CONFLICTS:
                report.warnings.append(
                    f"TracOS already has an index on {_key_text(key)} with other options, so {name} was not created "
                    f"(code {error.code}: {_short(str(error))}); the existing index is used"
                )
            elif error.code == UNAUTHORIZED:
                report.warnings.append(
                    f"not allowed to create the index {name} on {_key_text(key)} (code 13); ask a database "
                    f"administrator to create it (createIndex {_key_text(key)} {options or ''})"
                )
            else:
                raise

    def duplicate_numbers(self) -> list[Any]:
        pipeline = [
            {"$match": NUMERIC_NUMBER},
            {"$group": {"_id": "$number", "count": {"$sum": 1}}},
            {"$match": {"count": {"$gt": 1}}},
            {"$sort": {"_id": 1}},
        ]
        rows = self.retrier.call(lambda: list(self.collection.aggregate(pipeline)), "look for duplicate numbers")
        return [row["_id"] for row in rows]

    # -- inbound -------------------------------------------------------------------
    def find_by_numbers(self, numbers: Sequence[int]) -> dict[Any, list[dict[str, Any]]]:
        """One `$in` query for a batch of numbers."""
        found: dict[Any, list[dict[str, Any]]] = {}
        if not numbers:
            return found
        documents = self.retrier.call(
            lambda: list(
                self.collection.find({"number": {"$in": list(numbers)}}, INBOUND_PROJECTION).batch_size(len(numbers))
            ),
            "read work orders by number",
        )
        for document in documents:
            number = document.get("number")
            # `$in` also matches an array holding the number (MongoDB compares array elements):
            # file it under each number asked for, so the sync sees it (and rejects the record).
            keys = [n for n in numbers if n in number] if isinstance(number, list) else [number]
            for key in keys:
                found.setdefault(key, []).append(document)
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

    def _bulk_write(self, operations: list[UpdateOne], what: str) -> Any:
        """pymongo raises BulkWriteError also when the only problem is a write concern
        error: those writes may be rolled back, so they are retried (when the error is
        transient) or fail the run, never counted as applied."""

        def attempt() -> Any:
            try:
                return self.collection.bulk_write(operations, ordered=False)
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
                f"(code {error.code}: {_short(str(error))}); they are not counted as applied"
            ) from None

    # -- outbound ------------------------------------------------------------------
    def iter_unsynced(self, batch_size: int) -> Iterator[list[dict[str, Any]]]:
        """Unsynced documents in `_id` order, a page at a time, whatever the types of
        `_id`; after a lost connection a page is asked again from where it stood."""
        for condition in (UNSYNCED_USUAL, UNSYNCED_ODD):
            last: Any = _START
            while True:
                query = condition if last is _START else {"$and": [condition, after_id(last)]}
                page = self.retrier.call(
                    # batch_size: the whole page in one round trip (MongoDB's first batch is 101 otherwise)
                    lambda query=query: list(
                        self.collection.find(query, OUTBOUND_PROJECTION)
                        .sort("_id", ASCENDING).limit(batch_size).batch_size(batch_size)
                    ),
                    "read unsynced work orders",
                )
                if page:
                    yield page
                if len(page) < batch_size:
                    break
                last = page[-1]["_id"]

    def find_unsynced_by_numbers(self, numbers: Sequence[Any]) -> dict[Any, list[dict[str, Any]]]:
        """Every unsynced document holding one of these numbers (to find duplicates)."""
        found: dict[Any, list[dict[str, Any]]] = {}
        if not numbers:
            return found
        documents = self.retrier.call(
            lambda: list(self.collection.find({"number": {"$in": list(numbers)}, **NOT_SYNCED}, OUTBOUND_PROJECTION)),
            "read unsynced work orders by number",
        )
        for document in documents:
            if isinstance(document.get("number"), list):
                continue  # `$in` matched an element: not that number's document (it is skipped on its own)
            found.setdefault(document.get("number"), []).append(document)
        return found

    def count_unsynced(self, limit: int = 0) -> int:
        """Unsynced documents, counting at most `limit` (0: all) so a tick stays cheap."""
        counted = 0
        for condition in (UNSYNCED_USUAL, UNSYNCED_ODD):
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
        try:
            self._bulk_write(operations, "mark work orders synced")
        except BulkWriteError:  # the refused marks stay unsynced and go out next run
            pass
        # Not the bulk's nModified: after a lost reply the retry finds the first attempt's
        # marks already applied and reports 0. What carries this mark's syncedAt is marked.
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


def unchanged_since_read(read: Mapping[str, Any]) -> dict[str, Any]:
    """A filter that matches the document only while it is unsynced and its exported
    fields are as read (`$eq`, so stored values are never read as query operators)."""
    condition: dict[str, Any] = {"_id": read["_id"], **NOT_SYNCED}
    for name in MAPPED_FIELDS:
        condition.update(as_read(read, name))
    return condition


def as_read(read: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Matches field `name` only while it holds what was read. `$eq: null` matches a
    missing field too: both mean the same to the sync (no date; nothing to export)."""
    return {name: {"$eq": read.get(name)}}


_START = object()


def after_id(last: Any) -> dict[str, Any]:
    """`_id` after `last` in BSON order: greater within its type, or any later type."""
    kind = bson_type_alias(last)
    later = _ID_TYPE_ORDER[_ID_TYPE_ORDER.index(kind) + 1:] if kind in _ID_TYPE_ORDER else ()
    branches: list[dict[str, Any]] = [] if kind == "null" else [{"_id": {"$gt": last}}]
    branches += [{"_id": {"$type": alias}} for alias in later]
    return branches[0] if len(branches) == 1 else {"$or": branches}


def bson_type_alias(value: Any) -> str:
    """The `$type` alias of a Python value as BSON stores it (numbers share one)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float, Int64, Decimal128, Decimal)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, (bytes, Binary, uuid.UUID)):
        return "binData"
    if isinstance(value, ObjectId):
        return "objectId"
    if isinstance(value, datetime):
        return "date"
    if isinstance(value, Timestamp):
        return "timestamp"
    if isinstance(value, (Regex, re.Pattern)):
        return "regex"
    return "unknown"


def bson_type_rank(value: Any) -> int:
    """Where a value's type sorts in BSON order (unknown types last)."""
    alias = bson_type_alias(value)
    return _ID_TYPE_ORDER.index(alias) if alias in _ID_TYPE_ORDER else len(_ID_TYPE_ORDER)


def _rules_out_duplicate_numbers(key: list[tuple[str, Any]], info: Mapping[str, Any]) -> bool:
    """A unique index on `number` alone, over every numeric `number`: one with another partial
    filter (say `{deleted: false}`) still lets two documents share a number."""
    return key == NUMBER_KEY and bool(info.get("unique")) and info.get("partialFilterExpression") in (None, NUMERIC_NUMBER)


def _refusal(error: Mapping[str, Any]) -> WriteRefusal:
    return WriteRefusal(
        code=error.get("code"), message=str(error.get("errmsg", "")),
        key_pattern=error.get("keyPattern"), key_value=error.get("keyValue"),
    )


def _key_text(key: list[tuple[str, Any]]) -> str:
    return "{" + ", ".join(f"{name}: {direction}" for name, direction in key) + "}"


def _short(value: Any, limit: int = 200) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
