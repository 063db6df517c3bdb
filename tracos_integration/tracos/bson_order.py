"""BSON's sort order of values, for paging by `_id` across types and breaking ties."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, Mapping

from bson import Binary, Decimal128, Int64, ObjectId, Regex, Timestamp

# BSON's sort order of the types an `_id` can have. `$gt` compares only within one type,
# so paging by `_id` continues with every later type explicitly.
_ID_TYPE_ORDER = ("null", "number", "string", "object", "binData", "objectId", "bool", "date", "timestamp", "regex")


def after_id(last: Any) -> dict[str, Any]:
    """`_id` after `last` in BSON order: greater within its type, or any later type."""
    kind = bson_type_alias(last)
    later = _ID_TYPE_ORDER[_ID_TYPE_ORDER.index(kind) + 1:] if kind in _ID_TYPE_ORDER else ()
    branches: list[dict[str, Any]] = [] if kind == "null" else [{"_id": {"$gt": last}}]
    branches += [{"_id": {"$type": alias}} for alias in later]
    return branches[0] if len(branches) == 1 else {"$or": branches}


def bson_type_alias(value: Any) -> str:
    """The `$type` alias of a Python value as BSON stores it (numbers share one)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float, Int64, Decimal128, Decimal)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, (bytes, Binary, uuid.UUID)):
        return "binData"
    if isinstance(value, ObjectId):
        return "objectId"
    if isinstance(value, datetime):
        return "date"
    if isinstance(value, Timestamp):
        return "timestamp"
    if isinstance(value, (Regex, re.Pattern)):
        return "regex"
    return "unknown"


def bson_type_rank(value: Any) -> int:
    """Where a value's type sorts in BSON order (unknown types last)."""
    alias = bson_type_alias(value)
    return _ID_TYPE_ORDER.index(alias) if alias in _ID_TYPE_ORDER else len(_ID_TYPE_ORDER)
