"""Translation between the client format and TracOS documents (CONTRACT section 4)."""

from __future__ import annotations

from typing import Any

from tracos_integration.core.client import STATUS_FLAGS, ClientWorkOrder
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
    """The TracOS fields a client work order sets (never `description` or sync state)."""
    flag = order.raised_status_flag
    deleted_at = None
    if order.isDeleted:
        deleted_at = order.deletedDate or order.lastUpdateDate
    return {
        "number": order.orderNo,
        "title": order.summary,
        "status": STATUS_BY_FLAG[flag] if flag else STATUS_WHEN_NO_FLAG,
        "createdAt": order.creationDate,
        "updatedAt": order.lastUpdateDate,
        "deleted": order.isDeleted,
        "deletedAt": deleted_at,
    }


def to_client_record(document: TracosWorkOrder) -> dict[str, Any]:
    """The outbound client record: every client field, exactly one status flag true."""
    raised = FLAG_BY_STATUS[document.status]
    deleted_at = None
    if document.deleted:
        deleted_at = document.deletedAt or document.updatedAt
    return {
        "orderNo": document.number,
        "summary": document.title,
        "creationDate": format_timestamp(document.createdAt),
        "lastUpdateDate": format_timestamp(document.updatedAt),
        **{flag: flag == raised for flag in STATUS_FLAGS},
        "isDeleted": document.deleted,
        "deletedDate": format_timestamp(deleted_at) if deleted_at else None,
        "isSynced": True,
    }
