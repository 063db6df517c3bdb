"""An embedded, file-backed TracOS: litemongo (mongomock with hash indexes over SQLite).

For demos and tests without a MongoDB server. Each collection is an SQLite file with one
row per document (BSON), in WAL mode: a write commits only the documents it changed, and
a committed write survives the process being killed. Lookups by `_id` and by any field of
a declared index (`number`) go through litemongo's hash indexes, not a scan.

Writers of a collection serialise on an exclusive file lock, which a Dagster run holds for
its whole duration: litemongo checks unique indexes inside the writing process, so two
processes writing at once could otherwise both insert one `number`. Each collection has
its own lock, so runs for different customers (collections) go side by side. Readers (the
sensor) never wait.

`embedded://<dir>/<name>.json` keeps its data in the folder `<dir>/<name>/` (one folder
per database, one SQLite file per collection). A store file of the earlier format (one
Extended JSON file at `<dir>/<name>.json`) is imported once, when that folder does not
exist yet, and kept beside it renamed `<name>.json.imported`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterator

import litemongo
from bson import ObjectId, json_util
from bson.json_util import JSONMode, JSONOptions
from litemongo import sqlite_store
from litemongo._vendor.mongomock import filtering as vendored_filtering

from tracos_integration.core.timestamps import UTC

LEGACY_FORMAT = "tracos-embedded/1"
_LEGACY_JSON_OPTIONS = JSONOptions(json_mode=JSONMode.RELAXED, tz_aware=True, tzinfo=UTC)
WRITE_METHODS = frozenset({
    "insert_one", "insert_many", "update_one", "update_many", "replace_one", "delete_one",
    "delete_many", "bulk_write", "find_one_and_update", "find_one_and_replace",
    "find_one_and_delete", "create_index", "create_indexes", "drop_index", "drop_indexes", "drop",
})


def data_directory(path: Path) -> Path:
    """`.tracos/tracos.json` -> `.tracos/tracos/`; a path without `.json` is the folder itself."""
    return path.with_suffix("") if path.suffix == ".json" else path


class EmbeddedStore:
    """One embedded store, shared by every collection opened on it in this process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.directory = data_directory(path)
        self.lock_path = path.with_name(path.name + ".lock")
        self._mutex = threading.RLock()
        self._held: dict[tuple[str, str], list[Any]] = {}  # (database, collection) -> [depth, lock file]
        # SQLite connections belong to the thread that opened them: one client per thread.
        self._clients = threading.local()
        self._imported = False

    def collection(self, database: str, collection: str) -> "EmbeddedCollection":
        return EmbeddedCollection(self, database, collection)

    @contextlib.contextmanager
    def locked(self, database: str = "", collection: str = "") -> Iterator[None]:
        """Exclusive across processes (flock) and threads; re-entrant within a thread. One
        lock per collection (each is its own SQLite file), so runs for different customers'
        collections go side by side; no names: the whole store (the one-time import)."""
        key = (database, collection)
        lock_path = self.lock_path if key == ("", "") else self.lock_path.with_name(
            f"{self.path.name}.{database}.{collection}.lock"
        )
        with self._mutex:
            held = self._held.setdefault(key, [0, None])
            if held[0] == 0:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                held[1] = open(lock_path, "a+")
                fcntl.flock(held[1].fileno(), fcntl.LOCK_EX)
            held[0] += 1
            try:
                yield
            finally:
                held[0] -= 1
                if held[0] == 0:
                    fcntl.flock(held[1].fileno(), fcntl.LOCK_UN)
                    held[1].close()
                    held[1] = None

    def inner(self, database: str, collection: str) -> Any:
        """This thread's litemongo collection."""
        client = getattr(self._clients, "client", None)
        if client is None:
            self._import_legacy_file()
            client = _client(self.directory)
            self._clients.client = client
        return client[database][collection]

    def _import_legacy_file(self) -> None:
        """The earlier format (one Extended JSON file) stays readable: imported once, the
        first time a process opens the store while only the old file exists."""
        if not self._imported and self.path.suffix == ".json" and self.path.is_file():
            with self.locked():
                if self.path.is_file() and not self.directory.exists():
                    import_legacy_file(self.path, self.directory)
        self._imported = True


def import_legacy_file(legacy: Path, directory: Path) -> int:
    """Copy a `tracos-embedded/1` Extended JSON store into a new store folder, then rename
    the file `<name>.imported`. Returns the documents imported. The folder appears whole
    or not at all: it is filled under a temporary name and renamed."""
    if directory.exists():
        raise ValueError(f"{directory} already holds a store; not importing {legacy} over it")
    payload = json_util.loads(legacy.read_text(encoding="utf-8"), json_options=_LEGACY_JSON_OPTIONS)
    if payload.get("format") != LEGACY_FORMAT:
        raise ValueError(f"{legacy} is not a {LEGACY_FORMAT} store file")
    filling = directory.with_name(f".{directory.name}.importing")
    shutil.rmtree(filling, ignore_errors=True)  # left by an import that died
    client = _client(filling)
    imported = 0
    try:
        for database, collections in payload.get("databases", {}).items():
            for name, content in collections.items():
                target = client[database][name]
                with one_transaction(target):
                    if content["documents"]:
                        target.insert_many(content["documents"])
                        imported += len(content["documents"])
                    for spec in content["indexes"]:
                        target.create_index([tuple(key) for key in spec["keys"]], unique=spec.get("unique", False),
                                            name=spec["name"])
    finally:
        client.close()
    os.rename(filling, directory)
    os.replace(legacy, legacy.with_name(legacy.name + ".imported"))
    return imported


class EmbeddedCollection:
    """A pymongo-compatible collection; every write holds the store's lock."""

    def __init__(self, store: EmbeddedStore, database: str, name: str) -> None:
        self._store = store
        self._database = database
        self.name = name
        self.full_name = f"{database}.{name}"

    def __getattr__(self, attribute: str) -> Any:
        if attribute in WRITE_METHODS:
            return self._locked(attribute)
        return getattr(self._store.inner(self._database, self.name), attribute)

    def find(self, filter: Any = None, projection: Any = None, **options: Any) -> "EmbeddedCursor":
        return EmbeddedCursor(self._store.inner(self._database, self.name), filter, projection, options)

    def _locked(self, method_name: str):
        def call(*args: Any, **kwargs: Any) -> Any:
            with self._store.locked(self._database, self.name):
                inner = self._store.inner(self._database, self.name)
                with one_transaction(inner):
                    return getattr(inner, method_name)(*args, **kwargs)

        return call


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
    store = collection._store  # litemongo's CollectionStore (its sqlite_store module, pinned)
    proxy = store._connection
    if not isinstance(proxy, _DeferredCommits):
        proxy = _DeferredCommits(store._connection)
        store._connection = store._documents._connection = store.indexes._connection = proxy
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


_OBJECT_ID_KEYS = ("o:", "o;")  # litemongo's typed keys: "o:<24 hex>", in ObjectId order
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
    store = collection._store
    documents = store._documents
    if lower is None or documents.key_format != sqlite_store.KEY_FORMAT_TYPED:
        return None
    rows = _deferred_commits(collection).connection
    low, high = _OBJECT_ID_KEYS
    if rows.execute("SELECT 1 FROM documents WHERE _id < ? OR _id >= ? LIMIT 1", (low, high)).fetchone():
        return None  # some _id is not an ObjectId: litemongo's path orders mixed types
    start, inclusive = lower if lower != () else (low, True)
    found: list[Any] = []
    while len(found) < limit:
        page = rows.execute(
            f"SELECT _id, doc FROM documents WHERE _id {'>=' if inclusive else '>'} ? AND _id < ? "
            "ORDER BY _id LIMIT ?", (start, high, _PAGE_ROWS)).fetchall()
        for key, encoded in page:
            document = documents._decode_doc(encoded)
            if vendored_filtering.filter_applies(filter, document):
                found.append(document["_id"])
                if len(found) == limit:
                    break
        if len(page) < _PAGE_ROWS:
            break
        start, inclusive = page[-1][0], False
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
            return f"o:{value}", operator == "$gte"
    return None


def _client(directory: Path) -> Any:
    # A store object, not a string: litemongo would parse a string as a URI ('#', '?').
    return litemongo.MongoClient(sqlite_store.ServerStore(directory), tz_aware=True)


_STORES: dict[Path, EmbeddedStore] = {}
_STORES_GUARD = threading.Lock()


def open_store(path: Path) -> EmbeddedStore:
    with _STORES_GUARD:
        return _STORES.setdefault(path, EmbeddedStore(path))


def main(argv: list[str] | None = None) -> int:
    """`python -m tracos_integration.tracos.embedded import .tracos/tracos.json`"""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "import":
        print(main.__doc__, file=sys.stderr)
        return 2
    legacy = Path(args[1]).resolve()
    with open_store(legacy).locked():
        count = import_legacy_file(legacy, data_directory(legacy))
    print(json.dumps({"imported": count, "store": str(data_directory(legacy))}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
