"""Where mongomock 4.3 cannot do what MongoDB does and the project needs it. Each patch
is small, idempotent, and tested in test_tracos_resource.py.

- `bulk_write` with pymongo >= 4.11 passes `sort=` to mongomock's bulk builder, which does
  not accept it (TypeError). We never sort bulk updates, so the shim drops a `sort=None`
  and refuses any real sort instead of silently ignoring it.
- `$type` with "null", "regex" or "timestamp" raises NotImplementedError; the outbound
  pages name every BSON type that sorts after the last `_id`, so they need all three
  (also in the copy of mongomock that litemongo vendors, behind `embedded://`).
- A unique index with a `partialFilterExpression` is checked at build time against every
  document; MongoDB checks only the documents the filter selects (its inserts already do).
"""

from __future__ import annotations

import functools
import re

import mongomock.collection
import mongomock.filtering
from bson import Regex, Timestamp
from mongomock import helpers
from pymongo.errors import DuplicateKeyError

_builder = mongomock.collection.BulkOperationBuilder


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

    @functools.wraps(method)
    def wrapper(self, key_or_list, *args, **kwargs):
        partial = kwargs.get("partialFilterExpression")
        if not (kwargs.get("unique") and partial is not None):
            return method(self, key_or_list, *args, **kwargs)
        keys = [key for key, _ in helpers.create_index_list(key_or_list)]
        seen = set()
        for document in self.find(partial):
            value = tuple(repr(helpers.get_value_by_dot(document, key)) if _has(document, key) else None for key in keys)
            if value in seen:
                raise DuplicateKeyError("E11000 Duplicate Key Error", 11000)
            seen.add(value)
        name = method(self, key_or_list, *args, **{**kwargs, "unique": False})
        self._store.indexes[name]["unique"] = True  # the documents were checked above
        return name

    wrapper._tracos_partial_shim = True
    return wrapper


def _has(document, key):
    try:
        helpers.get_value_by_dot(document, key)
    except KeyError:
        return False
    return True


def install() -> None:
    """Idempotent."""
    _builder.add_update = _accept_unsorted(_builder.add_update)
    _builder.add_replace = _accept_unsorted(_builder.add_replace)
    mongomock.collection.Collection.create_index = _partial_unique_build(mongomock.collection.Collection.create_index)
    for types in _type_maps():
        types["null"] = lambda value: value is None
        types["regex"] = lambda value: isinstance(value, (Regex, re.Pattern))
        types["timestamp"] = lambda value: isinstance(value, Timestamp)


def _type_maps():
    """mongomock's `$type` table, and the copy vendored in litemongo (the embedded store)."""
    yield mongomock.filtering.TYPE_MAP
    try:
        from litemongo._vendor.mongomock import filtering as vendored
    except ImportError:
        return
    yield vendored.TYPE_MAP


install()
