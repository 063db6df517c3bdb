"""The sync rules: which client record wins, what is applied, what goes out (CONTRACT 5-6)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Iterable, Mapping, NamedTuple, Optional

from tracos_integration.core.timestamps import UTC, parse_iso_timestamp
from tracos_integration.core.tracos import DATE_FIELDS, MAPPED_FIELDS


class Decision(str, enum.Enum):
    INSERT = "inserted"
    UPDATE = "updated"
    UNCHANGED = "unchanged"
    STALE = "stale"
    # A later record for an order this run already wrote: it is applied, and one of the
    # two counts as stale (CONTRACT 5.3).
    SUPERSEDE = "superseded"

    @property
    def counted_as(self) -> str:
        return "stale" if self is Decision.SUPERSEDE else self.value


# Tuples, not dataclasses: a run makes one of each per record, and a frozen dataclass costs
# four times as much to make.
class RecordSource(NamedTuple):
    """Where a record came from: its file and its position in that file (ordered so)."""

    file: str
    index: int


class Candidate(NamedTuple):
    """A valid client record, translated to TracOS fields."""

    source: RecordSource
    fields: dict[str, Any]

    @property
    def number(self) -> int:
        return self.fields["number"]

    @property
    def updated_at(self) -> datetime:
        return self.fields["updatedAt"]


def pick_winners(candidates: Iterable[Candidate]) -> tuple[dict[int, Candidate], list[Candidate]]:
    """One record per orderNo: the latest lastUpdateDate wins; a tie goes to the last
    in (file name, position) order. The losers are returned to be counted as stale."""
    winners: dict[int, Candidate] = {}
    superseded: list[Candidate] = []
    for candidate in candidates:
        current = winners.get(candidate.number)
        if current is None:
            winners[candidate.number] = candidate
        elif (candidate.updated_at, candidate.source) > (current.updated_at, current.source):
            winners[candidate.number] = candidate
            superseded.append(current)
        else:
            superseded.append(candidate)
    return winners, superseded


def decide(
    fields: Mapping[str, Any], stored: Optional[Mapping[str, Any]], *, written_this_run: bool = False
) -> Decision:
    """Insert a new number; update only when the client's lastUpdateDate is later.

    `written_this_run`: the stored document came from an earlier record of this same run,
    read before this one in (file name, position) order, so a tie goes to this record."""
    if stored is None:
        return Decision.INSERT
    # Only a stored date is a date: a string that looks like one is "not a date" (CONTRACT
    # 5.2), and MongoDB would not compare it with a date either.
    raw_updated = stored.get("updatedAt")
    stored_updated = _comparable(raw_updated) if isinstance(raw_updated, datetime) else None
    if written_this_run:
        if isinstance(stored_updated, datetime) and fields["updatedAt"] < stored_updated:
            return Decision.STALE
        return Decision.STALE if same_content(fields, stored) else Decision.SUPERSEDE
    if not isinstance(stored_updated, datetime) or fields["updatedAt"] > stored_updated:
        return Decision.UPDATE
    if same_content(fields, stored):
        return Decision.UNCHANGED
    return Decision.STALE


def same_content(fields: Mapping[str, Any], stored: Mapping[str, Any]) -> bool:
    """Whether TracOS already holds these mapped fields (dates compared in UTC milliseconds)."""
    return all(
        _comparable(fields.get(name), name) == _comparable(stored.get(name), name) for name in MAPPED_FIELDS
    )


def _comparable(value: Any, name: str = "updatedAt") -> Any:
    if name in DATE_FIELDS and isinstance(value, (datetime, str)):
        try:
            return parse_iso_timestamp(value, UTC)
        except ValueError:
            return value
    return value
