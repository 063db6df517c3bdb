"""Fault injection for the reliability suite: a collection that fails on cue, hooks that
change TracOS between a read and a write, crash points, and a fake clock for retries."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any, Callable

from pymongo.errors import BulkWriteError

from tracos_integration.tracos import resource as resource_module
from tracos_integration.tracos.retry import Retrier

# Figures each scenario reports, by pytest node id; read by `python -m ...reliability`.
FIGURES: dict[str, dict[str, Any]] = {}


class Crash(BaseException):
    """A process dying at a chosen moment: not an Exception, so nothing catches it."""


@dataclass
class FakeTime:
    """Simulated time for the retry logic: sleeping advances the clock instantly."""

    now: float = 0.0
    slept: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


class FailingCollection:
    """Wraps a pymongo-compatible collection. `fail_when(method, predicate, error)` raises
    `error` on calls for which predicate(call_number) is true; `before(method, hook)` runs
    a hook first (to change TracOS between a read and a write)."""

    def __init__(self, inner: Any, time: FakeTime | None = None) -> None:
        self._inner = inner
        self._time = time
        self._failures: dict[str, list[tuple[Callable[[int], bool], Callable[..., BaseException]]]] = {}
        self._hooks: dict[str, list[Callable[..., None]]] = {}
        self.calls: dict[str, int] = {}

    def fail_when(self, method: str, predicate: Callable[[int], bool], error: Callable[..., BaseException]) -> None:
        self._failures.setdefault(method, []).append((predicate, error))

    def before(self, method: str, hook: Callable[..., None]) -> None:
        self._hooks.setdefault(method, []).append(hook)

    def down_between(self, start: float, end: float, error: Callable[[], BaseException]) -> None:
        """Every call fails while the fake clock is in [start, end): an outage."""
        self._outage = (start, end, error)

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if not callable(target):
            return target

        @functools.wraps(target)
        def call(*args: Any, **kwargs: Any) -> Any:
            number = self.calls[name] = self.calls.get(name, 0) + 1
            for hook in self._hooks.get(name, []):
                hook(*args, **kwargs)
            outage = getattr(self, "_outage", None)
            if outage and self._time and outage[0] <= self._time.now < outage[1]:
                self._time.now += 5.0  # a failed attempt waits for server selection
                raise outage[2]()
            for predicate, error in self._failures.get(name, []):
                if predicate(number):
                    raise error(*args, **kwargs)
            return target(*args, **kwargs)

        return call


def partial_bulk_failure(fail_numbers: set[int], code: int = 121, inner: Any = None) -> Callable[..., BaseException]:
    """A BulkWriteError after applying every operation except those for `fail_numbers`,
    as an unordered bulk_write on MongoDB does (121: document failed validation)."""

    def make(operations: list, *args: Any, **kwargs: Any) -> BaseException:
        applied = [op for op in operations if op._filter.get("number") not in fail_numbers]
        result = inner.bulk_write(applied, ordered=False) if applied else None
        errors, upserted = [], []
        applied_index = 0
        for index, op in enumerate(operations):
            if op._filter.get("number") in fail_numbers:
                errors.append({"index": index, "code": code, "errmsg": "Document failed validation"})
                continue
            if result is not None and applied_index in result.upserted_ids:
                upserted.append({"index": index, "_id": result.upserted_ids[applied_index]})
            applied_index += 1
        return BulkWriteError({
            "writeErrors": errors,
            "writeConcernErrors": [],
            "nInserted": 0,
            "nUpserted": len(upserted),
            "nMatched": result.matched_count if result else 0,
            "nModified": result.modified_count if result else 0,
            "nRemoved": 0,
            "upserted": upserted,
        })

    return make


def use_collection(monkeypatch: Any, collection: Any) -> None:
    """Make every MongoResource in this test return `collection`."""
    monkeypatch.setattr(resource_module.MongoResource, "get_collection", lambda self: collection)


def use_fake_time(monkeypatch: Any, fake: FakeTime, budget_seconds: float = 60.0) -> None:
    """Retries sleep on the fake clock, so a long outage takes no real time."""
    monkeypatch.setattr(
        resource_module, "Retrier",
        functools.partial(Retrier, sleep=fake.sleep, clock=fake.clock, budget_seconds=budget_seconds),
    )


def tally(collection: Any, expected: dict[int, str]) -> dict[str, int]:
    """Against TracOS: how many expected orders (number -> title) are there as expected,
    how many are missing (lost) and how many extra copies exist (duplicated)."""
    counts: dict[int, int] = {}
    titles: dict[int, str] = {}
    for document in collection.find({}, {"number": 1, "title": 1}):
        counts[document["number"]] = counts.get(document["number"], 0) + 1
        titles[document["number"]] = document.get("title")
    return {
        "applied": sum(1 for number, title in expected.items() if titles.get(number) == title),
        "lost": sum(1 for number, title in expected.items() if titles.get(number) != title),
        "duplicated": sum(count - 1 for count in counts.values() if count > 1),
    }


def run_until_crash(workspace: Any, job_name: str) -> None:
    """Run a job that hits a crash point. Dagster may turn the BaseException into a step
    failure rather than let it out; either way nothing after the crash point runs."""
    try:
        result = workspace.run(job_name)
    except Crash:
        return
    assert not result.success, f"{job_name} did not reach its crash point"
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert any("Crash" in str(e.event_specific_data.error) for e in failures), "the run failed, but not at the crash point"


# -- the outbound side, checked after every scenario (reliability/conftest.py) -------------------

def outbound_problems(collection: Any, outbound: Any, inbound: Any) -> list[str]:
    """What the outbound folder and TracOS say about each other, as CONTRACT 6.3 and 6.5 want
    it: a document marked synced by the sync (it has a `syncedAt`) and whose number the client
    never sent (inbound marks what it applies synced, and writes no outbound file) is the
    latest synced one of its number, and its file holds its content, or the content of a newer
    unsynced duplicate whose mark did not happen yet."""
    from tracos_integration.core.tracos import DocumentUntranslatable, parse_tracos_document
    from tracos_integration.core.translation import to_client_record
    from tracos_integration.sync.outbound import latest_first_key
    from tracos_integration.core.bson_order import number_key

    def content(document: Any) -> Any:
        try:
            return to_client_record(parse_tracos_document(dict(document)))
        except DocumentUntranslatable:
            return None

    by_number: dict[Any, list[dict[str, Any]]] = {}
    for document in collection.find({}):
        key = number_key(document.get("number"))
        if key is not None:
            by_number.setdefault(key, []).append(document)
    sent = client_numbers(inbound)
    problems = []
    for key, documents in by_number.items():
        marked = [d for d in documents if d.get("isSynced") is True and d.get("syncedAt") is not None]
        if not marked or key in sent:
            continue
        latest = max(marked, key=latest_first_key)
        path = outbound / f"{documents[0]['number']}.json"
        on_disk = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
        newer_unsynced = [content(d) for d in documents if d.get("isSynced") is not True
                          and latest_first_key(d) > latest_first_key(latest)]
        if on_disk is None or (on_disk != content(latest) and on_disk not in newer_unsynced):
            problems.append(f"document {latest['_id']} (number {latest.get('number')}) is marked synced but "
                            f"{path.name} holds {on_disk and on_disk.get('summary')!r}, not its content")
    return problems


def client_numbers(inbound: Any, max_bytes: int = 2_000_000) -> set[Any]:
    """The `orderNo`s of every JSON file the client dropped (small enough to read)."""
    from tracos_integration.core.bson_order import number_key

    numbers = set()
    for path in inbound.rglob("*.json"):
        try:
            if not path.is_file() or path.stat().st_size > max_bytes:
                continue
            records = json.loads(path.read_bytes())
        except (OSError, ValueError, RecursionError):
            continue
        for record in records if isinstance(records, list) else [records]:
            if isinstance(record, dict) and number_key(record.get("orderNo")) is not None:
                numbers.add(number_key(record["orderNo"]))
    return numbers
