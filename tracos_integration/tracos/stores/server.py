"""The `mongodb://` and `mongodb+srv://` store: a MongoDB server through pymongo."""

from __future__ import annotations

import threading
from typing import Any

import pymongo
from bson.codec_options import DatetimeConversion

from tracos_integration.tracos.uris import split_credentials, uri_option_names

_CLIENTS: dict[tuple[str, int], pymongo.MongoClient] = {}
_GUARD = threading.Lock()


def open_collection(uri: str, database: str, collection: str, server_selection_timeout_ms: int = 5000) -> Any:
    """A collection on the server; one client per URI and timeout for the process."""
    _, credentials, _ = split_credentials(uri)
    if credentials is not None and ("/" in credentials or "?" in credentials):
        # pymongo ends the hosts at the first `/` or `?`: it would contact a "host" made of
        # part of the password (a DNS query holding it), not the server this project names.
        raise ValueError(
            "the user name or password holds an unescaped '/' or '?', which MongoDB drivers read as the "
            "end of the hosts; %-escape them (/ as %2F, ? as %3F, @ as %40)"
        )
    key = (uri, server_selection_timeout_ms)
    with _GUARD:
        client = _CLIENTS.get(key)
        if client is None:
            client = pymongo.MongoClient(uri, **server_client_options(uri, server_selection_timeout_ms))
            _CLIENTS[key] = client
    return client[database][collection]


def server_client_options(uri: str, server_selection_timeout_ms: int = 5000) -> dict[str, Any]:
    """MongoClient keyword arguments for a `mongodb://` or `mongodb+srv://` URI.

    pymongo lets a keyword argument override the same option written in the URI, so the
    project's connection defaults are passed only where the URI is silent (option names
    are case-insensitive): an operator's `retryWrites=false` or `appName=...` is honoured."""
    defaults = {
        "serverSelectionTimeoutMS": server_selection_timeout_ms,
        "connectTimeoutMS": server_selection_timeout_ms,
        "socketTimeoutMS": 60_000,
        "retryWrites": True,
        "retryReads": True,
        "appName": "tracos-integration",
    }
    written = uri_option_names(uri)
    options: dict[str, Any] = {name: value for name, value in defaults.items() if name.lower() not in written}
    # Not connection options, and the sync depends on them: timestamps come back aware, and a
    # stored date outside Python's range comes back as DatetimeMS instead of making the whole
    # find() raise InvalidBSON (pymongo >= 4.3). connect=False: no I/O (not even the DNS of
    # mongodb+srv) until the first operation, which runs inside the Retrier.
    options.update(tz_aware=True, datetime_conversion=DatetimeConversion.DATETIME_AUTO, connect=False)
    return options
