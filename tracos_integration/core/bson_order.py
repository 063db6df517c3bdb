"""How MongoDB orders and equates BSON values, for paging by `_id` across types, breaking
ties and grouping `number`s. Pure: no I/O.

The server's type order (`canonicalizeBSONType` in its bsontypes.h; the manual's
"Comparison/Sort Order"): MinKey, null, numbers, symbol and string, object, array, binData,
objectId, bool, date, timestamp, regex, dbPointer, javascript, javascript with scope, MaxKey.
"""

from __future__ import annotations

import math
import re
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from collections.abc import Mapping
from typing import Any, Hashable, Optional

from bson import Binary, Code, DBRef, Decimal128, MaxKey, MinKey, ObjectId, Regex, Timestamp
from bson.datetime_ms import DatetimeMS

# One entry per place in the order; an entry lists the `$type` aliases sharing it.
_TYPE_ORDER: tuple[tuple[str, ...], ...] = (
    ("minKey",), ("null",), ("number",), ("string", "symbol"), ("object",), ("array",), ("binData",),
    ("objectId",), ("bool",), ("date",), ("timestamp",), ("regex",), ("dbPointer",), ("javascript",),
    ("javascriptWithScope",), ("maxKey",),
)
_RANK = {alias: rank for rank, aliases in enumerate(_TYPE_ORDER) for alias in aliases}
# No `$gt` can continue inside these types: one value each (minKey, null, maxKey), the server
# refuses a regex as the argument of `$gt` (BadValue), or pymongo cannot send the value back
# as the type it read (a DBPointer reads as a DBRef, which pymongo writes as an object). The
# walk goes on with the later types; more regex or DBPointer `_id`s than a page holds go out
# over the next runs, as those before them are marked.
_NO_RANGE = frozenset({"minKey", "null", "regex", "dbPointer", "maxKey"})
_NAN = ("NaN",)  # every NaN, double or decimal, is one value to the server
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MILLISECOND = timedelta(milliseconds=1)


def after_id(last: Any) -> dict[str, Any]:
    """`_id` after `last` in BSON order: greater within its type, or any later type."""
    kind = bson_type_alias(last)
    rank = _RANK.get(kind, len(_TYPE_ORDER))
    later = [alias for aliases in _TYPE_ORDER[rank + 1:] for alias in aliases]
    if kind in _NO_RANGE or kind == "unknown":
        branches: list[dict[str, Any]] = []
    elif number_key(last) is _NAN:
        # NaN is the lowest number and `$gt: NaN` matches nothing: go on with every other number.
        branches = [{"_id": {"$gte": float("-inf")}}]
    else:
        branches = [{"_id": {"$gt": last}}]
    branches += [{"_id": {"$type": alias}} for alias in later]
    if not branches:
        return {"_id": {"$in": []}}  # MaxKey: nothing sorts after it
    return branches[0] if len(branches) == 1 else {"$or": branches}


def bson_type_alias(value: Any) -> str:
    """The `$type` alias of a Python value as pymongo stores it (numbers share one)."""
    exact = _ALIAS_OF_EXACT_TYPE.get(type(value))  # the usual types, at one lookup
    if exact is not None:
        return exact
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float, Decimal128, Decimal)):
        return "number"
    if isinstance(value, Code):  # a str subclass: test it first
        return "javascript" if value.scope is None else "javascriptWithScope"
    if isinstance(value, str):
        return "string"
    if isinstance(value, DBRef):  # what pymongo makes of a DBPointer (and of {$ref, $id})
        return "dbPointer"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, (bytes, Binary, uuid.UUID)):
        return "binData"
    if isinstance(value, ObjectId):
        return "objectId"
    if isinstance(value, (datetime, DatetimeMS)):
        return "date"
    if isinstance(value, Timestamp):
        return "timestamp"
    if isinstance(value, (Regex, re.Pattern)):
        return "regex"
    if isinstance(value, MinKey):
        return "minKey"
    if isinstance(value, MaxKey):
        return "maxKey"
    return "unknown"


# Types whose every value has one alias (their subclasses go through the checks above).
_ALIAS_OF_EXACT_TYPE: dict[type, str] = {
    type(None): "null", bool: "bool", int: "number", float: "number", str: "string", dict: "object",
    list: "array", ObjectId: "objectId", datetime: "date", bytes: "binData",
}


def bson_type_rank(value: Any) -> int:
    """Where a value's type sorts in BSON order (unknown types last)."""
    return _RANK.get(bson_type_alias(value), len(_TYPE_ORDER))


def number_key(value: Any) -> Optional[Hashable]:
    """The key under which MongoDB's equality puts a number: an int32, an int64, a double
    and a decimal of one value share it (Python's int, float and Decimal compare and hash
    exactly by value, as the server compares them), every NaN shares one. None for
    anything that is not a number: a bool never is."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _NAN if math.isnan(value) else value
    if isinstance(value, (Decimal128, Decimal)):
        exact = value.to_decimal() if isinstance(value, Decimal128) else value
        return _NAN if exact.is_nan() else exact
    return None


def sort_key(value: Any) -> tuple:
    """A key that sorts values as MongoDB sorts them: by type, then within the type (NaN
    lowest among numbers; dates by milliseconds, also those outside years 1-9999). Values
    of types the sync never compares inside (objects, arrays) sort by their text."""
    rank = bson_type_rank(value)
    number = number_key(value)
    if number is _NAN:
        return (rank, 0)
    if number is not None:
        return (rank, 1, number)
    if isinstance(value, DatetimeMS):
        return (rank, int(value))
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return (rank, (aware - _EPOCH) // _MILLISECOND)
    if isinstance(value, ObjectId):
        return (rank, value.binary)
    if isinstance(value, Timestamp):
        return (rank, value.time, value.inc)
    if isinstance(value, bool):
        return (rank, value)
    if isinstance(value, str):  # code point order is UTF-8 byte order, the server's
        return (rank, str(value))
    if isinstance(value, (bytes, Binary)):
        return (rank, len(value), getattr(value, "subtype", 0), bytes(value))
    return (rank, str(value))


def server_equal(a: Any, b: Any) -> bool:
    """MongoDB's equality of two scalars: numbers by value whatever their type, a bool
    only to a bool (Python says 1 == True; the server never does)."""
    a_number, b_number = number_key(a), number_key(b)
    if a_number is not None or b_number is not None:
        return a_number == b_number
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, Code) or isinstance(b, Code):  # javascript never equals a string
        return bson_type_alias(a) == bson_type_alias(b) and a == b
    return a == b

