"""The JSON format: one work order object, or an array of them, per file (CONTRACT section 3).

UTF-8 with an optional BOM; NaN and Infinity refused; a key named twice marks its object
(ObjectWithDuplicateKeys), so only that record is rejected."""

from __future__ import annotations

import json
from typing import Any, Optional

from tracos_integration.client.formats import ClientFormat, decode_text
from tracos_integration.client.writing import json_bytes
from tracos_integration.core.text import short
from tracos_integration.core.timestamps import type_name


class JsonFormat(ClientFormat):
    name = "json"
    suffix = ".json"

    def parse(self, data: bytes) -> list[Any]:
        return _parse_records(data)

    def record_problem(self, raw: Any) -> Optional[str]:
        duplicates = getattr(raw, "duplicate_keys", ())
        if duplicates:  # the same words as sync/inbound.py today
            return f"duplicate key {json.dumps(duplicates[0])} in the work order; each key may appear once"
        return None

    def render(self, record: dict[str, Any], timezone: str) -> bytes:
        return json_bytes(record)


def _parse_records(data: bytes) -> list[Any]:
    """The file's work orders: one object or an array of them. ValueError says why not."""
    text = decode_text(data)
    try:
        document = _DECODER.decode(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno}") from None
    except (ValueError, RecursionError) as error:
        raise ValueError(f"not valid JSON: {_short(error)}") from None
    if isinstance(document, dict):
        return [document]
    if isinstance(document, list):
        return document
    raise ValueError(f"expected a work order object or an array of them, found {type_name(document)}")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON number")


class ObjectWithDuplicateKeys(dict):
    """A JSON object that named a key twice (the last value kept, as JSON parsers do). Only
    a work order's own keys matter: the record is rejected, the rest of the file goes on;
    inside an ignored extra field it is harmless."""

    duplicate_keys: tuple[str, ...] = ()


def _note_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) == len(pairs):
        return result
    seen: set[str] = set()
    marked = ObjectWithDuplicateKeys(result)
    marked.duplicate_keys = tuple(key for key, _ in pairs if key in seen or seen.add(key))
    return marked


def _short(error: BaseException) -> str:
    return short("nested too deeply" if isinstance(error, RecursionError) else (str(error) or type(error).__name__))


# One decoder for every file: json.loads with hooks would build one per call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, object_pairs_hook=_note_duplicate_keys)
FORMAT = JsonFormat()
