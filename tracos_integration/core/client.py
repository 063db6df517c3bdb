"""The client's work order, as the customer's ERP writes it (CONTRACT section 3)."""

from __future__ import annotations

import functools
import json
from datetime import datetime, tzinfo
from typing import Annotated, Any, Optional, Sequence
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, Field, PlainValidator, TypeAdapter, ValidationError
from typing_extensions import NotRequired, Required, TypedDict

from tracos_integration.core import fields
from tracos_integration.core.text import short
from tracos_integration.core.timestamps import UTC, parse_iso_timestamp, type_name

STATUS_FLAGS: tuple[str, ...] = ("isPending", "isActive", "isDone", "isOnHold", "isCanceled")
MAX_ORDER_NO = 2**63 - 1  # MongoDB stores integers as int64


def storable_text(value: str) -> str:
    """Text MongoDB can store. JSON may escape half of a UTF-16 surrogate pair ("\\ud800");
    Python reads it as a lone surrogate, which is not Unicode text: BSON cannot encode it
    (UTF-8 has no form for it), and the write would fail for the whole bulk."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        bad = value[error.start]
        raise ValueError(
            f"holds a lone surrogate \\u{ord(bad):04x} at character {error.start}, which is not valid "
            "Unicode text and cannot be stored in TracOS; send the character's full UTF-16 pair or UTF-8 text"
        ) from None
    return value


StrictFlag = Annotated[bool, Field(strict=True)]
StoredText = Annotated[str, Field(strict=True), AfterValidator(storable_text)]


def _record_type(zone: tzinfo) -> Any:
    """One validated client work order, timestamps already UTC (those without an offset read
    in `zone`): a dict holding the keys the record had. A TypedDict, not a model: validating
    one costs a quarter as much, and a run validates every record it reads. Its 1:1 fields
    come from `core.fields`, in the table's order (so do its errors), then the status flags
    and deletion; absent flags read as false."""
    timestamp = Annotated[datetime, PlainValidator(lambda value: parse_iso_timestamp(value, zone))]
    type_by_kind = {
        fields.NUMBER: Annotated[int, Field(strict=True, ge=1, le=MAX_ORDER_NO)],
        fields.TEXT: StoredText,
        fields.TIMESTAMP: timestamp,
        fields.FLAG: StrictFlag,
    }

    def declared(field: fields.Field) -> Any:
        annotation = type_by_kind[field.kind]
        return Required[annotation] if field.required else NotRequired[Optional[annotation]]

    return TypedDict(  # type: ignore[misc]
        "ClientWorkOrder",
        {
            **{field.client: declared(field) for field in fields.FIELDS},
            **{flag: NotRequired[StrictFlag] for flag in STATUS_FLAGS},
            "isDeleted": NotRequired[StrictFlag],
            "deletedDate": NotRequired[Optional[timestamp]],
        },
    )


ClientWorkOrder = _record_type(UTC)


@functools.lru_cache(maxsize=128)
def _validator(zone: tzinfo) -> TypeAdapter:
    """The record's validator for one zone (one per customer zone a process meets), the zone
    bound in: pydantic's validation context would cost as much as the rest of the record."""
    return TypeAdapter(_record_type(zone))  # extra keys are ignored


class RecordRejected(ValueError):
    """A client record that cannot be applied, with a reason a person can act on."""


def parse_client_record(raw: Any, client_timezone: ZoneInfo | Any = UTC) -> ClientWorkOrder:
    """Validate one raw JSON value as a client work order, or raise RecordRejected."""
    if not isinstance(raw, dict):
        raise RecordRejected(f"expected a work order object, got {type_name(raw)}")
    try:
        order = _validator(client_timezone).validate_python(raw)
    except ValidationError as error:
        raise RecordRejected(describe_validation_error(error)) from None
    # The rules across fields, once each field is valid.
    raised = [flag for flag in STATUS_FLAGS if order.get(flag)]
    if len(raised) > 1:
        raise RecordRejected(f"contradictory status: {', '.join(raised)} are all true; set at most one status flag")
    if order.get("deletedDate") is not None and not order.get("isDeleted"):
        raise RecordRejected("deletedDate is set but isDeleted is false; set isDeleted to true or clear deletedDate")
    return order


def raised_status_flag(order: ClientWorkOrder) -> Optional[str]:
    """The one status flag a validated order raises, or None."""
    for flag in STATUS_FLAGS:
        if order.get(flag):
            return flag
    return None


def describe_validation_error(error: ValidationError, *, noun: str = "field", expected: Sequence[str] = (),
                              first_only: bool = False) -> str:
    """The one wording of a pydantic error (work orders, TracOS documents, the customers file):
    per problem the field, what is wrong and the offending value. `noun` is what the input calls
    a field (a YAML file: "key"); `expected`, the names listed after a missing or unknown one;
    `first_only` for a file fixed one problem at a time."""
    problems = []
    for item in error.errors(include_url=False):
        field = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] in ("missing", "extra_forbidden"):
            message = f"required {noun} is missing" if item["type"] == "missing" else f"unknown {noun}"
            message += f"; the {noun}s are {', '.join(expected)}" if expected else ""
        elif item["type"] not in ("value_error", "assertion_error") and "input" in item:
            message = f"{message[:1].lower()}{message[1:]} (got {_describe_input(item['input'])})"
        problems.append(f"{field}: {message}" if field else message)
        if first_only:
            break
    return "; ".join(problems)


def _describe_input(value: Any) -> str:
    """The offending value as JSON writes it (null, true, 1.5, "text"), shortened; an object,
    an array or a value JSON has no form for is named by its kind."""
    if value is None or isinstance(value, (bool, int, float, str)):
        try:
            text = json.dumps(value)  # ASCII only: a lone surrogate shows as \ud800
        except ValueError:  # an integer too long to print
            return type_name(value)
        return short(text, 60)
    return type_name(value)
