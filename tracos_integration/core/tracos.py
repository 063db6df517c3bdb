"""The TracOS work order document, as stored in MongoDB."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Mapping, Optional

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError, create_model

from tracos_integration.core import fields
from tracos_integration.core.client import describe_validation_error
from tracos_integration.core.fields import DATE_FIELDS, MAPPED_FIELDS  # noqa: F401 (their home before core.fields)
from tracos_integration.core.timestamps import UTC, parse_iso_timestamp

TracosStatus = Literal["pending", "in_progress", "completed", "on_hold", "cancelled"]

TracosTimestamp = Annotated[datetime, PlainValidator(lambda value: parse_iso_timestamp(value, UTC))]

_TRACOS_TYPE_BY_KIND: dict[str, Any] = {
    fields.NUMBER: Annotated[int, Field(strict=True, ge=1)],
    fields.TEXT: Annotated[str, Field(strict=True)],
    fields.TIMESTAMP: TracosTimestamp,
    fields.FLAG: Annotated[bool, Field(strict=True)],
}


def _declared(field: fields.Field) -> tuple[Any, Any]:
    annotation = _TRACOS_TYPE_BY_KIND[field.kind]
    return (annotation, ...) if field.required else (Optional[annotation], None)


class _Exported(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# Its fields (and so its errors) follow the document's order, `MAPPED_FIELDS`: the 1:1
# fields of `core.fields` with the status and deletion rules' fields in their places.
_RULE_FIELDS: dict[str, tuple[Any, Any]] = {
    fields.STATUS_FIELD: (TracosStatus, ...),
    "deleted": (Annotated[bool, Field(strict=True)], False),
    "deletedAt": (Optional[TracosTimestamp], None),
}
TracosWorkOrder = create_model(
    "TracosWorkOrder",
    __doc__="""The exported fields of a TracOS document; naive datetimes are UTC, as MongoDB
    stores them. Fields the client never receives (`description`, `isSynced`, `syncedAt`,
    anything else) are not read, so they can never block an export.""",
    __base__=_Exported,
    __module__=__name__,
    **dict(fields.laid_out(
        lambda field: (field.tracos, _declared(field)),
        [(fields.STATUS_FIELD, _RULE_FIELDS[fields.STATUS_FIELD])],
        [(name, _RULE_FIELDS[name]) for name in fields.DELETION_FIELDS],
    )),
)


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
