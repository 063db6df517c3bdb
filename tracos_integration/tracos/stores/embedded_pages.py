"""The embedded store's transactions and its one planned query shape.

- A write call commits once, at its end (litemongo commits per document otherwise).
- A page of a filter in `_id` order (outbound's scan) walks SQLite's primary-key index
  from the page's bound instead of decoding and sorting the whole collection.
"""

from __future__ import annotations

import contextlib
import sqlite3
from typing import Any, Iterator

from bson import ObjectId

from tracos_integration.tracos.stores import litemongo_adapter


class _DeferredCommits:
    """Stands in for litemongo's sqlite3 connection of one collection. litemongo commits
    each document it writes (`with connection:`); inside `one_transaction` those blocks do
    not commit, and the whole call commits once: a bulk of 1,000 upserts is one fsync, and a
    process killed mid-call leaves the store as it was before the call."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection
        self.depth = 0
        # FULL: a commit is on disk (the WAL fsynced) before the write is acknowledged.
        connection.execute("PRAGMA synchronous=FULL")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.connection, name)

    def __enter__(self) -> Any:
        return self if self.depth else self.connection.__enter__()

    def __exit__(self, *exc_info: Any) -> Any:
        return False if self.depth else self.connection.__exit__(*exc_info)


def _deferred_commits(collection: Any) -> _DeferredCommits:
    proxy = litemongo_adapter.connection(collection)
    if not isinstance(proxy, _DeferredCommits):
        proxy = litemongo_adapter.replace_connection(collection, _DeferredCommits)
    return proxy


@contextlib.contextmanager
def one_transaction(collection: Any) -> Iterator[None]:
    """Everything a write call changes commits once at its end, also when it raises
    (a BulkWriteError still applied the other writes, as on MongoDB)."""
    proxy = _deferred_commits(collection)
    if proxy.depth == 0:
        proxy.connection.execute("BEGIN IMMEDIATE")
    proxy.depth += 1
    try:
        yield
    finally:
        proxy.depth -= 1
        if proxy.depth == 0:
            proxy.connection.commit()


class EmbeddedCursor:
    """litemongo's cursor, except for one shape it cannot plan: a page of a filter in `_id`
    order (`find(f).sort("_id", 1).limit(n)`, outbound's scan). litemongo would decode and
    sort every document for each page; here SQLite's primary-key index walks the documents
    in `_id` order from the page's lower bound and stops after n matches. Only ObjectId
    `_id`s are ordered that way in SQLite; any other collection takes litemongo's path."""

    def __init__(self, collection: Any, filter: Any, projection: Any, options: dict[str, Any]) -> None:
        self._collection = collection
        self._filter = filter if filter is not None else {}
        self._projection = projection
        self._options = options
        self._sort: Any = None
        self._skip = 0
        self._limit = 0
        self._cursor: Any = None

    def sort(self, key_or_list: Any, direction: Any = None) -> "EmbeddedCursor":
        self._sort = (key_or_list, direction)
        return self

    def skip(self, count: int) -> "EmbeddedCursor":
        self._skip = count
        return self

    def limit(self, count: int) -> "EmbeddedCursor":
        self._limit = count
        return self

    def batch_size(self, count: int) -> "EmbeddedCursor":
        return self

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        return next(self._resolved())

    def __getattr__(self, name: str) -> Any:  # any other cursor method: litemongo's cursor
        return getattr(self._litemongo_cursor(), name)

    def _resolved(self) -> Iterator[Any]:
        if self._cursor is None:
            ids = _page_in_id_order(self._collection, self._filter, self._sort, self._skip, self._limit)
            if ids is None:
                self._cursor = self._litemongo_cursor()
            else:  # each by its _id (a hash lookup); a `$in` of n ids costs n comparisons a document
                page = (self._collection.find_one({"_id": _id}, self._projection) for _id in ids)
                self._cursor = iter([document for document in page if document is not None])
        return self._cursor

    def _litemongo_cursor(self) -> Any:
        cursor = self._collection.find(self._filter, self._projection, **self._options)
        if self._sort is not None:
            cursor = cursor.sort(*self._sort) if self._sort[1] is not None else cursor.sort(self._sort[0])
        return cursor.skip(self._skip).limit(self._limit)


_PAGE_ROWS = 500


def _page_in_id_order(collection: Any, filter: Any, sort: Any, skip: int, limit: int) -> list[Any] | None:
    """The `_id`s of the first `limit` matches in `_id` order, or None when this shape
    or this collection is not one the primary-key walk serves."""
    if sort is None or skip or not limit or limit < 0 or not isinstance(filter, dict):
        return None
    key_or_list, direction = sort
    if not (key_or_list == "_id" and direction in (None, 1)) and key_or_list != [("_id", 1)]:
        return None
    lower = _id_lower_bound(filter)
    if lower is None:
        return None
    rows = _deferred_commits(collection).connection
    if not litemongo_adapter.keys_in_object_id_order(collection):
        return None  # some _id is not an ObjectId: litemongo's path orders mixed types
    key, inclusive = lower if lower != () else (litemongo_adapter.object_id_key(None), True)
    found: list[Any] = []
    while len(found) < limit:
        page = litemongo_adapter.documents_after(rows, collection, key, inclusive, _PAGE_ROWS)
        for _, document in page:
            if litemongo_adapter.filter_applies(filter, document):
                found.append(document["_id"])
                if len(found) == limit:
                    break
        if len(page) < _PAGE_ROWS:
            break
        key, inclusive = page[-1][0], False
    return found


def _id_lower_bound(filter: dict[str, Any]) -> tuple[str, bool] | tuple[()] | None:
    """() for no condition on `_id`; (key, inclusive) for a page after an ObjectId, in either
    shape the sync asks: `{"_id": {"$gt": oid}}`, or `{"$and": [condition, after]}` where
    `after` is `{"_id": {"$gt": oid}}` or `{"$or": [{"_id": {"$gt": oid}}, {"_id": {"$type": ...}}, ...]}`
    (queries.after_id; in a collection of ObjectId `_id`s only the first branch can match).
    None for anything else."""
    if "$and" in filter:
        if len(filter) != 1 or len(filter["$and"]) != 2 or "_id" in filter["$and"][0]:
            return None
        after = filter["$and"][1]
        if "$or" in after:
            branches = after["$or"]
            if len(after) != 1 or any(set(b) != {"_id"} or set(b["_id"]) != {"$type"} for b in branches[1:]):
                return None
            after = branches[0]
        return _bound(after.get("_id")) if set(after) == {"_id"} else None
    return _bound(filter.get("_id"))


def _bound(condition: Any) -> tuple[str, bool] | tuple[()] | None:
    if condition is None:
        return ()
    if isinstance(condition, dict) and len(condition) == 1:
        (operator, value), = condition.items()
        if operator in ("$gt", "$gte") and isinstance(value, ObjectId):
            return litemongo_adapter.object_id_key(value), operator == "$gte"
    return None
