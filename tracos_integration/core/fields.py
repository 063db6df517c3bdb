"""The field map: every client field that is one TracOS field, one row each (CONTRACT 3-4).

The row drives the client model, the TracOS model, translation both ways, the CSV column,
what the sync reads of a document (projections) and what its mark checks ("unchanged
since read"). A new 1:1 field is one row here and its tests.

Two parts of the format are not 1:1 and stay explicit rules (`core.translation`):
the five status flags <-> `status`, and `isDeleted`/`deletedDate` <-> `deleted`/`deletedAt`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

# What a field holds; each model and format knows how to read and write each kind.
NUMBER = "number"  # a whole number from 1 to 2**63-1 (MongoDB stores int64)
TEXT = "text"  # Unicode text MongoDB can store
TIMESTAMP = "timestamp"  # ISO 8601 in client files; a UTC date in TracOS; DD/MM/YYYY HH:MM in CSV
FLAG = "flag"  # true or false; Y or N in CSV


@dataclass(frozen=True)
class Field:
    client: str  # the key in the client's JSON record
    tracos: str  # the field of the TracOS document
    kind: str
    required: bool  # optional fields default to null (absent), an empty CSV cell too
    csv_column: str


FIELDS: tuple[Field, ...] = (
    Field("orderNo", "number", NUMBER, required=True, csv_column="order_no"),
    Field("summary", "title", TEXT, required=True, csv_column="description"),
    Field("creationDate", "createdAt", TIMESTAMP, required=True, csv_column="opened_at"),
    Field("lastUpdateDate", "updatedAt", TIMESTAMP, required=True, csv_column="changed_at"),
)

# The rules' own names. In the TracOS document and the CSV row the status sits after the
# field below (where the ERP export and TracOS have it) and deletion comes last; in the
# client record both come after every 1:1 field.
STATUS_FOLLOWS = "summary"
STATUS_FIELD, STATUS_COLUMN = "status", "status"
DELETION_FIELDS = ("deleted", "deletedAt")
DELETED_COLUMN = "deleted"


def laid_out(value_of: Any, status: Sequence[Any], deletion: Sequence[Any]) -> tuple[Any, ...]:
    """The 1:1 fields' `value_of(field)`, with the status rule's items and the deletion
    rule's items in their places: the order of the TracOS document and of the CSV row."""
    laid: list[Any] = []
    for field in FIELDS:
        laid.append(value_of(field))
        if field.client == STATUS_FOLLOWS:
            laid.extend(status)
    return (*laid, *deletion)


# The fields the client format carries; only these decide "unchanged" and "unchanged since read".
MAPPED_FIELDS: tuple[str, ...] = laid_out(lambda field: field.tracos, (STATUS_FIELD,), DELETION_FIELDS)
DATE_FIELDS: frozenset[str] = frozenset(
    {field.tracos for field in FIELDS if field.kind == TIMESTAMP} | {"deletedAt"}
)
CSV_COLUMNS: tuple[str, ...] = laid_out(lambda field: field.csv_column, (STATUS_COLUMN,), (DELETED_COLUMN,))
CSV_FIELD_BY_COLUMN: dict[str, Field] = {field.csv_column: field for field in FIELDS}
