"""TracOS's indexes: a partial unique index on `number` and the outbound index.

Read `index_information()` first and accept an equivalent index under any name: the
server refuses a key pattern that exists under another name (code 85/86). An index the
sync may not create (code 13) or that clashes is a warning, never a failed run; so is a
build that outruns its budget (the server finishes it).
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError, OperationFailure

from tracos_integration.core.text import short
from tracos_integration.core.writes import DUPLICATE_KEY, IndexReport  # noqa: F401 (re-exported)
from tracos_integration.tracos.retry import Retrier, TracosTimedOut

UNIQUE_NUMBER_INDEX = "number_unique"
# The name of the unique index when an earlier version's `number_unique` (filter `$type`)
# still stands: that one is dropped once this one is built.
REPLACEMENT_UNIQUE_NUMBER_INDEX = "number_unique_v2"
NUMBER_LOOKUP_INDEX = "number_lookup"
UNSYNCED_INDEX = "isSynced_id"
NUMBER_KEY = [("number", ASCENDING)]
UNSYNCED_KEY = [("isSynced", ASCENDING), ("_id", ASCENDING)]
# Partial, so documents without a numeric `number` (which the sync never writes) do not
# block the build: a plain unique index treats every missing `number` as a duplicate null.
# A comparison, not `{$type: "number"}`: the planner uses a partial index only when it can
# prove the query implies the filter, and it proves that for equality, `$in` and ranges
# against a comparison of the same type bracket, never for `$type`. -Infinity is the lowest
# number: every number but NaN is indexed, whatever its type (int32, int64, double, decimal).
NUMERIC_NUMBER: dict[str, Any] = {"number": {"$gte": float("-inf")}}
# The filter of earlier versions: it rules out duplicates too, but no query by number can use it.
TYPED_NUMBER: dict[str, Any] = {"number": {"$type": "number"}}

UNAUTHORIZED = 13
INDEX_CONFLICTS = (85, 86)  # IndexOptionsConflict, IndexKeySpecsConflict


def ensure_indexes(collection: Any, retrier: Retrier) -> IndexReport:
    """A partial unique index on `number` every query by number can use, and the outbound
    index. Existing equivalent indexes are accepted under any name. If TracOS holds duplicate
    numbers the unique index cannot exist yet: report them, and keep a plain index so lookups
    never scan."""
    report = IndexReport()
    existing = _existing_indexes(collection, retrier, report)
    _create(collection, retrier, report, existing, UNSYNCED_KEY, UNSYNCED_INDEX)
    serving = [name for name, (key, info) in existing.items()
               if _rules_out_duplicate_numbers(key, info) and _serves_queries_by_number(key, info)]
    ours = existing.get(UNIQUE_NUMBER_INDEX)
    ours_typed = ours is not None and ours[1].get("partialFilterExpression") == TYPED_NUMBER
    if serving and not ours_typed:
        return report
    options = {"unique": True, "partialFilterExpression": NUMERIC_NUMBER}
    try:
        if serving:  # its replacement is listed: asked again, the server answers at once once it is built
            key, info = existing[serving[0]]
            partial = info.get("partialFilterExpression")
            built = _build(collection, retrier, report, key, serving[0], unique=True,
                           **({"partialFilterExpression": partial} if partial else {}))
        else:
            name = REPLACEMENT_UNIQUE_NUMBER_INDEX if ours_typed else UNIQUE_NUMBER_INDEX
            built = _create(collection, retrier, report, existing, NUMBER_KEY, name, **options)
    except (DuplicateKeyError, OperationFailure) as error:
        if error.code not in (DUPLICATE_KEY, 11001):
            raise
        report.duplicate_numbers = duplicate_numbers(collection, retrier)
        if not any(_serves_queries_by_number(key, info) for key, info in existing.values()):
            _create(collection, retrier, report, existing, NUMBER_KEY, NUMBER_LOOKUP_INDEX)
        return report
    if built and ours_typed:  # ours, from an earlier version, which no query by number can use
        _drop(collection, retrier, report, UNIQUE_NUMBER_INDEX)
    typed = [name for name, (key, info) in existing.items() if info.get("partialFilterExpression") == TYPED_NUMBER]
    if not built and typed and not serving:
        report.warnings.append(
            f"no query by number can use the index {', '.join(typed)} (partial on $type): until an index on number "
            f"without that filter is built, every lookup and upsert by number scans the collection (servers before "
            f"5.0 refuse a second index on one key: drop it, and the next run builds {UNIQUE_NUMBER_INDEX})"
        )
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


def _create(collection: Any, retrier: Retrier, report: IndexReport, existing: dict, key: list[tuple[str, Any]], name: str, **options: Any) -> bool:
    """Create an index unless an equivalent one exists; True when it now exists. The server
    refuses a key pattern that exists under another name (code 85/86) and an index build
    without the privilege (code 13): both are warnings, since the sync still works. So is a
    build that outruns its budget: it is left to the server, never interrupted (an
    interrupted createIndexes aborts the build, 4.4+), and the sync goes on with the
    indexes that exist; the next run finds it listed (listIndexes shows builds in progress)."""
    wanted = {"unique": options.get("unique", False), "partial": options.get("partialFilterExpression")}
    for existing_key, info in existing.values():
        if existing_key == key and {"unique": bool(info.get("unique")), "partial": info.get("partialFilterExpression")} == wanted:
            return True
    return _build(collection, retrier, report, key, name, **options)


def _build(
    collection: Any, retrier: Retrier, report: IndexReport, key: list[tuple[str, Any]], name: str, **options: Any
) -> bool:
    budget = retrier.long_operation_budget_seconds
    try:
        retrier.call(lambda: collection.create_index(key, name=name, **options), f"create the index {name}",
                     budget_seconds=budget)
    except TracosTimedOut as error:
        fate = ("a time limit set in MONGO_URI (timeoutMS) made the server abort it; the next run asks again"
                if "(code 50)" in str(error) else "the server goes on building it")
        report.warnings.append(
            f"the index {name} on {_key_text(key)} is not built after {budget:.0f}s (index_build_budget_seconds): "
            f"{fate}, and this run goes on with the indexes that exist ({short(str(error))})"
        )
        return False
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
        return False
    return True


def _drop(collection: Any, retrier: Retrier, report: IndexReport, name: str) -> None:
    try:
        retrier.call(lambda: collection.drop_index(name), f"drop the index {name}")
    except OperationFailure as error:
        report.warnings.append(
            f"could not drop the index {name} (filter $type, which no query can use; {UNIQUE_NUMBER_INDEX!r} of an "
            f"earlier version) after building its replacement (code {error.code}: {short(str(error))}); drop it by hand"
        )


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
    """A unique index on `number` alone (either direction), over every numeric `number`: one
    with another partial filter (say `{deleted: false}`) still lets two documents share a number."""
    return _is_number_key(key) and bool(info.get("unique")) and info.get("partialFilterExpression") in (
        None, NUMERIC_NUMBER, TYPED_NUMBER)


def _serves_queries_by_number(key: list[tuple[str, Any]], info: Any) -> bool:
    """An index the planner can use for `{number: n}` and `{number: {$in: [...]}}`: led by
    `number`, with no partial filter or one such a query implies (not `$type`)."""
    return bool(key) and key[0][0] == "number" and info.get("partialFilterExpression") in (None, NUMERIC_NUMBER)


def _is_number_key(key: list[tuple[str, Any]]) -> bool:
    return len(key) == 1 and key[0][0] == "number" and key[0][1] in (1, -1)


def _key_text(key: list[tuple[str, Any]]) -> str:
    return "{" + ", ".join(f"{name}: {direction}" for name, direction in key) + "}"
