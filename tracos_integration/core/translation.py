"""Translation between the client format and TracOS documents (CONTRACT section 4)."""

from __future__ import annotations

from typing import Any

from tracos_integration.core.client import STATUS_FLAGS, ClientWorkOrder, raised_status_flag
from tracos_integration.core.fields import FIELDS, MAPPED_FIELDS, STATUS_FIELD, TIMESTAMP, Field
from tracos_integration.core.timestamps import format_timestamp
from tracos_integration.core.tracos import TracosWorkOrder

STATUS_BY_FLAG: dict[str, str] = {
    "isPending": "pending",
    "isActive": "in_progress",
    "isDone": "completed",
    "isOnHold": "on_hold",
    "isCanceled": "cancelled",
}
FLAG_BY_STATUS: dict[str, str] = {status: flag for flag, status in STATUS_BY_FLAG.items()}
STATUS_WHEN_NO_FLAG = "in_progress"


def to_tracos_fields(order: ClientWorkOrder) -> dict[str, Any]:
    """The TracOS fields a client work order sets (never `description` or sync state), in
    the document's order: the 1:1 fields of `core.fields`, the status and deletion rules."""
    flag = raised_status_flag(order)
    deleted = order.get("isDeleted", False)
    rules = {
        STATUS_FIELD: STATUS_BY_FLAG[flag] if flag else STATUS_WHEN_NO_FLAG,
        "deleted": deleted,
        "deletedAt": (order.get("deletedDate") or order["lastUpdateDate"]) if deleted else None,
    }
    return {tracos: order.get(client) if client else rules[tracos] for tracos, client in _LAYOUT}


# (TracOS field, the client key it is copied from, or "" for a rule's field), in MAPPED_FIELDS' order.
_CLIENT_KEY_BY_TRACOS: dict[str, str] = {field.tracos: field.client for field in FIELDS}
_LAYOUT: tuple[tuple[str, str], ...] = tuple((name, _CLIENT_KEY_BY_TRACOS.get(name, "")) for name in MAPPED_FIELDS)


def to_client_record(document: TracosWorkOrder) -> dict[str, Any]:
    """The outbound client record: every client field, exactly one status flag true."""
    raised = FLAG_BY_STATUS[document.status]
    deleted_at = None
    if document.deleted:
        deleted_at = document.deletedAt or document.updatedAt
    return {
        **{field.client: _client_value(field, getattr(document, field.tracos)) for field in FIELDS},
        **{flag: flag == raised for flag in STATUS_FLAGS},
        "isDeleted": document.deleted,
        "deletedDate": format_timestamp(deleted_at) if deleted_at else None,
        "isSynced": True,
    }


def _client_value(field: Field, value: Any) -> Any:
    """A TracOS value as the client's JSON holds it: timestamps as ISO 8601 text."""
    return format_timestamp(value) if field.kind == TIMESTAMP and value is not None else value
