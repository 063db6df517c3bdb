"""The CSV format: an ERP export, a header row, then one work order per row.

    order_no;description;status;opened_at;changed_at;deleted
    1042;Replace worn bearing;IN PROGRESS;26/11/2026 14:30;27/11/2026 09:05;N

Semicolon separated, UTF-8 with an optional BOM, CRLF or LF line ends, fields quoted as
Python's csv module (RFC 4180) quotes them. Each row becomes a raw record of the JSON
format's shape, so the core validates and translates it unchanged. The columns are the
field map's (`core/fields.py`: each 1:1 field's `csv_column`, read and written by its kind),
with the status and deleted rules' own columns; today:

    order_no     -> orderNo         an integer when it is ASCII digits, else the text as is
                                    (the core rejects it with its usual reason)
    description  -> summary
    status       -> one flag true   OPEN isPending, IN PROGRESS isActive, DONE isDone,
                                    ON HOLD isOnHold, CANCELLED isCanceled
    opened_at    -> creationDate    DD/MM/YYYY HH:MM in the customer's time zone, handed on as
    changed_at   -> lastUpdateDate  a naive ISO 8601 string ("2026-11-26T14:30:00"): the core
                                    reads it in the zone it is given, the customer's
    deleted      -> isDeleted       Y or N; a deleted order takes changed_at as deletedDate

Row numbers: the header is row 1, so record `index` is row `index + 2`, which is its line
number unless a quoted description spans lines. A row that does not fit (a wrong column
count, an unknown status, a date that is not DD/MM/YYYY HH:MM, deleted not Y/N, an empty
row) is a `CsvRow` carrying its problems; `record_problem` hands them to the caller, who
rejects the row with them. Its bad values are also left where the core would refuse them,
so a caller that skipped the check would still not apply the row.

Outbound, `<order_no>.csv` holds the header and one row, times in the customer's zone at
minute precision (seconds and milliseconds are dropped; a TracOS `deletedAt` that differs
from `updatedAt` has no column and is not written). A local time in the hour a clock
turns back is ambiguous without an offset: it is read as the first of the two. A time the
zone cannot hold (year 10000 in Berlin) skips that order with the reason (CONTRACT 6.4).

Writing (the columns' words, outbound rows, formula cells, samples) is csv_writing.py.

Hostile input (README, "CSV safety"): a cell may be as long as the file (the csv module's
field limit is raised to the file's length); a file still being written (younger than
INBOUND_SETTLE_SECONDS) is left for the next run (a file cut at a row's end looks
complete); rows become records one at a time, so memory follows bytes; cells a
spreadsheet would run as formulas are written with a leading `'`, and read back without it.
"""

from __future__ import annotations

import csv
import io
import re
import threading
from datetime import datetime
from typing import Any, Iterator, Optional
from zoneinfo import ZoneInfo

from tracos_integration.client.formats import ClientFormat, decode_text
from tracos_integration.client.formats.csv_writing import (
    COLUMNS, DELIMITER, FLAG_BY_CSV_STATUS, TIME_FORMAT, cells, from_data, write_rows,
)
from tracos_integration.core.client import STATUS_FLAGS
from tracos_integration.core.fields import (
    CSV_FIELD_BY_COLUMN, DELETED_COLUMN, FLAG, NUMBER, STATUS_COLUMN, TIMESTAMP, Field,
)
from tracos_integration.core.text import short

_TIME_SHAPE = re.compile(r"[0-9]{2}/[0-9]{2}/[0-9]{4} [0-9]{2}:[0-9]{2}")
_ORDER_NO_DIGITS = re.compile(r"[0-9]{1,30}")  # longer is no int64; the core says so for the text


def row_number(index: int) -> int:
    """The CSV row (the header is row 1) of the record at `index`."""
    return index + 2


class CsvRow(dict):
    """A row as a raw client record, with what did not fit its columns (empty when all did)."""

    problems: tuple[str, ...] = ()


class CsvFormat(ClientFormat):
    name = "csv"
    suffix = ".csv"

    def parse(self, data: bytes) -> list[Any]:
        return list(self.records(data))

    def records(self, data: bytes, *, may_be_cut_off: bool = False) -> "CsvRecords":
        """The whole file is checked here, one row at a time, and only its text is kept: rows
        become records when iterated, so memory follows the file's bytes, not its row count
        (CONTRACT 5.8: 2 MiB of blank rows once took 1.4 GB as a list of records)."""
        if may_be_cut_off:  # see _refuse_young
            _refuse_young()
        text = decode_text(data)
        allow_cells_of(len(text))
        rows = _rows(text)
        try:
            header = next(rows, None)
            if header is None:
                raise ValueError(f"the file is empty; expected the header row {DELIMITER.join(COLUMNS)}")
            if [name.strip() for name in header] != list(COLUMNS):
                raise ValueError(
                    f"the header row is {short(DELIMITER.join(header), 120)}; expected the columns "
                    f"{DELIMITER.join(COLUMNS)}, separated by semicolons"
                )
            count = seen = 0
            for row in rows:
                seen += 1
                if row:  # blank lines at the end are not rows
                    count = seen
        except csv.Error as error:
            raise ValueError(f"not valid CSV: {error} at line {rows.line_num}") from None
        return CsvRecords(text, count)

    def record_problem(self, raw: Any) -> Optional[str]:
        problems = getattr(raw, "problems", ())
        return "; ".join(problems) if problems else None

    def locate(self, index: int, reason: str) -> str:
        return f"{self.where(index)}: {reason}"

    def where(self, index: int) -> str:
        return f"row {row_number(index)}"

    def render(self, record: dict[str, Any], timezone: str) -> bytes:
        zone = ZoneInfo(timezone)
        raised = [flag for flag in STATUS_FLAGS if record.get(flag) is True]
        if len(raised) != 1:  # to_client_record raises exactly one; a CSV row holds one status
            raise ValueError(f"work order {record.get('orderNo')} has {len(raised)} status flags raised, not one")
        return write_rows([cells(record, raised[0], bool(record.get("isDeleted")), zone)])


class CsvRecords:
    """A checked CSV file's rows as raw records, made one at a time when iterated."""

    def __init__(self, text: str, count: int) -> None:
        self.text, self.count = text, count

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[CsvRow]:
        rows = _rows(self.text)
        next(rows)  # the header, checked already
        for _, row in zip(range(self.count), rows):
            yield _record(row)


def _rows(text: str) -> Any:
    return csv.reader(io.StringIO(text, newline=""), delimiter=DELIMITER, strict=True)


_FIELD_LIMIT_GUARD = threading.Lock()


def allow_cells_of(length: int) -> None:
    """Let the csv module read a cell as long as `length` characters. Its limit (131,072 by
    default) guards memory against one endless cell; a cell is never longer than the file's
    text, and the file is within INBOUND_MAX_FILE_BYTES, so the file's length is the right
    limit. The limit is one setting for the whole process, so it is only ever raised: a
    reader in another thread never sees it drop mid-file, and other csv readers in this
    process accept cells at most as long as the largest file this process has read."""
    with _FIELD_LIMIT_GUARD:
        if csv.field_size_limit() <= length:
            csv.field_size_limit(length + 1)


def _refuse_young() -> None:
    """A CSV file still being written (younger than the settle time) is never read (CONTRACT
    3, 5.6): a writer that flushes row by row leaves a complete-looking file at every row's
    end, and read then, the rows it writes after the move to processed/ would never reach
    TracOS. The caller leaves it in place for the next run; the sensor launches only for
    settled files anyway."""
    raise ValueError("the file is younger than INBOUND_SETTLE_SECONDS: it may still be being written")


def _record(row: list[str]) -> CsvRow:
    record, problems = CsvRow(), []
    if not row:
        record.problems = ("the row is empty; remove it or fill in its columns",)
        record["orderNo"] = None  # refused by the core as well
        return record
    if len(row) != len(COLUMNS):
        record.problems = (
            f"the row has {len(row)} columns, expected {len(COLUMNS)} ({DELIMITER.join(COLUMNS)}); "
            "quote a description that holds a semicolon",
        )
        record["orderNo"] = _order_no(row[0]) if len(row) > len(COLUMNS) else None
        record["summary"] = None  # refused by the core as well
        return record
    for column, text in zip(COLUMNS, row):
        if column == STATUS_COLUMN:
            problems.extend(_read_status(text, record))
        elif column != DELETED_COLUMN:
            problems.extend(_read_field(CSV_FIELD_BY_COLUMN[column], text, record))
    deleted_text = row[COLUMNS.index(DELETED_COLUMN)].strip()
    if deleted_text in ("Y", "N"):
        record["isDeleted"] = deleted_text == "Y"
        if record["isDeleted"]:
            record["deletedDate"] = record["lastUpdateDate"]
    else:
        problems.append(f"deleted: {_quoted(deleted_text)} is not Y or N")
        record["isDeleted"] = deleted_text  # not a boolean: the core refuses it too
    record.problems = tuple(problems)
    return record


def _read_status(text: str, record: CsvRow) -> list[str]:
    status_text = text.strip()
    flag = FLAG_BY_CSV_STATUS.get(status_text)
    if flag:
        record[flag] = True
        return []
    record["isPending"] = status_text  # not a boolean: the core refuses it too
    return [f"status: {_quoted(status_text)} is not one of {', '.join(FLAG_BY_CSV_STATUS)}"]


def _read_field(field: Field, text: str, record: CsvRow) -> list[str]:
    """One 1:1 field's cell into the record; the problem when it does not fit its kind."""
    if not field.required and not text.strip():
        return []  # an optional field left empty: absent
    problem = None
    if field.kind == NUMBER:
        value: Any = _order_no(text)
    elif field.kind == TIMESTAMP:
        value, problem = _naive_iso(field.csv_column, text)
    elif field.kind == FLAG and text.strip() in ("Y", "N"):
        value = text.strip() == "Y"
    elif field.kind == FLAG:
        value, problem = text, f"{field.csv_column}: {_quoted(text.strip())} is not Y or N"
    else:
        value = from_data(text)
    record[field.client] = value
    return [problem] if problem else []


def _order_no(text: str) -> Any:
    stripped = text.strip()
    return int(stripped) if _ORDER_NO_DIGITS.fullmatch(stripped) else text


def _naive_iso(column: str, text: str) -> tuple[Any, Optional[str]]:
    """DD/MM/YYYY HH:MM as "YYYY-MM-DDTHH:MM:00", or None (never a timestamp to the core:
    the text itself might be ISO 8601) with the problem."""
    stripped = text.strip()
    if _TIME_SHAPE.fullmatch(stripped):
        try:
            return datetime.strptime(stripped, TIME_FORMAT).isoformat(timespec="seconds"), None
        except ValueError:
            return None, f"{column}: {_quoted(stripped)} is not a real date and time"
    return None, f"{column}: {_quoted(stripped)} is not a date and time written DD/MM/YYYY HH:MM"


def _quoted(text: str) -> str:
    return '"' + short(text, 57) + '"'


FORMAT = CsvFormat()
