"""The TracOS work order document, as stored in MongoDB."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Mapping, Optional

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError

from tracos_integration.core.client import describe_validation_error
from tracos_integration.core.timestamps import UTC, parse_iso_timestamp

TracosStatus = Literal["pending", "in_progress", "completed", "on_hold", "cancelled"]

# The fields the client format carries; only these decide "unchanged" and "unchanged since read".
MAPPED_FIELDS: tuple[str, ...] = ("number", "title", "status", "createdAt", "updatedAt", "deleted", "deletedAt")
DATE_FIELDS: frozenset[str] = frozenset({"createdAt", "updatedAt", "deletedAt"})

TracosTimestamp = Annotated[datetime, PlainValidator(lambda value: parse_iso_timestamp(value, UTC))]


class TracosWorkOrder(BaseModel):
    """The exported fields of a TracOS document; naive datetimes are UTC, as MongoDB
    stores them. Fields the client never receives (`description`, `isSynced`,
    `syncedAt`, anything else) are not read, so they can never block an export."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    number: int = Field(strict=True, ge=1)
    title: str = Field(strict=True)
    status: TracosStatus
    createdAt: TracosTimestamp
    updatedAt: TracosTimestamp
    deleted: bool = Field(default=False, strict=True)
    deletedAt: Optional[TracosTimestamp] = None


class DocumentUntranslatable(ValueError):
    """A TracOS document that cannot be exported, with the reason."""


def parse_tracos_document(raw: dict[str, Any]) -> TracosWorkOrder:
    if raw.get("deleted", False) is False:  # the file carries deletedDate null: deletedAt is never exported
        raw = {name: value for name, value in raw.items() if name != "deletedAt"}
    try:
        return TracosWorkOrder.model_validate(raw)
    except ValidationError as error:
        raise DocumentUntranslatable(describe_validation_error(error)) from None


# Unsynced = `isSynced` is not true (missing, null, false or any odd value).
NOT_SYNCED: dict[str, Any] = {"isSynced": {"$ne": True}}


def unchanged_since_read(read: Mapping[str, Any]) -> dict[str, Any]:
    """A filter that matches the document only while it is unsynced and its exported
    fields are as read (`$eq`, so stored values are never read as query operators)."""
    condition: dict[str, Any] = {"_id": read["_id"], **NOT_SYNCED}
    for name in MAPPED_FIELDS:
        condition.update(as_read(read, name))
    return condition


def as_read(read: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Matches field `name` only while it holds what was read. `$eq: null` matches a
    missing field too: both mean the same to the sync (no date; nothing to export)."""
    return {name: {"$eq": read.get(name)}}
