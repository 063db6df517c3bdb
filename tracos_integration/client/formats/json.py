"""The JSON format: one work order object, or an array of them, per file (CONTRACT section 3).

Parsing is `client/reading.py`'s, unchanged: UTF-8 with an optional BOM, NaN and Infinity
refused, a key named twice marks its object (ObjectWithDuplicateKeys)."""

from __future__ import annotations

import json
from typing import Any, Optional

from tracos_integration.client.formats import ClientFormat


class JsonFormat(ClientFormat):
    name = "json"
    suffix = ".json"

    def parse(self, data: bytes) -> list[Any]:
        # Imported here, not at the top: reading.py may import this package to pick a
        # customer's format, and a top-level import each way would be a cycle.
        from tracos_integration.client.reading import _parse_records

        return _parse_records(data)

    def record_problem(self, raw: Any) -> Optional[str]:
        duplicates = getattr(raw, "duplicate_keys", ())
        if duplicates:  # the same words as sync/inbound.py today
            return f"duplicate key {json.dumps(duplicates[0])} in the work order; each key may appear once"
        return None

    def render(self, record: dict[str, Any], timezone: str) -> bytes:
        # As client/writing.py writes outbound files. backslashreplace: a lone surrogate cannot
        # reach here (records are validated), but if one did, the file is still written, escaped.
        return (json.dumps(record, ensure_ascii=False, indent=2) + "\n").encode("utf-8", "backslashreplace")


FORMAT = JsonFormat()
