"""A lease in TracOS: one customer's runs take turns, whichever machines they run on
(README "Locks: one per guarantee").

The lease is a document in the customer's database, collection `tracos_leases`, whose `_id`
is the customer's `database.collection` (unique per customer: customers.py checks it). It
names its holder (host, pid, Dagster run, since when) and when it runs out (`expiresAt`).
The holder renews it every third of its TTL from a daemon thread and deletes it when the run
ends; a holder that dies stops renewing, its lease runs out and the next run takes it.

Taking it is one upsert whose filter matches only our own lease or one that ran out. On a
lease another holds, the upsert inserts a second document with the same `_id`, which the store
refuses (DuplicateKeyError): held. No document: free, and the upsert inserts ours. Every call
is idempotent (filtered on our holder token), so the Retrier may repeat it.

Clocks: expiry is written and compared in the store's clock. On a MongoDB server that is the
server's (`hello` returns its `localTime`), read before each write, so the machines' clocks never
meet. (`$$NOW` would do it in the same call, but MongoDB refuses `$expr` in an upsert's filter,
code 224.) The in-memory and embedded stores live on one machine: that machine's clock. What is
left is skew between servers (mongos routers, a primary after failover): a lease tolerates up to
two thirds of its TTL (40 s of 60), as it is renewed every third of it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator, Optional

from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError, PyMongoError

from tracos_integration.settings import SettingError
from tracos_integration.tracos.retry import Retrier, TracosUnavailable, describe as describe_error
from tracos_integration.tracos.stores import DamagedStore, DemoExtraMissing

LEASES = "tracos_leases"
TTL_SECONDS = 60.0
POLL_SECONDS = 0.5
TIMEOUT_SETTING = "FOLDER_LOCK_TIMEOUT_SECONDS"

# Runs that could not take their lease, with the reason: their steps refuse to start (ops/scope.py).
_REFUSED: dict[str, str] = {}


class LeaseHeld(RuntimeError):
    """Another run still held the lease when the timeout ran out; the message names it."""


def describe(record: Optional[dict]) -> str:
    """Who holds a lease, for a person: host, pid, Dagster run and since when."""
    if not record:
        return "a run that has just let go"
    run = f"Dagster run {record['run_id']}" if record.get("run_id") else "no Dagster run"
    return f"host {record.get('host')} pid {record.get('pid')} ({run}) since {_shown(record.get('since'))}"


def _shown(moment: Any) -> str:
    if isinstance(moment, datetime):
        return moment.astimezone(timezone.utc).isoformat(timespec="seconds")
    return str(moment)


def store_clock(collection: Any) -> Callable[[], datetime]:
    """The clock leases are measured by: a MongoDB server's own; this machine's for the stores
    that live on it (mongomock, embedded)."""
    if isinstance(collection, Collection):
        admin = collection.database.client.admin
        return lambda: _utc(admin.command("hello")["localTime"])
    return lambda: datetime.now(timezone.utc)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


@dataclass
class Lease:
    """One customer's lease, for one holder (its `token`). `collection` is the leases collection."""

    collection: Any
    key: str
    retrier: Retrier
    clock: Callable[[], datetime]
    run_id: Optional[str] = None
    ttl_seconds: float = TTL_SECONDS
    token: str = field(default_factory=lambda: uuid.uuid4().hex)

    def take(self) -> bool:
        """One attempt: True when the lease is ours now (free, run out, or ours already)."""
        now = self._now()
        holder = {"holder": self.token, "host": socket.gethostname(), "pid": os.getpid(), "run_id": self.run_id,
                  "since": now, "expiresAt": now + timedelta(seconds=self.ttl_seconds)}
        try:
            self.retrier.call(lambda: self.collection.update_one(
                {"_id": self.key, "$or": [
                    {"holder": self.token}, {"expiresAt": {"$lte": now}},
                    {"expiresAt": {"$not": {"$type": "date"}}},  # not a lease we wrote (hand-edited): never blocks
                ]},
                {"$set": holder}, upsert=True,
            ), f"take the lease on {self.key}")
        except DuplicateKeyError:
            return False
        return True

    def acquire(self, timeout_seconds: float, on_wait: Optional[Callable[[str], None]] = None) -> None:
        """Take the lease, waiting at most `timeout_seconds` for its holder to let go (or die);
        LeaseHeld naming that holder when it does not. `on_wait` is told once who holds it."""
        deadline = time.monotonic() + timeout_seconds
        told = False
        while not self.take():
            holder = self.holder()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                expires = f", till {_shown(holder['expiresAt'])} unless renewed" if holder else ""
                raise LeaseHeld(
                    f"the lease on {self.key} (collection {LEASES}) is held by {describe(holder)}{expires}; gave up "
                    f"after {timeout_seconds:g} s ({TIMEOUT_SETTING}; raise it to wait longer). If that run is stuck, "
                    f"terminate it in the UI; a holder that died lets go when its lease runs out"
                )
            if on_wait is not None and not told:
                on_wait(describe(holder))
                told = True
            time.sleep(min(POLL_SECONDS, remaining))

    def renew(self) -> bool:
        """Push the expiry on; False when the lease is no longer ours."""
        now = self._now()
        result = self.retrier.call(lambda: self.collection.update_one(
            {"_id": self.key, "holder": self.token},
            {"$set": {"expiresAt": now + timedelta(seconds=self.ttl_seconds)}},
        ), f"renew the lease on {self.key}")
        return result.matched_count == 1

    def release(self) -> bool:
        """Let go, only if the lease is still ours; False when it was not."""
        result = self.retrier.call(lambda: self.collection.delete_one({"_id": self.key, "holder": self.token}),
                                   f"release the lease on {self.key}")
        return result.deleted_count == 1

    def holder(self) -> Optional[dict]:
        return self.retrier.call(lambda: self.collection.find_one({"_id": self.key}), f"read the lease on {self.key}")

    @contextlib.contextmanager
    def kept(self, log: Any) -> Iterator[None]:
        """Renew the (taken) lease every third of its TTL while the block runs, then release it."""
        stop = threading.Event()
        thread = threading.Thread(target=self._renew_until, args=(stop, log), name=f"lease {self.key}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            try:
                self.release()
            except (TracosUnavailable, PyMongoError) as error:
                log.warning(f"could not release the lease on {self.key} ({describe_error(error)}); "
                            f"it runs out by itself within {self.ttl_seconds:g} s")

    def _renew_until(self, stop: threading.Event, log: Any) -> None:
        period = self.ttl_seconds / 3
        # A renewal that cannot get through retries no longer than its period: the next one tries again.
        renewing = dataclasses.replace(self, retrier=dataclasses.replace(
            self.retrier, budget_seconds=min(self.retrier.budget_seconds, period)))
        while not stop.wait(period):
            try:
                if not renewing.renew():
                    log.error(f"lost the lease on {self.key}: it ran out before it could be renewed and is now held by "
                              f"{describe(self.holder())}; that run may work on this customer beside this one. "
                              "Check why this run stalled (a paused process, an unreachable TracOS)")
                    return
            except (TracosUnavailable, PyMongoError) as error:
                log.warning(f"could not renew the lease on {self.key} ({describe_error(error)}); trying again in "
                            f"{period:g} s, before it runs out")

    def _now(self) -> datetime:
        return self.retrier.call(self.clock, "read TracOS's clock")


@contextlib.contextmanager
def held_for_run(mongo: Any, run_id: str, log: Any) -> Iterator[bool]:
    """Hold the lease on `mongo`'s collection (a MongoResource) while the block runs; yields
    whether it is held. When it is not, the reason is kept and the run's steps refuse to start
    with it (`refusal`), before they touch a folder or TracOS."""
    reason = None
    try:
        database, collection = mongo.resolved_database, mongo.resolved_collection
        if collection == LEASES:
            raise ValueError(f"the work orders' collection cannot be {LEASES!r} ({database}.{collection}): runs keep "
                             "their leases there; give the work orders another collection (MONGO_COLLECTION or the "
                             "customers file)")
        leases = mongo.open_collection(LEASES)
        lease = Lease(leases, f"{database}.{collection}", mongo.retrier(), store_clock(leases), run_id, TTL_SECONDS)
        timeout = mongo.scope.settings.folder_lock_timeout_seconds  # the run's configuration (scope.py)
        lease.acquire(timeout, on_wait=lambda holder: log.info(
            f"the lease on {lease.key} is held by {holder}; waiting up to {timeout:g} s ({TIMEOUT_SETTING})"))
    except (LeaseHeld, TracosUnavailable, SettingError, ValueError, DamagedStore, DemoExtraMissing) as error:
        reason = str(error)
    except PyMongoError as error:  # refused for good (not authorized on the leases collection, ...)
        reason = describe_error(error)
    if reason is not None:
        _REFUSED[run_id] = f"{reason}. Nothing was read or written."
        try:
            yield False
        finally:
            _REFUSED.pop(run_id, None)
        return
    with lease.kept(log):
        yield True


def refusal(run_id: str) -> Optional[str]:
    """Why run `run_id` may not start its steps (it could not take its lease), or None."""
    return _REFUSED.get(run_id)
