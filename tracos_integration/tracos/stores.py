"""Opening a TracOS collection for a URI: a MongoDB server, in-memory, or embedded."""

from __future__ import annotations

import threading
from typing import Any

import mongomock
import pymongo

from tracos_integration.tracos import mongomock_compat  # noqa: F401  (bulk_write shim)
from tracos_integration.tracos.embedded import EmbeddedStore, open_store
from tracos_integration.tracos.uris import (
    EMBEDDED_SCHEME,
    MEMORY_SCHEME,
    MONGODB_SCHEMES,
    describe_scheme_error,
    embedded_path,
)

_MEMORY_CLIENTS: dict[str, mongomock.MongoClient] = {}
_SERVER_CLIENTS: dict[tuple[str, int], pymongo.MongoClient] = {}
_GUARD = threading.Lock()


def open_collection(uri: str, database: str, collection: str, server_selection_timeout_ms: int = 5000) -> Any:
    """A pymongo-compatible collection. Clients are cached per URI for the process, so
    every `mongomock://` client for one URI sees the same data."""
    if uri.startswith(MEMORY_SCHEME):
        with _GUARD:
            client = _MEMORY_CLIENTS.setdefault(uri, mongomock.MongoClient(tz_aware=True))
        return client[database][collection]
    if uri.startswith(EMBEDDED_SCHEME):
        return open_store(embedded_path(uri)).collection(database, collection)
    if uri.startswith(MONGODB_SCHEMES):
        key = (uri, server_selection_timeout_ms)
        with _GUARD:
            client = _SERVER_CLIENTS.get(key)
            if client is None:
                client = pymongo.MongoClient(
                    uri,
                    tz_aware=True,
                    serverSelectionTimeoutMS=server_selection_timeout_ms,
                    connectTimeoutMS=server_selection_timeout_ms,
                    socketTimeoutMS=60_000,
                    retryWrites=True,
                    retryReads=True,
                    appname="tracos-integration",
                )
                _SERVER_CLIENTS[key] = client
        return client[database][collection]
    raise ValueError(describe_scheme_error(uri))


def embedded_store_for(uri: str) -> EmbeddedStore | None:
    """The embedded store behind a URI, or None for any other kind of store."""
    if uri.startswith(EMBEDDED_SCHEME):
        return open_store(embedded_path(uri))
    return None
