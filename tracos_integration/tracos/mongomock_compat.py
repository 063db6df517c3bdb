"""mongomock 4.3 with pymongo >= 4.11: `bulk_write` passes `sort=` to mongomock's bulk
builder, which does not accept it (TypeError). We never sort bulk updates, so the shim
drops a `sort=None` and refuses any real sort instead of silently ignoring it."""

from __future__ import annotations

import functools

import mongomock.collection

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


def install() -> None:
    """Idempotent: patch mongomock's bulk builder to accept pymongo's `sort=None`."""
    _builder.add_update = _accept_unsorted(_builder.add_update)
    _builder.add_replace = _accept_unsorted(_builder.add_replace)


install()
