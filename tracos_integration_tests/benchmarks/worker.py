"""One measurement in a fresh process, so its peak RSS is its own.

    python -m tracos_integration_tests.benchmarks.worker TASK FOLDER N

prints {"seconds", "peak_rss_mb", "round_trips", "orders"} as JSON.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tracos_integration.client.folder import ClientFolder
from tracos_integration.client.writing import sync_folder
from tracos_integration.core.timestamps import to_utc_millis
from tracos_integration.sync.inbound import apply_files
from tracos_integration.sync.outbound import export
from tracos_integration.tracos.queries import WorkOrderRepository
from tracos_integration.tracos.retry import Retrier
from tracos_integration_tests.benchmarks.keyed_collection import KeyedCollection

UTC = timezone.utc
INBOUND_BATCH = 1000
OUTBOUND_BATCH = 500
NAIVE_OUTBOUND_CAP = 100


def tracos_documents(count: int) -> list[dict]:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    return [
        {"number": n, "title": f"Work order {n}", "description": "", "status": "in_progress",
         "createdAt": start, "updatedAt": start + timedelta(seconds=n), "deleted": False, "deletedAt": None,
         "isSynced": False, "syncedAt": None}
        for n in range(1, count + 1)
    ]


class RealServer:
    """With MONGO_URI naming a MongoDB server, the benchmark runs against it, counting
    round trips with pymongo's command monitoring."""

    def __init__(self, uri: str) -> None:
        import pymongo
        from pymongo import monitoring

        outer = self

        class Counter(monitoring.CommandListener):
            def started(self, event):
                outer.round_trips += 1

            def succeeded(self, event):
                pass

            def failed(self, event):
                pass

        self.round_trips = 0
        self.client = pymongo.MongoClient(uri, tz_aware=True, event_listeners=[Counter()])
        self.collection = self.client.get_default_database("tractian")[f"benchmark_{os.getpid()}"]
        self.collection.drop()

    def __getattr__(self, name):
        return getattr(self.collection, name)


def make_collection(keep_documents: bool = True):
    uri = os.environ.get("MONGO_URI", "")
    if uri.startswith(("mongodb://", "mongodb+srv://")):
        return RealServer(uri)
    return KeyedCollection(keep_documents=keep_documents)


def inbound(folder: Path, keep_documents: bool = True, collection=None, client=None):
    """What inbound_job does, without Dagster: its loop (sync/inbound.apply_files: list, read
    a page at a time, sync), then the archive (`client`: another client side, as remote.py's
    RemoteFolders; else the local folder)."""
    collection = collection if collection is not None else make_collection(keep_documents)
    client = client or ClientFolder(inbound_dir=str(folder), settle_seconds=0, max_file_bytes=16 * 2**20)
    run = apply_files(WorkOrderRepository(collection, Retrier()), client, page_size=INBOUND_BATCH, dry_run=False,
                      now=to_utc_millis(datetime.now(UTC)), client_timezone="UTC")
    client.archive(run.report.files, run.report.failed)
    return run.report.counts["read"], collection


def inbound_floor(folder: Path) -> int:
    """The physical floor: read, parse and rename every file, nothing else."""
    done = folder / "done"
    done.mkdir()
    count = 0
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".json"):
            continue
        with open(folder / name, "rb") as handle:
            json.loads(handle.read())
        os.rename(folder / name, done / name)
        count += 1
    return count


def outbound(folder: Path, count: int, collection=None, client=None):
    """What outbound_job does, without Dagster: its loop (sync/outbound.export: stream,
    translate, write atomically, mark)."""
    collection = collection if collection is not None else make_collection()
    if count:
        collection.insert_many(tracos_documents(count))
    collection.round_trips = 0
    started = time.perf_counter()
    client = client or ClientFolder(outbound_dir=str(folder))
    report = export(WorkOrderRepository(collection, Retrier()), client, page_size=OUTBOUND_BATCH, dry_run=False,
                    timezone="UTC", now=lambda: to_utc_millis(datetime.now(UTC)))
    return report.counts["marked_synced"], collection, time.perf_counter() - started


def outbound_floor(folder: Path, count: int) -> int:
    """The physical floor: dump the same records with temp file, fsync and os.replace."""
    from tracos_integration.core.tracos import parse_tracos_document
    from tracos_integration.core.translation import to_client_record

    records = [to_client_record(parse_tracos_document(d)) for d in tracos_documents(count)]
    started = time.perf_counter()
    for record in records:
        name = f"{record['orderNo']}.json"
        temp = folder / f".{name}.tmp"
        with open(temp, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(record, ensure_ascii=False, indent=2) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, folder / name)
    sync_folder(folder)
    return time.perf_counter() - started


def naive_inbound(folder: Path) -> tuple[int, KeyedCollection]:
    """The peer approach: find_one, then insert or update, for every work order."""
    collection = KeyedCollection()
    count = 0
    for name in sorted(os.listdir(folder)):
        if name.endswith(".json"):
            record = json.loads((folder / name).read_text())
            existing = collection.find_one({"number": record["orderNo"]})
            if existing is None:
                collection.insert_one({"number": record["orderNo"], "title": record["summary"]})
            else:
                collection.update_one({"number": record["orderNo"]}, {"$set": {"title": record["summary"]}})
            count += 1
    return count, collection


def naive_outbound(count: int) -> tuple[int, KeyedCollection]:
    """The peer approach: at most 100 documents per run, one update per document."""
    collection = KeyedCollection()
    collection.insert_many(tracos_documents(count))
    collection.round_trips = 0
    exported = 0
    while True:  # as many runs as it takes
        documents = list(collection.find({"isSynced": {"$ne": True}}).limit(NAIVE_OUTBOUND_CAP))
        if not documents:
            return exported, collection
        for document in documents:
            collection.update_one({"_id": document["_id"]}, {"$set": {"isSynced": True}})
            exported += 1


def check_against_mongomock(folder: Path, count: int) -> bool:
    """At small N, the double and mongomock must end in the same TracOS state."""
    import shutil
    import uuid

    from tracos_integration.tracos.resource import MongoResource
    from tracos_integration_tests.benchmarks.__main__ import write_client_files

    states = []
    for label, collection in (("double", KeyedCollection()),
                              ("mongomock", MongoResource(uri=f"mongomock://{uuid.uuid4()}").get_collection())):
        work = folder / label
        write_client_files(work / "in", count)
        (work / "out").mkdir()
        collection.insert_many([{**d, "number": d["number"] + count // 2} for d in tracos_documents(count)])
        inbound(work / "in", collection=collection)
        outbound(work / "out", 0, collection=collection)
        states.append((
            sorted((d["number"], d["title"], d["isSynced"]) for d in collection.find({})),
            sorted(os.listdir(work / "out")),
        ))
        shutil.rmtree(work)
    return states[0] == states[1]


def main() -> None:
    task, folder, count = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    started = time.perf_counter()
    round_trips = None
    if task == "inbound":
        orders, collection = inbound(folder)
        round_trips = collection.round_trips
    elif task == "inbound-memory":
        orders, collection = inbound(folder, keep_documents=False)
    elif task == "inbound-floor":
        orders = inbound_floor(folder)
    elif task == "outbound":
        orders, collection, seconds = outbound(folder, count)
        round_trips = collection.round_trips
        started = time.perf_counter() - seconds
    elif task == "outbound-floor":
        orders, seconds = count, outbound_floor(folder, count)
        started = time.perf_counter() - seconds
    elif task == "naive-inbound":
        orders, collection = naive_inbound(folder)
        round_trips = collection.round_trips
    elif task == "naive-outbound":
        orders, collection = naive_outbound(count)
        round_trips = collection.round_trips
    elif task == "check-mongomock":
        orders = count if check_against_mongomock(folder, count) else -1
    else:
        raise SystemExit(f"unknown task {task}")
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_mb, "round_trips": round_trips, "orders": orders}))


if __name__ == "__main__":
    main()
