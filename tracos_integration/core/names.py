"""MongoDB's naming rules for databases and collections, checked before a name reaches a
server (which would refuse it at the first query, far from the setting that holds it).

From the MongoDB manual's "Naming Restrictions" and pymongo's own checks: the stricter of
the Unix and Windows rules for databases, since a deployment may move between them."""

from __future__ import annotations

from typing import Optional

DATABASE_FORBIDDEN = '/\\. "$*<>:|?\x00'
DATABASE_MAX_BYTES = 63  # "fewer than 64 characters" (bytes on the server)
NAMESPACE_MAX_BYTES = 255  # database + "." + collection


def database_problem(name: str) -> Optional[str]:
    """Why `name` cannot be a MongoDB database name; None when it can."""
    if not name:
        return "must not be empty"
    if not _encodable(name):
        return "must be valid Unicode text (it holds a lone surrogate)"
    forbidden = sorted({character for character in name if character in DATABASE_FORBIDDEN})
    if forbidden:
        shown = " ".join("NUL" if c == "\x00" else "space" if c == " " else c for c in forbidden)
        return f"must not contain {shown} (a database name has none of / \\ . space \" $ * < > : | ? NUL)"
    if len(_bytes(name)) > DATABASE_MAX_BYTES:
        return f"is {len(_bytes(name))} bytes; a database name has at most {DATABASE_MAX_BYTES}"
    return None


def collection_problem(name: str) -> Optional[str]:
    """Why `name` cannot be a collection name (pymongo's and the server's rules); None when it can."""
    if not name:
        return "must not be empty"
    if not _encodable(name):
        return "must be valid Unicode text (it holds a lone surrogate)"
    if "$" in name:
        return "must not contain $"
    if "\x00" in name:
        return "must not contain NUL"
    if name.startswith(".") or name.endswith("."):
        return "must not start or end with ."
    if ".." in name:
        return "must not contain .."
    if name.startswith("system."):
        return "must not start with system. (reserved by MongoDB)"
    if len(_bytes(name)) > NAMESPACE_MAX_BYTES:
        return f"is {len(_bytes(name))} bytes; database.collection has at most {NAMESPACE_MAX_BYTES}"
    return None


def namespace_problem(database: str, collection: str) -> Optional[str]:
    """Why database.collection is too long; None when it fits."""
    size = len(_bytes(database)) + 1 + len(_bytes(collection))
    if size > NAMESPACE_MAX_BYTES:
        return f"database.collection is {size} bytes; it has at most {NAMESPACE_MAX_BYTES}"
    return None


def _bytes(name: str) -> bytes:
    return name.encode("utf-8", "surrogatepass")


def _encodable(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
