"""Text cut for messages: the one way a long value is shortened in reasons, logs and metadata."""

from __future__ import annotations

from typing import Any


def short(value: Any, limit: int = 200) -> str:
    """`value` as text of at most `limit` characters; a longer one is cut and ends in "…"."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def one_line(value: Any, limit: int = 300) -> str:
    """`short`, on one line: every run of whitespace (line breaks too) becomes one space."""
    return short(" ".join(str(value).split()), limit)
