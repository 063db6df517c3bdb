"""Where mongomock 4.3 cannot do what MongoDB does and the project needs it. Each patch
is small, idempotent, and tested in test_tracos_resource.py and test_bson_order.py. Nothing
is patched at import: `apply()` runs when a `mongomock://` store is first opened (and from
the tests that use mongomock directly), `apply_to(filtering)` when an `embedded://` one is.

- `bulk_write` with pymongo >= 4.11 passes `sort=` to mongomock's bulk builder, which does
  not accept it (TypeError). We never sort bulk updates, so the shim drops a `sort=None`
  and refuses any real sort instead of silently ignoring it.
- `$type` with "null", "regex" or "timestamp" raises NotImplementedError; the outbound
  pages name every BSON type that sorts after the last `_id`, so they need all three
  (also in the copy of mongomock that litemongo vendors, behind `embedded://`).
- A unique index with a `partialFilterExpression` is checked at build time against every
  document; MongoDB checks only the documents the filter selects (its inserts already do).
- Equality is Python's: `1 == True`, so `{isSynced: {$ne: true}}` never finds `isSynced: 1`,
  and a decimal never equals an int. `$eq`, `$ne`, `$in`, `$nin` and a plain `{field: value}`
  compare as the server does (`bson_order.server_equal`): a bool equals only a bool,
  numbers equal by value whatever their type, NaN equals NaN.
- Sorting and `$gt`-style comparisons do not know decimals, javascript (a `str` subclass,
  sorted as a string), timestamps, MinKey/MaxKey or dates outside years 1-9999 (DatetimeMS),
  and put NaN anywhere: they follow the server's type order (`bson_order.sort_key`), NaN
  lowest when sorting, and a comparison with NaN matches nothing (`$gt: NaN`).
"""

from __future__ import annotations

import functools
import operator
import re
import threading
from types import ModuleType

from bson import Code, Regex, Timestamp
from pymongo.errors import DuplicateKeyError

from tracos_integration.core.bson_order import bson_type_alias, number_key, server_equal, sort_key


def _accept_unsorted(method):
    if getattr(method, "_tracos_sort_shim", False):
        return method

    @functools.wraps(method)
    def wrapper(self, *args, sort=None, **kwargs):
        if sort is not None:
            raise NotImplementedError("mongomock cannot sort a bulk update; the project never asks it to")
        return method(self, *args, **kwargs)

    wrapper._tracos_sort_shim = True
    return wrapper


def _partial_unique_build(method):
    if getattr(method, "_tracos_partial_shim", False):
        return method

    from mongomock import helpers

    @functools.wraps(method)
    def wrapper(self, key_or_list, *args, **kwargs):
        partial = kwargs.get("partialFilterExpression")
        if not (kwargs.get("unique") and partial is not None):
            return method(self, key_or_list, *args, **kwargs)
        keys = [key for key, _ in helpers.create_index_list(key_or_list)]
        seen = set()
        for document in self.find(partial):
            value = tuple(_index_key(helpers.get_value_by_dot(document, key)) if _has(document, key) else None for key in keys)
            if value in seen:
                raise DuplicateKeyError("E11000 Duplicate Key Error", 11000)
            seen.add(value)
        name = method(self, key_or_list, *args, **{**kwargs, "unique": False})
        self._store.indexes[name]["unique"] = True  # the documents were checked above
        return name

    wrapper._tracos_partial_shim = True
    return wrapper


def _index_key(value):
    """Equal index keys as the server sees them: numbers by value (1, 1.0 and an int64 1
    clash), everything else by its text."""
    number = number_key(value)
    return ("number", number) if number is not None else repr(value)


def _has(document, key):
    from mongomock import helpers

    try:
        helpers.get_value_by_dot(document, key)
    except KeyError:
        return False
    return True


_applied = False
_GUARD = threading.RLock()  # two stores opened at once patch once, and neither sees half a patch


def apply() -> None:
    """Patches mongomock itself. Idempotent."""
    global _applied
    with _GUARD:
        if _applied:
            return
        import mongomock.collection
        import mongomock.filtering

        builder = mongomock.collection.BulkOperationBuilder
        builder.add_update = _accept_unsorted(builder.add_update)
        builder.add_replace = _accept_unsorted(builder.add_replace)
        collection = mongomock.collection.Collection
        collection.create_index = _partial_unique_build(collection.create_index)
        apply_to(mongomock.filtering)
        _applied = True


def apply_to(filtering: ModuleType) -> None:
    """Patches one copy of mongomock's query matching (mongomock's, or the one litemongo
    vendors). Idempotent."""
    with _GUARD:
        if getattr(filtering, "_tracos_server_equality", False):
            return
        _patch_types(filtering)
        _compare_as_the_server(filtering)
        filtering._tracos_server_equality = True


def _patch_types(filtering: ModuleType) -> None:
    types = filtering.TYPE_MAP
    types["null"] = lambda value: value is None
    types["regex"] = lambda value: isinstance(value, (Regex, re.Pattern))
    types["timestamp"] = lambda value: isinstance(value, Timestamp)
    types["string"] = lambda value: isinstance(value, str) and not isinstance(value, Code)
    types["date"] = lambda value: bson_type_alias(value) == "date"
    for alias in ("javascript", "javascriptWithScope", "minKey", "maxKey"):
        types[alias] = lambda value, alias=alias: bson_type_alias(value) == alias
    for alias in ("symbol", "dbPointer", "undefined"):  # pymongo reads these as str, DBRef, None
        types[alias] = lambda value: False


def _compare_as_the_server(filtering) -> None:
    nothing = filtering.NOTHING

    def equal(doc_value, query_value):
        if doc_value is nothing:
            return query_value is None
        return server_equal(doc_value, query_value)

    def is_in(doc_value, query_values):
        if not isinstance(query_values, (list, tuple)):
            raise filtering.OperationFailure("$in needs an array")
        if doc_value is nothing:
            return any(value is None for value in query_values)
        values = doc_value if isinstance(doc_value, (list, tuple)) else [doc_value]
        for query_value in query_values:
            if isinstance(query_value, filtering._RE_TYPES):
                if filtering._regex(doc_value, query_value):
                    return True
            elif any(server_equal(value, query_value) for value in values):
                return True
        return False

    operators = filtering._filterer_inst._operator_map
    operators["$eq"] = filtering._list_expand(equal)
    operators["$ne"] = filtering._list_expand(lambda dv, sv: not equal(dv, sv), negative=True)
    operators["$in"] = is_in
    operators["$nin"] = lambda dv, sv: not is_in(dv, sv)

    apply = filtering._Filterer.apply

    @functools.wraps(apply)
    def apply_with_server_equality(self, search_filter, document, *args, **kwargs):
        if isinstance(search_filter, dict) and any(_plain_scalar(k, v) for k, v in search_filter.items()):
            search_filter = {k: {"$eq": v} if _plain_scalar(k, v) else v for k, v in search_filter.items()}
        return apply(self, search_filter, document, *args, **kwargs)

    filtering._Filterer.apply = apply_with_server_equality

    compare_type = filtering._get_compare_type
    filtering._get_compare_type = lambda value: (
        _SERVER_RANKS[bson_type_alias(value)] if bson_type_alias(value) in _SERVER_RANKS else compare_type(value)
    )
    compare = filtering.bson_compare

    def bson_compare(op, a, b, can_compare_types=True):
        if _ordered_here(a) and _ordered_here(b) and sort_key(a)[0] == sort_key(b)[0]:
            if not can_compare_types and (number_key(a) == ("NaN",) or number_key(b) == ("NaN",)):
                # a query comparison with NaN: `$gt: NaN` matches nothing, `$gte: NaN` only NaN
                return op in (operator.ge, operator.le) and number_key(a) == number_key(b)
            return op(sort_key(a), sort_key(b))
        return compare(op, a, b, can_compare_types)

    filtering.bson_compare = bson_compare


# The server's canonical type numbers (bsontypes.h) for what mongomock gets wrong or lacks.
_SERVER_RANKS = {"number": 10, "date": 45, "timestamp": 47, "javascript": 60, "javascriptWithScope": 65,
                 "minKey": -1, "maxKey": 127}


def _ordered_here(value) -> bool:
    """Scalars whose order `sort_key` knows better than mongomock."""
    return bson_type_alias(value) in ("number", "date", "timestamp", "javascript", "javascriptWithScope",
                                      "string", "minKey", "maxKey")


def _plain_scalar(key, value) -> bool:
    """`{field: value}` with a scalar value: mongomock compares it with Python's `==`."""
    if key.startswith("$") or value is None or isinstance(value, (dict, list, tuple, re.Pattern, Regex)):
        return False
    return True
