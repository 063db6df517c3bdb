"""Small factories for test data: a client record, a TracOS document, a dropped file."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

UTC = timezone.utc


def client_order(order_no: int = 1, **overrides: Any) -> dict[str, Any]:
    record = {
        "orderNo": order_no,
        "summary": f"Work order {order_no}",
        "creationDate": "2024-03-01T10:00:00.000Z",
        "lastUpdateDate": "2024-03-02T10:00:00.000Z",
    }
    record.update(overrides)
    return {key: value for key, value in record.items() if value is not _ABSENT}


def tracos_document(number: int = 1, **overrides: Any) -> dict[str, Any]:
    document = {
        "number": number,
        "title": f"Work order {number}",
        "description": "Written in TracOS",
        "status": "pending",
        "createdAt": datetime(2024, 3, 1, 10, tzinfo=UTC),
        "updatedAt": datetime(2024, 3, 2, 10, tzinfo=UTC),
        "deleted": False,
        "deletedAt": None,
        "isSynced": False,
        "syncedAt": None,
    }
    document.update(overrides)
    return {key: value for key, value in document.items() if value is not _ABSENT}


class _Absent:
    def __repr__(self) -> str:
        return "ABSENT"


_ABSENT = _Absent()
ABSENT: Any = _ABSENT  # pass as a value to leave a field out


def drop(folder: Path, name: str, content: Any) -> Path:
    """Write a client file: JSON for objects and lists, raw for str/bytes."""
    path = folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_text(json.dumps(content), encoding="utf-8")
    return path


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))
