"""A customer's lease in TracOS (tracos/lease.py, README "Locks: one per guarantee"): one
customer's runs never overlap, whichever machines they run on. Checked on each store the
project offers (mongomock, the embedded store, the strict server double), and between real
processes that share nothing but the store (the embedded store; a real MongoDB with -m real_mongo)."""

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pymongo
import pytest

from tracos_integration.tracos.lease import LEASES, Lease, LeaseHeld, store_clock
from tracos_integration.tracos.resource import MongoResource
from tracos_integration.tracos.retry import Retrier
from tracos_integration_tests.factories import client_order, drop
from tracos_integration_tests.strict_server import StrictCollection

ROOT = Path(__file__).resolve().parents[1]
KEY = "tractian.workorders"
SERVER_URI = os.environ.get("MONGO_URI", "")


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["mongomock", "embedded", "strict"])
def leases(request, tmp_path):
    """The leases collection on each store."""
    if request.param == "embedded":
        return MongoResource(uri=f"embedded://{tmp_path}/tracos.json").open_collection(LEASES)
    collection = MongoResource(uri=f"mongomock://lease-{uuid.uuid4().hex}").open_collection(LEASES)
    return StrictCollection(collection) if request.param == "strict" else collection


def a_lease(collection, clock, run_id="run-a", ttl_seconds=60.0) -> Lease:
    return Lease(collection, KEY, Retrier(budget_seconds=1), clock, run_id=run_id, ttl_seconds=ttl_seconds)


def test_a_held_lease_is_refused_to_another_run_until_its_holder_lets_go(leases):
    clock = FakeClock()
    first, second = a_lease(leases, clock), a_lease(leases, clock, "run-b")
    assert first.take() and first.take()  # ours already: taking it again is a no-op
    assert not second.take()
    assert first.release()
    assert second.take() and leases.find_one({"_id": KEY})["run_id"] == "run-b"


def test_a_dead_holders_lease_runs_out_and_the_next_run_takes_it(leases):
    clock = FakeClock()
    dead, next_run = a_lease(leases, clock, "dead", ttl_seconds=60), a_lease(leases, clock, "next")
    assert dead.take()  # ...and never renews it again
    clock.now += timedelta(seconds=59)
    assert not next_run.take()
    clock.now += timedelta(seconds=1)
    assert next_run.take() and leases.find_one({"_id": KEY})["run_id"] == "next"


def test_a_lease_is_never_released_or_renewed_by_a_run_that_does_not_hold_it(leases):
    clock = FakeClock()
    holder, other = a_lease(leases, clock, "holder"), a_lease(leases, clock, "other")
    assert holder.take()
    assert not other.release() and not other.renew()
    assert leases.find_one({"_id": KEY})["run_id"] == "holder"
    clock.now += timedelta(seconds=61)  # the holder stalled past its TTL: another run took it
    assert other.take()
    assert not holder.renew() and not holder.release()  # the stalled holder cannot take it back or free it
    assert leases.find_one({"_id": KEY})["run_id"] == "other"


@pytest.mark.parametrize("record", [{}, {"expiresAt": "soon"}, {"expiresAt": None, "holder": "x"}])
def test_a_lease_record_without_an_expiry_date_never_blocks_a_run(leases, record):
    leases.insert_one({"_id": KEY, **record})  # edited by hand, or left by something else
    assert a_lease(leases, FakeClock()).take()
    assert leases.find_one({"_id": KEY})["run_id"] == "run-a"


def test_the_strict_server_refuses_expr_in_an_upsert_as_mongodb_does_and_the_lease_needs_none():
    """Why the lease reads the server's clock with `hello` rather than comparing with `$$NOW`."""
    leases = StrictCollection(MongoResource(uri=f"mongomock://lease-{uuid.uuid4().hex}").open_collection(LEASES))
    with pytest.raises(pymongo.errors.OperationFailure) as refused:
        leases.update_one({"_id": KEY, "$or": [{"$expr": {"$lte": ["$expiresAt", "$$NOW"]}}]}, {"$set": {"a": 1}},
                          upsert=True)
    assert refused.value.code == 224
    assert a_lease(leases, FakeClock()).take()


def test_transient_errors_on_the_lease_are_retried_as_every_tracos_call_is(leases):
    class Flaky:
        """Every other call fails with a primary stepping down: each operation fails once, then goes through."""

        def __init__(self, inner):
            self.inner, self.calls = inner, 0

        def __getattr__(self, name):
            def call(*args, **kwargs):
                self.calls += 1
                if self.calls % 2:
                    raise pymongo.errors.NotPrimaryError("not primary")
                return getattr(self.inner, name)(*args, **kwargs)
            return call

    slept = []
    retrier = Retrier(budget_seconds=60, sleep=slept.append)
    lease = Lease(Flaky(leases), KEY, retrier, FakeClock(), run_id="run-a")
    assert lease.take() and lease.renew() and lease.release()
    assert len(slept) == 3 and leases.find_one({"_id": KEY}) is None


def test_a_waiter_gives_up_after_the_timeout_naming_the_holder_and_the_setting(leases):
    clock = FakeClock()
    a_lease(leases, clock, "run-of-the-holder").take()
    told = []
    with pytest.raises(LeaseHeld) as caught:
        a_lease(leases, clock, "waiter").acquire(0.3, on_wait=told.append)
    message = str(caught.value)
    assert "\n" not in message
    holder = (f"host {socket.gethostname()} pid {os.getpid()} (Dagster run run-of-the-holder) "
              "since 2026-01-01T00:00:00+00:00")
    assert f"is held by {holder}, till 2026-01-01T00:01:00+00:00 unless renewed" in message
    assert "gave up after 0.3 s (FOLDER_LOCK_TIMEOUT_SECONDS; raise it to wait longer)" in message
    assert told == [holder]


def test_leases_of_different_customers_never_meet(leases):
    clock = FakeClock()
    assert a_lease(leases, clock).take()
    assert Lease(leases, "tractian.workorders_globex", Retrier(budget_seconds=1), clock, run_id="b").take()


def test_a_living_holder_keeps_its_lease_past_its_ttl_then_lets_go(leases, monkeypatch):
    now = lambda: datetime.now(timezone.utc)  # noqa: E731
    holder, other = a_lease(leases, now, "holder", ttl_seconds=0.6), a_lease(leases, now, "other")
    renewed, real_renew = threading.Event(), Lease.renew
    count = []

    def counting(self):
        ours = real_renew(self)
        count.append(ours)
        if len(count) >= 4:  # 4 renewals, a third of the TTL apart: longer than the TTL
            renewed.set()
        return ours

    monkeypatch.setattr(Lease, "renew", counting)
    assert holder.take()
    with holder.kept(log=_Log()):
        assert renewed.wait(timeout=60)
        assert not other.take() and all(count)
    assert leases.find_one({"_id": KEY}) is None  # released at the end
    assert other.take()


def test_a_holder_that_lost_its_lease_says_so_and_leaves_the_new_holders_lease_alone(leases):
    now = lambda: datetime.now(timezone.utc)  # noqa: E731
    stalled, log = a_lease(leases, now, "stalled", ttl_seconds=0.6), _Log()
    assert stalled.take()
    with stalled.kept(log=log):
        # It stalled past its TTL, and another run took the lease meanwhile.
        thief = a_lease(leases, now, "run-that-took-over")
        leases.update_one({"_id": KEY}, {"$set": {"holder": thief.token, "run_id": thief.run_id}})
        assert log.said.wait(timeout=60)
    [line] = log.lines
    assert line.startswith(f"lost the lease on {KEY}") and "(Dagster run run-that-took-over)" in line
    assert leases.find_one({"_id": KEY})["run_id"] == "run-that-took-over"  # its end released nothing


def test_on_the_embedded_store_renewals_never_wait_for_the_run_holding_its_collection(tmp_path, monkeypatch):
    """The run holds its collection of the embedded store for its whole duration; the lease's
    renewals (another thread, another collection) go on meanwhile."""
    mongo = MongoResource(uri=f"embedded://{tmp_path}/tracos.json")
    leases = mongo.open_collection(LEASES)
    holder = a_lease(leases, lambda: datetime.now(timezone.utc), ttl_seconds=0.6)
    renewed, real_renew = threading.Event(), Lease.renew
    monkeypatch.setattr(Lease, "renew", lambda self: (real_renew(self), renewed.set())[0])
    assert holder.take()
    with holder.kept(log=_Log()), mongo.hold():
        assert renewed.wait(timeout=60)


def test_on_a_mongodb_server_leases_run_by_the_servers_clock(monkeypatch):
    client = pymongo.MongoClient("mongodb://127.0.0.1:9", connect=False, tz_aware=True)
    server_now = datetime(2030, 1, 1, tzinfo=timezone.utc)  # far from this machine's clock
    asked = []

    def command(database, name, *args, **kwargs):
        asked.append((database.name, name))
        return {"localTime": server_now, "ok": 1.0}

    monkeypatch.setattr(pymongo.database.Database, "command", command)
    assert store_clock(client["tractian"][LEASES])() == server_now
    assert asked == [("admin", "hello")]


class _Log:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.said = threading.Event()

    def info(self, text: str) -> None:
        self.lines.append(text)
        self.said.set()

    warning = error = info


# -- two processes that share nothing but the store ---------------------------------

# Runs inbound_job for the customer its environment names. It records when its first step
# starts ("enter") and when its lease is released ("exit"), says "entered" and then waits for
# the gate file, and says "waiting" when it finds the lease held.
RUN = r"""
import json, sys, time
from pathlib import Path
import dagster as dg
from tracos_integration.client.folder import ClientFolder
from tracos_integration.definitions import defs
from tracos_integration.tracos import lease

name, record_file, gate = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
lease.TTL_SECONDS = float(sys.argv[4])
entered, waiting = [], []

def record(event):
    with record_file.open("a") as out:
        out.write(json.dumps({"name": name, "event": event, "at": time.time()}) + "\n")

listing, releasing, reading = ClientFolder.list_inbound, lease.Lease.release, lease.Lease.holder

def list_inbound(self):
    if not entered:
        entered.append(True)
        record("enter")
        print("entered", flush=True)
        while not gate.exists():
            time.sleep(0.05)
    return listing(self)

def release(self):
    if entered:
        record("exit")
    return releasing(self)

def holder(self):
    if not waiting:
        waiting.append(True)
        print("waiting", flush=True)
    return reading(self)

ClientFolder.list_inbound, lease.Lease.release, lease.Lease.holder = list_inbound, release, holder
job = defs.get_job_def("inbound_job")
result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
failures = [event.event_specific_data.error.message for event in result.all_events
            if event.event_type_value == "STEP_FAILURE"]
print(json.dumps({"success": result.success, "run_id": result.run_id, "failures": failures}), flush=True)
"""


class Run:
    """One process running inbound_job; its stdout read line by line."""

    def __init__(self, name: str, where: Path, env: dict, ttl_seconds: float = 60.0) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", RUN, name, str(where / "records.jsonl"), str(where / "gate"), str(ttl_seconds)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def says(self, expected: str) -> None:
        while True:
            line = self.lines.get(timeout=300)
            assert line is not None, f"the run ended before it said {expected!r}"
            if line == expected:
                return

    def outcome(self) -> dict:
        while True:
            line = self.lines.get(timeout=300)
            assert line is not None, "the run ended without its outcome"
            if line.startswith("{"):
                self.process.wait(timeout=60)
                return json.loads(line)

    def end(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


@pytest.fixture(params=["embedded", pytest.param("server", marks=pytest.mark.real_mongo)])
def customer(request, tmp_path):
    """One customer's folders and collection, and the environment of a process running its jobs."""
    for folder in ("inbound", "outbound"):
        (tmp_path / folder).mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGO_", "DATA_", "DAGSTER_", "TRACOS_"))}
    env.update(DATA_INBOUND_DIR=str(tmp_path / "inbound"), DATA_OUTBOUND_DIR=str(tmp_path / "outbound"),
               INBOUND_SETTLE_SECONDS="0", PYTHONPATH=str(ROOT))
    if request.param == "embedded":
        env["MONGO_URI"] = f"embedded://{tmp_path}/store/tracos.json"
        yield tmp_path, env, MongoResource(uri=env["MONGO_URI"])
        return
    if not SERVER_URI.startswith(("mongodb://", "mongodb+srv://")):
        pytest.skip("MONGO_URI names no MongoDB server")
    env.update(MONGO_URI=SERVER_URI, MONGO_COLLECTION=f"workorders_lease_{uuid.uuid4().hex[:8]}")
    mongo = MongoResource(uri=SERVER_URI, collection=env["MONGO_COLLECTION"], retry_budget_seconds=5)
    env["MONGO_DATABASE"] = mongo.resolved_database
    try:
        mongo.get_collection().database.command("ping")
    except Exception as error:  # a configured but unreachable server is a skip here, not a failure
        pytest.skip(f"MongoDB at {mongo.display_name} is not reachable: {type(error).__name__}")
    yield tmp_path, env, mongo
    mongo.get_collection().drop()
    mongo.open_collection(LEASES).delete_many({"_id": f"{mongo.resolved_database}.{mongo.resolved_collection}"})


def records(where: Path) -> dict[str, dict[str, float]]:
    seen: dict[str, dict[str, float]] = {}
    for line in (where / "records.jsonl").read_text().splitlines():
        entry = json.loads(line)
        seen.setdefault(entry["name"], {})[entry["event"]] = entry["at"]
    return seen


def test_two_processes_of_one_customer_never_overlap_the_second_waits_then_runs(customer):
    where, env, mongo = customer
    drop(where / "inbound", "a.json", [client_order(1)])
    first = Run("first", where, env)
    second = None
    try:
        first.says("entered")  # the first holds the lease, inside its first step
        second = Run("second", where, env)
        second.says("waiting")
        (where / "gate").touch()
        assert first.outcome()["success"] and second.outcome()["success"]
    finally:
        first.end()
        if second is not None:
            second.end()
    seen = records(where)
    assert seen["first"]["enter"] < seen["first"]["exit"] <= seen["second"]["enter"] < seen["second"]["exit"]
    assert mongo.get_collection().count_documents({"number": 1}) == 1
    assert mongo.open_collection(LEASES).count_documents({}) == 0  # both let go


def test_the_second_process_fails_after_the_timeout_naming_the_holder(customer):
    where, env, mongo = customer
    drop(where / "inbound", "a.json", [client_order(1)])
    first = Run("first", where, env)
    second = None
    try:
        first.says("entered")
        second = Run("second", where, {**env, "FOLDER_LOCK_TIMEOUT_SECONDS": "0.5"})
        refused = second.outcome()
        (where / "gate").touch()
        held = first.outcome()
    finally:
        first.end()
        if second is not None:
            second.end()
    assert held["success"] and not refused["success"]
    [message] = refused["failures"]
    holder = f"host {socket.gethostname()} pid {first.process.pid} (Dagster run {held['run_id']})"
    assert f"is held by {holder} since " in message
    assert "gave up after 0.5 s (FOLDER_LOCK_TIMEOUT_SECONDS; raise it to wait longer)" in message
    assert "Nothing was read or written" in message
    assert "second" not in records(where)  # it never started a step


def test_a_killed_holders_lease_runs_out_and_the_next_process_takes_it(customer):
    where, env, mongo = customer
    drop(where / "inbound", "a.json", [client_order(1)])
    dead = Run("dead", where, env, ttl_seconds=2)
    try:
        dead.says("entered")
        dead.process.send_signal(signal.SIGKILL)
        dead.process.wait()
    finally:
        dead.end()
    key = f"{mongo.resolved_database}.{mongo.resolved_collection}"
    assert mongo.open_collection(LEASES).find_one({"_id": key})["pid"] == dead.process.pid  # never released
    (where / "gate").touch()
    next_run = Run("next", where, env)
    try:
        assert next_run.outcome()["success"]
    finally:
        next_run.end()
    assert mongo.get_collection().count_documents({"number": 1}) == 1
    assert (where / "inbound" / "processed" / "a.json").exists()
