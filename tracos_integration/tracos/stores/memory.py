"""The `mongomock://<name>` store: in memory, one per name, shared within the process."""

from __future__ import annotations

import threading
from typing import Any

import mongomock

from tracos_integration.tracos.stores import mongomock_compat

_CLIENTS: dict[str, mongomock.MongoClient] = {}
_GUARD = threading.Lock()


def open_collection(uri: str, database: str, collection: str) -> Any:
    """Every client for one URI sees the same data (cached for the process)."""
    mongomock_compat.apply()
    with _GUARD:
        client = _CLIENTS.get(uri)
        if client is None:
            client = _CLIENTS[uri] = mongomock.MongoClient(tz_aware=True)
    return client[database][collection]
