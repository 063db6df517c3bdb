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

Database and collection names become file names through `file_name`: letters, digits and
`_ - .` as they are, anything else (`/`, `~`, NUL, a leading or doubled `.`) %-escaped, and a
name too long for a file shortened with `~` and its hash (no other name can take that file),
so no name reaches a path outside the store (CONTRACT 8).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

from bson import json_util
from bson.json_util import JSONMode, JSONOptions

from tracos_integration.core.timestamps import UTC
from tracos_integration.tracos.stores import DamagedStore, litemongo_adapter, mongomock_compat
from tracos_integration.tracos.stores.embedded_pages import EmbeddedCursor, one_transaction

LEGACY_FORMAT = "tracos-embedded/1"
_LEGACY_JSON_OPTIONS = JSONOptions(json_mode=JSONMode.RELAXED, tz_aware=True, tzinfo=UTC)
WRITE_METHODS = frozenset({
    "insert_one", "insert_many", "update_one", "update_many", "replace_one", "delete_one",
    "delete_many", "bulk_write", "find_one_and_update", "find_one_and_replace",
    "find_one_and_delete", "create_index", "create_indexes", "drop_index", "drop_indexes", "drop",
})


def damaged(file: Path, error: sqlite3.DatabaseError) -> DamagedStore:
    return DamagedStore(
        f"the embedded TracOS store file {file} cannot be read ({error}): it is damaged or not a store file. "
        "Stop the runs using it, move it aside with its -wal and -shm files (e.g. rename to *.damaged), then "
        "restore it from a backup; without one, the collection starts empty and its work orders must be sent again"
    )


def damaged_legacy(file: Path, problem: str) -> DamagedStore:
    return DamagedStore(
        f"the embedded TracOS store file {file} (the earlier one-file format) cannot be imported ({problem}): it "
        "is damaged or not a store file. Move it aside (e.g. rename to *.damaged) and restore it from a backup; "
        "without one, the store starts empty and its work orders must be sent again"
    )


MAX_FILE_NAME = 120  # bytes: room for the store's own prefix and suffixes under the usual 255


def file_name(name: str) -> str:
    """The file (or folder) name for a database or collection name: one path component,
    never `.` or `..`, the same for the same name. Usual names (`tractian`, `workorders_acme`)
    stay as they are, so existing stores keep their files."""
    # `~` escaped too: only a hashed name holds one, so no name can take another's hashed file.
    encoded = quote(name, safe="", errors="surrogatepass").replace("~", "%7E")
    # A dot first, last or beside another dot is escaped too: no `.`, `..` or hidden file.
    encoded = re.sub(r"^\.|\.$|(?<=\.)\.|\.(?=\.)", "%2E", encoded)
    if not encoded or len(encoded) > MAX_FILE_NAME:
        digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        encoded = f"{encoded[:MAX_FILE_NAME - 17]}~{digest}"
    return encoded


def lock_name(store: str, database: str, collection: str) -> str:
    """`<store>.<database>.<collection>.lock` as file names; hashed when that is over a file
    name's 255 bytes (two long names), so every valid namespace has a lock it can open."""
    name = f"{store}.{file_name(database)}.{file_name(collection)}.lock"
    if len(name.encode("utf-8", "surrogatepass")) <= 255:
        return name
    digest = hashlib.sha256(f"{database}\0{collection}".encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{store}.~{digest}.lock"


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
        self._held: dict[tuple[str, str], list[Any]] = {}  # (database, collection) -> [depth, lock file, its RLock]
        # SQLite connections belong to the thread that opened them: one client per thread.
        self._clients = threading.local()
        self._imported = False

    def collection(self, database: str, collection: str) -> "EmbeddedCollection":
        return EmbeddedCollection(self, database, collection)

    @contextlib.contextmanager
    def hold(self, database: str = "", collection: str = "") -> Iterator[None]:
        """Exclusive across processes (flock) and threads; re-entrant within a thread. One
        lock per collection (each is its own SQLite file), so runs for different customers'
        collections go side by side; no names: the whole store (the one-time import)."""
        key = (database, collection)
        lock_path = self.lock_path if key == ("", "") else self.lock_path.with_name(
            lock_name(self.path.name, database, collection))
        with self._mutex:
            held = self._held.setdefault(key, [0, None, threading.RLock()])
        # One collection's lock, not the store's: a thread writing another collection (the
        # lease's renewals, tracos/lease.py) never waits for a run holding its own.
        with held[2]:
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
        """This thread's litemongo collection; DamagedStore when its file is not a database."""
        client = getattr(self._clients, "client", None)
        if client is None:
            self._import_legacy_file()
            client = litemongo_adapter.client(self.directory)
            self._clients.client = client
            self._clients.opened = set()
        inner = client[file_name(database)][file_name(collection)]
        if (database, collection) not in self._clients.opened:
            with self.named_errors(database, collection):
                litemongo_adapter.open_file(inner)  # a damaged file fails here, named
            self._clients.opened.add((database, collection))
        return inner

    def close_client(self) -> None:
        """This thread's SQLite connections closed (the next use opens new ones)."""
        client = getattr(self._clients, "client", None)
        if client is not None:
            self._clients.client = None
            client.close()

    @contextlib.contextmanager
    def named_errors(self, database: str, collection: str) -> Iterator[None]:
        """SQLite's "file is not a database" (or "malformed") names no file: this names it."""
        try:
            yield
        except sqlite3.DatabaseError as error:
            file = self.directory / file_name(database) / file_name(collection)
            if isinstance(error, sqlite3.OperationalError) and str(error) == "unable to open database file":
                raise DamagedStore(
                    f"the embedded TracOS store file {file} cannot be opened ({error}): is it a folder, or not "
                    "readable? Move whatever stands there aside, or give the store's user access to it"
                ) from None
            if type(error) is not sqlite3.DatabaseError:  # locked, constraint, ...: not damage
                raise
            raise damaged(file, error) from None

    def _import_legacy_file(self) -> None:
        """The earlier format (one Extended JSON file) stays readable: imported once, the
        first time a process opens the store while only the old file exists."""
        if not self._imported and self.path.suffix == ".json" and self.path.is_file():
            with self.hold():
                if self.path.is_file() and not self.directory.exists():
                    import_legacy_file(self.path, self.directory)
        self._imported = True


def import_legacy_file(legacy: Path, directory: Path) -> int:
    """Copy a `tracos-embedded/1` Extended JSON store into a new store folder, then rename
    the file `<name>.imported`. Returns the documents imported. The folder appears whole
    or not at all: it is filled under a temporary name and renamed."""
    if directory.exists():
        raise ValueError(f"{directory} already holds a store; not importing {legacy} over it")
    try:
        payload = json_util.loads(legacy.read_text(encoding="utf-8"), json_options=_LEGACY_JSON_OPTIONS)
    except ValueError as error:  # not JSON, not UTF-8, bad Extended JSON
        raise damaged_legacy(legacy, str(error).splitlines()[0]) from None
    if not isinstance(payload, dict) or payload.get("format") != LEGACY_FORMAT:
        raise damaged_legacy(legacy, f"not a {LEGACY_FORMAT} store file")
    filling = directory.with_name(f".{directory.name}.importing")
    shutil.rmtree(filling, ignore_errors=True)  # left by an import that died
    client = litemongo_adapter.client(filling)
    imported = 0
    try:
        for database, collections in payload.get("databases", {}).items():
            for name, content in collections.items():
                target = client[file_name(database)][file_name(name)]
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
            return self._holding(attribute)
        return getattr(self._store.inner(self._database, self.name), attribute)

    def find(self, filter: Any = None, projection: Any = None, **options: Any) -> "EmbeddedCursor":
        return EmbeddedCursor(self._store.inner(self._database, self.name), filter, projection, options)

    def _holding(self, method_name: str):
        def call(*args: Any, **kwargs: Any) -> Any:
            with self._store.hold(self._database, self.name):
                inner = self._store.inner(self._database, self.name)
                with one_transaction(inner):
                    return getattr(inner, method_name)(*args, **kwargs)

        return call


_STORES: dict[Path, EmbeddedStore] = {}
_STORES_GUARD = threading.Lock()


@atexit.register
def close_stores() -> None:
    """At exit, this thread's connections closed: SQLite then folds each file's write-ahead
    log back into it, so the file alone holds every document (a copy, a backup). No garbage
    collection would close them: the package freezes every object at exit."""
    with _STORES_GUARD:
        stores = list(_STORES.values())
    for store in stores:
        store.close_client()


def open_store(path: Path) -> EmbeddedStore:
    # litemongo matches queries with its own copy of mongomock: it gets the same patches.
    mongomock_compat.apply_to(litemongo_adapter.vendored_filtering())
    with _STORES_GUARD:
        return _STORES.setdefault(path, EmbeddedStore(path))


def main(argv: list[str] | None = None) -> int:
    """`python -m tracos_integration.tracos.stores.embedded import .tracos/tracos.json`"""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "import":
        print(main.__doc__, file=sys.stderr)
        return 2
    legacy = Path(args[1]).resolve()
    with open_store(legacy).hold():
        count = import_legacy_file(legacy, data_directory(legacy))
    print(json.dumps({"imported": count, "store": str(data_directory(legacy))}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
