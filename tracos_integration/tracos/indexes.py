"""TracOS's indexes: a partial unique index on `number` and the outbound index.

Read `index_information()` first and accept an equivalent index under any name: the
server refuses a key pattern that exists under another name (code 85/86). An index the
sync may not create (code 13) or that clashes is a warning, never a failed run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError, OperationFailure

from tracos_integration.tracos.retry import Retrier

UNIQUE_NUMBER_INDEX = "number_unique"
NUMBER_LOOKUP_INDEX = "number_lookup"
UNSYNCED_INDEX = "isSynced_id"
NUMBER_KEY = [("number", ASCENDING)]
UNSYNCED_KEY = [("isSynced", ASCENDING), ("_id", ASCENDING)]
# Partial, so documents without a numeric `number` (which the sync never writes) do not
# block the build: a plain unique index treats every missing `number` as a duplicate null.
NUMERIC_NUMBER: dict[str, Any] = {"number": {"$type": "number"}}

DUPLICATE_KEY = 11000
UNAUTHORIZED = 13
INDEX_CONFLICTS = (85, 86)  # IndexOptionsConflict, IndexKeySpecsConflict


@dataclass
class IndexReport:
    duplicate_numbers: list[Any] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def ensure_indexes(collection: Any, retrier: Retrier) -> IndexReport:
    """A partial unique index on `number`, and the outbound index. Existing equivalent
    indexes are accepted under any name. If TracOS holds duplicate numbers the unique
    index cannot exist yet: report them, and keep a plain index so lookups never scan."""
    report = IndexReport()
    existing = _existing_indexes(collection, retrier, report)
    _create(collection, retrier, report, existing, UNSYNCED_KEY, UNSYNCED_INDEX)
    if any(_rules_out_duplicate_numbers(key, info) for key, info in existing.values()):
        return report
    try:
        _create(collection, retrier, report, existing, NUMBER_KEY, UNIQUE_NUMBER_INDEX, unique=True,
                partialFilterExpression=NUMERIC_NUMBER)
    except (DuplicateKeyError, OperationFailure) as error:
        if error.code not in (DUPLICATE_KEY, 11001):
            raise
        report.duplicate_numbers = duplicate_numbers(collection, retrier)
        if not any(key[:1] == NUMBER_KEY for key, _ in existing.values()):
            _create(collection, retrier, report, existing, NUMBER_KEY, NUMBER_LOOKUP_INDEX)
    return report


def has_unique_numbers(collection: Any, retrier: Retrier) -> bool:
    """Whether a unique index on `number` rules out duplicate numbers."""
    existing = _existing_indexes(collection, retrier, IndexReport())
    return any(_rules_out_duplicate_numbers(key, info) for key, info in existing.values())


def _existing_indexes(collection: Any, retrier: Retrier, report: IndexReport) -> dict[str, tuple[list[tuple[str, Any]], dict[str, Any]]]:
    try:
        information = retrier.call(collection.index_information, "list TracOS's indexes")
    except OperationFailure as error:
        if error.code != UNAUTHORIZED:
            raise
        report.warnings.append(f"not allowed to list TracOS's indexes (code 13); assuming none: {short(str(error))}")
        return {}
    return {name: ([tuple(part) for part in info["key"]], info) for name, info in information.items()}


def _create(collection: Any, retrier: Retrier, report: IndexReport, existing: dict, key: list[tuple[str, Any]], name: str, **options: Any) -> None:
    """Create an index unless an equivalent one exists. The server refuses a key
    pattern that exists under another name (code 85/86) and an index build without
    the privilege (code 13): both are warnings, since the sync still works."""
    wanted = {"unique": options.get("unique", False), "partial": options.get("partialFilterExpression")}
    for existing_key, info in existing.values():
        if existing_key == key and {"unique": bool(info.get("unique")), "partial": info.get("partialFilterExpression")} == wanted:
            return
    try:
        # An index build can take long on a big collection: its own budget, and a
        # timeout is reported as such, not as "unreachable".
        retrier.call(
            lambda: collection.create_index(key, name=name, **options), f"create the index {name}",
            budget_seconds=retrier.long_operation_budget_seconds,
        )
    except OperationFailure as error:
        if error.code in INDEX_CONFLICTS:
            report.warnings.append(
                f"TracOS already has an index on {_key_text(key)} with other options, so {name} was not created "
                f"(code {error.code}: {short(str(error))}); the existing index is used"
            )
        elif error.code == UNAUTHORIZED:
            report.warnings.append(
                f"not allowed to create the index {name} on {_key_text(key)} (code 13); ask a database "
                f"administrator to create it (createIndex {_key_text(key)} {options or ''})"
            )
        else:
            raise


def duplicate_numbers(collection: Any, retrier: Retrier) -> list[Any]:
    pipeline = [
        {"$match": NUMERIC_NUMBER},
        {"$group": {"_id": "$number", "count": {"$sum": 1}}},
        {"$match": {"count": {"$gt": 1}}},
        {"$sort": {"_id": 1}},
    ]
    rows = retrier.call(lambda: list(collection.aggregate(pipeline)), "look for duplicate numbers")
    return [row["_id"] for row in rows]


def _rules_out_duplicate_numbers(key: list[tuple[str, Any]], info: Any) -> bool:
    """A unique index on `number` alone, over every numeric `number`: one with another partial
    filter (say `{deleted: false}`) still lets two documents share a number."""
    return key == NUMBER_KEY and bool(info.get("unique")) and info.get("partialFilterExpression") in (None, NUMERIC_NUMBER)


def _key_text(key: list[tuple[str, Any]]) -> str:
    return "{" + ", ".join(f"{name}: {direction}" for name, direction in key) + "}"


def short(value: Any, limit: int = 200) -> str:
    """A server message cut to one readable length (the queries use it too)."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
