"""An embedded, file-backed TracOS: mongomock persisted as MongoDB Extended JSON.

For demos and tests without a MongoDB server. Every write is saved at once (atomic
replace), and writers serialise on an exclusive file lock, which a Dagster run holds
for its whole duration so concurrent runs never lose each other's writes.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from pathlib import Path
from typing import Any, Iterator

import mongomock
from bson import json_util
from bson.json_util import JSONOptions, JSONMode

from tracos_integration.core.timestamps import UTC
from tracos_integration.tracos import mongomock_compat  # noqa: F401  (bulk_write shim)

FORMAT = "tracos-embedded/1"
_JSON_OPTIONS = JSONOptions(json_mode=JSONMode.RELAXED, tz_aware=True, tzinfo=UTC)
WRITE_METHODS = frozenset({
    "insert_one", "insert_many", "update_one", "update_many", "replace_one", "delete_one",
    "delete_many", "bulk_write", "find_one_and_update", "find_one_and_replace",
    "find_one_and_delete", "create_index", "create_indexes", "drop_index", "drop_indexes", "drop",
})


class EmbeddedStore:
    """One store file, shared by every collection opened on it in this process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")
        self._mutex = threading.RLock()
        self._lock_depth = 0
        self._lock_file: Any = None
        self._signature: tuple[int, int, int] | None = None
        self._client = mongomock.MongoClient(tz_aware=True)

    def collection(self, database: str, collection: str) -> "EmbeddedCollection":
        return EmbeddedCollection(self, database, collection)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive across processes (flock) and threads; re-entrant within a thread."""
        with self._mutex:
            if self._lock_depth == 0:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._lock_file = open(self.lock_path, "a+")
                fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_EX)
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
                if self._lock_depth == 0:
                    fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_UN)
                    self._lock_file.close()
                    self._lock_file = None

    def inner(self, database: str, collection: str) -> mongomock.Collection:
        """The live mongomock collection, reloaded first if another process saved."""
        with self._mutex:
            self._refresh()
            return self._client[database][collection]

    def save(self) -> None:
        with self._mutex:
            payload = {"format": FORMAT, "databases": {}}
            for db_name in self._client.list_database_names():
                database = self._client[db_name]
                payload["databases"][db_name] = {
                    name: {
                        "indexes": _index_specs(database[name]),
                        "documents": list(database[name].find({})),
                    }
                    for name in database.list_collection_names()
                }
            temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            with open(temp, "w", encoding="utf-8") as handle:
                handle.write(json_util.dumps(payload, json_options=_JSON_OPTIONS))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, self.path)
            self._signature = _signature(self.path)

    def _refresh(self) -> None:
        current = _signature(self.path)
        if current == self._signature:
            return
        client = mongomock.MongoClient(tz_aware=True)
        if current is not None:
            payload = json_util.loads(self.path.read_text(encoding="utf-8"), json_options=_JSON_OPTIONS)
            for db_name, collections in payload.get("databases", {}).items():
                for name, content in collections.items():
                    target = client[db_name][name]
                    if content["documents"]:
                        target.insert_many(content["documents"])
                    for spec in content["indexes"]:
                        options = {"partialFilterExpression": spec["partial"]} if spec.get("partial") else {}
                        target.create_index([tuple(key) for key in spec["keys"]], unique=spec.get("unique", False),
                                            name=spec["name"], **options)
        self._client = client
        self._signature = current


class EmbeddedCollection:
    """A pymongo-compatible collection whose writes persist to the store file."""

    def __init__(self, store: EmbeddedStore, database: str, name: str) -> None:
        self._store = store
        self._database = database
        self.name = name
        self.full_name = f"{database}.{name}"

    def __getattr__(self, attribute: str) -> Any:
        if attribute in WRITE_METHODS:
            return self._persisting(attribute)
        return getattr(self._store.inner(self._database, self.name), attribute)

    def _persisting(self, method_name: str):
        def call(*args: Any, **kwargs: Any) -> Any:
            with self._store.locked():
                method = getattr(self._store.inner(self._database, self.name), method_name)
                try:
                    return method(*args, **kwargs)
                finally:
                    self._store.save()

        return call


def _index_specs(collection: mongomock.Collection) -> list[dict[str, Any]]:
    specs = []
    for name, info in collection.index_information().items():
        if name == "_id_":
            continue
        specs.append({"name": name, "keys": [list(key) for key in info["key"]], "unique": bool(info.get("unique")),
                      "partial": info.get("partialFilterExpression")})  # else a reload builds it over every document
    return specs


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


_STORES: dict[Path, EmbeddedStore] = {}
_STORES_GUARD = threading.Lock()


def open_store(path: Path) -> EmbeddedStore:
    with _STORES_GUARD:
        return _STORES.setdefault(path, EmbeddedStore(path))
