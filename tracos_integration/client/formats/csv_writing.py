"""CSV rows written: the columns and their words, an outbound file's row in the customer's
zone, cells a spreadsheet would run as formulas written as data (CONTRACT 6.6), and the
sample exports. csv.py reads them back; the field map (core/fields.py) names the columns."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from tracos_integration.core.client import parse_client_record, raised_status_flag
from tracos_integration.core.fields import (
    CSV_COLUMNS, CSV_FIELD_BY_COLUMN, DELETED_COLUMN, STATUS_COLUMN, TIMESTAMP, Field,
)
from tracos_integration.core.samples import sample_batches

COLUMNS: tuple[str, ...] = CSV_COLUMNS  # from the field map, core/fields.py
DELIMITER = ";"
FLAG_BY_CSV_STATUS: dict[str, str] = {
    "OPEN": "isPending",
    "IN PROGRESS": "isActive",
    "DONE": "isDone",
    "ON HOLD": "isOnHold",
    "CANCELLED": "isCanceled",
}
CSV_STATUS_BY_FLAG: dict[str, str] = {flag: status for status, flag in FLAG_BY_CSV_STATUS.items()}
TIME_FORMAT = "%d/%m/%Y %H:%M"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet reads as a formula (OWASP)

def sample_csv_files(count: int, timezone: str, seed: int = 42) -> dict[str, bytes]:
    """`core.samples`' batches as CSV exports, a row per work order: the same orders and files
    as the JSON samples."""
    zone = ZoneInfo(timezone)
    files: dict[str, bytes] = {}
    for batch in sample_batches(count, seed):
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, delimiter=DELIMITER, lineterminator="\r\n")
        writer.writerow(COLUMNS)
        for order in map(parse_client_record, batch):
            flag = raised_status_flag(order) or "isActive"  # no flag reads as in progress (CONTRACT 4)
            writer.writerow(cells(order, flag, order.get("isDeleted", False), zone))
        files[f"sample_{batch[0]['orderNo']:06d}.csv"] = buffer.getvalue().encode("utf-8")
    return files


def cells(values: Any, flag: str, deleted: bool, zone: ZoneInfo) -> list[str]:
    """One CSV row: each column of the field map written from `values` (client fields;
    timestamps as ISO 8601 text or datetimes), the status and deleted rules' own."""
    cells = []
    for column in COLUMNS:
        if column == STATUS_COLUMN:
            cells.append(CSV_STATUS_BY_FLAG[flag])
        elif column == DELETED_COLUMN:
            cells.append("Y" if deleted else "N")
        else:
            cells.append(_cell(CSV_FIELD_BY_COLUMN[column], values.get(CSV_FIELD_BY_COLUMN[column].client), zone))
    return cells


def _cell(field: Field, value: Any, zone: ZoneInfo) -> str:
    if value is None:  # an optional field left out: an empty cell
        return ""
    if field.kind == TIMESTAMP:
        return _local_time(field.client, value, zone)
    if isinstance(value, bool):
        return "Y" if value else "N"
    return str(value)


def _local_time(field: str, iso: Any, zone: ZoneInfo) -> str:
    moment = iso if isinstance(iso, datetime) else datetime.fromisoformat(iso)
    if moment.tzinfo is None:  # to_client_record always writes an offset; a bare time is UTC there
        moment = moment.replace(tzinfo=ZoneInfo("UTC"))
    try:
        return moment.astimezone(zone).strftime(TIME_FORMAT)
    except (OverflowError, ValueError):  # e.g. 9999-12-31T23:30Z is year 10000 in Berlin
        raise ValueError(
            f"{field}: {iso} is outside years 1-9999 in the customer's time zone {zone.key}, "
            "which a CSV date cannot hold; correct the date in TracOS"
        ) from None


def as_data(cell: str) -> str:
    """A cell a spreadsheet would run as a formula, written as data (OWASP's CSV-injection rule,
    CONTRACT 6.6): with a leading `'`. A cell that already begins with quotes before such a
    character gets one more, so `from_data` can undo exactly what was added. No column holds
    a number that may be negative (order_no >= 1, dates, fixed words): no number is altered."""
    return "'" + cell if cell.lstrip("'").startswith(FORMULA_STARTS) else cell


def from_data(cell: str) -> str:
    """`as_data` undone: our own files read back give the text they were written from. A
    customer's own `'=...` also loses one quote; outbound then writes `'=...` again, the same cell."""
    return cell[1:] if cell[:1] == "'" and cell.lstrip("'").startswith(FORMULA_STARTS) else cell


def write_rows(rows: list[list[str]]) -> bytes:
    """The header, then `rows`, each cell written as data."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=DELIMITER, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([as_data(cell) for cell in row])
    return buffer.getvalue().encode("utf-8", "backslashreplace")
