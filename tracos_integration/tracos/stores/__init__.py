"""TracOS stores, one module each, chosen by the URI's scheme and imported only when used:

- `mongodb://`, `mongodb+srv://`: a MongoDB server (`server.py`, pymongo);
- `mongomock://<name>`: in memory, shared within a process (`memory.py`, mongomock);
- `embedded://<path>`: file-backed, shared between processes (`embedded.py`, litemongo).

mongomock and litemongo come with the `demo` extra and are imported nowhere else, so a
deployment on MongoDB never loads them (test_stores_package.py).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Any

from tracos_integration.tracos.uris import (
    EMBEDDED_SCHEME,
    MEMORY_SCHEME,
    MONGODB_SCHEMES,
    describe_scheme_error,
    embedded_path,
)

if TYPE_CHECKING:
    from tracos_integration.tracos.stores.embedded import EmbeddedStore

DEMO_PACKAGES = ("mongomock", "litemongo")


class DamagedStore(RuntimeError):
    """A file of the embedded store is not a readable SQLite database (damaged, truncated, or
    replaced by another file). The message names the file and what to do; no traceback."""


class DemoExtraMissing(RuntimeError):
    """A `mongomock://` or `embedded://` URI where the `demo` extra is not installed."""


def open_collection(uri: str, database: str, collection: str, server_selection_timeout_ms: int = 5000) -> Any:
    """A pymongo-compatible collection for `uri`."""
    if uri.startswith(MONGODB_SCHEMES):
        return _store("server", uri).open_collection(uri, database, collection, server_selection_timeout_ms)
    if uri.startswith(MEMORY_SCHEME):
        return _store("memory", uri).open_collection(uri, database, collection)
    if uri.startswith(EMBEDDED_SCHEME):
        return _store("embedded", uri).open_store(embedded_path(uri)).collection(database, collection)
    raise ValueError(describe_scheme_error(uri))


def embedded_store_for(uri: str) -> "EmbeddedStore | None":
    """The embedded store behind a URI, or None for any other kind of store."""
    if uri.startswith(EMBEDDED_SCHEME):
        return _store("embedded", uri).open_store(embedded_path(uri))
    return None


def _store(name: str, uri: str) -> ModuleType:
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] not in DEMO_PACKAGES:
            raise
        scheme = uri.split("://", 1)[0]
        raise DemoExtraMissing(
            f"MONGO_URI {scheme}:// needs the project's demo extra, and {error.name} is not installed: "
            "install it (pip install '.[demo]' in the project folder; make install does) or use a mongodb:// URI"
        ) from None
