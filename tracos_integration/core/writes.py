"""What the sync sends TracOS and what comes back: plain values, so the sync loops and the
TracOS port (tracos_integration/ports.py) share them without the sync importing pymongo."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from tracos_integration.core.text import short

DUPLICATE_KEY = 11000  # the server's error code for a unique index violation


@dataclass
class IndexReport:
    duplicate_numbers: list[Any] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Update:
    """Client fields to write over `read`, the document as the sync read it."""

    fields: Mapping[str, Any]
    read: Mapping[str, Any]


@dataclass(frozen=True)
class WriteRefusal:
    """A write the server refused: its code, message, and for a unique index the key."""

    code: Any
    message: str
    key_pattern: Optional[dict[str, Any]] = None
    key_value: Optional[dict[str, Any]] = None

    @property
    def lost_race_on_number(self) -> bool:
        """Someone inserted this number meanwhile: decide again. mongomock gives no key
        pattern; then the sync re-decides, and a write that still fails is rejected."""
        return self.code == DUPLICATE_KEY and self.key_pattern in (None, {"number": 1}, {"number": -1})

    def describe(self) -> str:
        if self.code == DUPLICATE_KEY and self.key_pattern:
            fields = ", ".join(self.key_pattern)
            return (
                f"TracOS has a unique index on {fields} and another work order already holds "
                f"{short(self.key_value)}; change the record or the other work order"
            )
        return f"TracOS refused the write (code {self.code}: {short(self.message)})"


@dataclass
class WriteResult:
    inserted: set[Any] = field(default_factory=set)
    matched: int = 0
    refused: dict[Any, WriteRefusal] = field(default_factory=dict)  # by number; the rest were applied
