"""Everything the embedded store needs from litemongo beyond its public client, in one place.

litemongo is pinned (`litemongo==0.2.0`, the `demo` extra) and these are its internals:
the collection's SQLite store (`Collection._store`: a `CollectionStore` with `_connection`,
`_documents`, `indexes`), the `documents` table keyed by typed keys (`o:<24 hex>` for an
ObjectId), and its vendored copy of mongomock's query matching. A new litemongo version must
be checked against this module before the pin moves: test_litemongo_adapter.py fails until then.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import litemongo
from bson import ObjectId
from litemongo import sqlite_store
from litemongo._vendor.mongomock import filtering as _vendored_filtering

WRITTEN_AGAINST = "0.2.0"
_OBJECT_ID_KEYS = ("o:", "o;")  # typed keys of ObjectIds, "o:<24 hex>": their order is ObjectId order


def client(directory: Path) -> Any:
    # A store object, not a string: litemongo would parse a string as a URI ('#', '?').
    return litemongo.MongoClient(sqlite_store.ServerStore(directory), tz_aware=True)


def open_file(collection: Any) -> None:
    """Opens the collection's SQLite file now (a damaged one raises sqlite3.DatabaseError here)."""
    collection._store  # noqa: B018


def connection(collection: Any) -> Any:
    """The collection's SQLite connection as litemongo holds it (or what replaced it)."""
    return collection._store._connection


def replace_connection(collection: Any, wrap: Callable[[sqlite3.Connection], Any]) -> Any:
    """Every part of the collection's store uses `wrap(connection)` from here on."""
    store = collection._store
    wrapped = wrap(store._connection)
    store._connection = store._documents._connection = store.indexes._connection = wrapped
    return wrapped


def keys_in_object_id_order(collection: Any) -> bool:
    """True when every document's key is an ObjectId's typed key, so that SQLite's primary
    key walks the collection in `_id` order (False for the legacy key format or any other `_id`)."""
    if collection._store._documents.key_format != sqlite_store.KEY_FORMAT_TYPED:
        return False
    low, high = _OBJECT_ID_KEYS
    rows = collection._store._connection
    return rows.execute("SELECT 1 FROM documents WHERE _id < ? OR _id >= ? LIMIT 1", (low, high)).fetchone() is None


def object_id_key(value: ObjectId | None) -> str:
    """The key an ObjectId is stored under; None: the lowest ObjectId key."""
    return _OBJECT_ID_KEYS[0] if value is None else f"o:{value}"


def documents_after(rows: sqlite3.Connection, collection: Any, key: str, inclusive: bool, count: int) -> list[tuple[str, Any]]:
    """Up to `count` (key, document) pairs from `key` on, in key order, ObjectId keys only."""
    page = rows.execute(
        f"SELECT _id, doc FROM documents WHERE _id {'>=' if inclusive else '>'} ? AND _id < ? ORDER BY _id LIMIT ?",
        (key, _OBJECT_ID_KEYS[1], count),
    ).fetchall()
    decode = collection._store._documents._decode_doc
    return [(found, decode(encoded)) for found, encoded in page]


def filter_applies(filter: Any, document: Any) -> bool:
    """litemongo's own matching (its vendored mongomock), as its find() would apply it."""
    return _vendored_filtering.filter_applies(filter, document)


def vendored_filtering() -> ModuleType:
    """litemongo's copy of mongomock's query matching, which the compatibility patches also fix."""
    return _vendored_filtering
