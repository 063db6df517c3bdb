"""The embedded store (`embedded://`): indexed lookups, per-document persistence, several
processes on one TracOS, the earlier file format, and the collection calls the sync makes."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import mongomock
import pymongo
import pytest
from bson import ObjectId, json_util
from pymongo import UpdateOne

from tracos_integration.tracos.stores import embedded
from tracos_integration.tracos.queries import WorkOrderRepository
from tracos_integration.tracos.resource import MongoResource
from tracos_integration.tracos.retry import Retrier
from tracos_integration_tests.factories import tracos_document

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def uri(tmp_path):
    return f"embedded://{tmp_path / 'tracos.json'}"


def reopened(uri):
    """The collection as a new process would open it."""
    embedded._STORES.clear()
    return MongoResource(uri=uri).get_collection()


def store_file(tmp_path):
    return tmp_path / "tracos" / "tractian" / "workorders"


def run_python(code: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, **kwargs)


def decoded_documents(monkeypatch):
    """Counts the documents read back from SQLite (each costs a BSON decode)."""
    from litemongo import sqlite_store

    counter = {"documents": 0}
    real = sqlite_store.TableDict._decode_doc

    def counting(self, encoded):
        if self._table_name == "documents":
            counter["documents"] += 1
        return real(self, encoded)

    monkeypatch.setattr(sqlite_store.TableDict, "_decode_doc", counting)
    return counter


def test_lookups_by_number_and_id_read_only_the_matching_documents(uri, monkeypatch):
    collection = MongoResource(uri=uri).get_collection()
    WorkOrderRepository(collection, Retrier()).ensure_indexes()
    collection.insert_many([tracos_document(n) for n in range(1, 3001)])
    some_id = collection.find_one({"number": 7})["_id"]
    collection = reopened(uri)
    collection.find_one({"number": 1})  # a new process builds its in-memory index once
    counter = decoded_documents(monkeypatch)

    found = WorkOrderRepository(collection, Retrier()).find_by_numbers([10, 2000, 2999, 5000])
    assert sorted(found) == [10, 2000, 2999]
    assert collection.find_one({"_id": some_id})["number"] == 7
    collection.bulk_write([UpdateOne({"number": 2500}, {"$set": {"title": "edited"}}),
                           UpdateOne({"number": 4000}, {"$setOnInsert": {"number": 4000}}, upsert=True)])
    assert counter["documents"] <= 10  # not 3,000 per lookup


def test_a_write_persists_only_the_documents_it_changed(uri, tmp_path):
    collection = MongoResource(uri=uri).get_collection()
    collection.insert_many([tracos_document(n, description="x" * 500) for n in range(1, 2001)])
    with sqlite3.connect(store_file(tmp_path)) as database:
        database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store_bytes = store_file(tmp_path).stat().st_size
    wal = store_file(tmp_path).with_name("workorders-wal")
    before = wal.stat().st_size if wal.exists() else 0

    collection.update_one({"number": 1000}, {"$set": {"title": "edited"}})

    written = wal.stat().st_size - before
    assert store_bytes > 1_000_000 and written < 20_000  # a page or two, not the whole store
    assert reopened(uri).find_one({"number": 1000})["title"] == "edited"


def test_every_acknowledged_write_survives_a_sigkill(uri):
    writer = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sys
        from tracos_integration.tracos.resource import MongoResource
        collection = MongoResource(uri=sys.argv[1]).get_collection()
        collection.create_index("number", unique=True, name="number_unique")
        for number in range(1, 1_000_000):
            collection.insert_one({"number": number})
            print(number, flush=True)  # acknowledged
    """), uri], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    acknowledged = []
    for line in writer.stdout:
        acknowledged.append(int(line))
        if len(acknowledged) == 300:
            os.kill(writer.pid, signal.SIGKILL)
            break
    writer.wait()
    acknowledged += [int(line) for line in writer.stdout.read().split()]

    stored = sorted(d["number"] for d in reopened(uri).find({}, {"number": 1}))
    assert set(acknowledged) <= set(stored)
    assert stored == list(range(1, len(stored) + 1))  # nothing lost, nothing doubled
    reopened(uri).insert_one({"number": len(stored) + 1})  # the lock died with the writer


def test_processes_writing_at_once_keep_every_write_and_the_unique_index(uri):
    MongoResource(uri=uri).repository().ensure_indexes()
    writer = textwrap.dedent("""
        import sys
        from pymongo import UpdateOne
        from tracos_integration.tracos.resource import MongoResource
        collection = MongoResource(uri=sys.argv[1]).get_collection()
        me = sys.argv[2]
        for start in range(1, 301, 20):  # every process upserts the same numbers
            collection.bulk_write([UpdateOne({"number": n}, {"$setOnInsert": {"number": n, "by": me},
                                                              "$push": {"seen": me}}, upsert=True)
                                   for n in range(start, start + 20)], ordered=False)
            if me == "a":
                collection.insert_one({"number": 1000 + start, "writer": me, "own": True})
            else:
                collection.update_one({"number": 2000 + start}, {"$set": {"writer": me}}, upsert=True)
    """)
    processes = [subprocess.Popen([sys.executable, "-c", writer, uri, name], cwd=ROOT) for name in "abc"]
    assert [process.wait(timeout=300) for process in processes] == [0, 0, 0]

    collection = reopened(uri)
    documents = list(collection.find({"number": {"$lte": 300}}))
    assert sorted(d["number"] for d in documents) == list(range(1, 301))  # one document per number
    assert all(sorted(d["seen"]) == ["a", "b", "c"] for d in documents)  # no process lost another's write
    assert collection.count_documents({"own": True}) == 15
    assert collection.count_documents({"number": {"$gt": 2000}}) == 15


def test_a_reader_does_not_wait_for_a_run_holding_the_store(uri):
    MongoResource(uri=uri).get_collection().insert_one(tracos_document(1))
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sys, time
        from tracos_integration.tracos.resource import MongoResource
        with MongoResource(uri=sys.argv[1]).hold():
            print("holding", flush=True)
            time.sleep(60)
    """), uri], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        started = time.monotonic()
        assert reopened(uri).count_documents({"isSynced": {"$ne": True}}) == 1
        assert time.monotonic() - started < 5
    finally:
        holder.kill()
        holder.wait()


def test_a_store_file_of_the_earlier_format_is_imported_once(tmp_path, uri):
    legacy = tmp_path / "tracos.json"
    documents = [tracos_document(n) for n in (1, 2)]
    payload = {"format": "tracos-embedded/1", "databases": {"tractian": {"workorders": {
        "indexes": [{"name": "number_unique", "keys": [["number", 1]], "unique": True}],
        "documents": [{"_id": ObjectId(), **document} for document in documents]}}}}
    legacy.write_text(json_util.dumps(payload, json_options=json_util.RELAXED_JSON_OPTIONS))

    collection = reopened(uri)
    assert sorted(d["number"] for d in collection.find({})) == [1, 2]
    assert collection.find_one({"number": 1})["updatedAt"] == documents[0]["updatedAt"]
    with pytest.raises(pymongo.errors.DuplicateKeyError):
        collection.insert_one({"number": 1})
    assert not legacy.exists() and (tmp_path / "tracos.json.imported").exists()  # kept, not deleted
    assert sorted(d["number"] for d in reopened(uri).find({})) == [1, 2]  # imported once


def test_an_import_that_died_midway_is_redone_whole(tmp_path, uri):
    legacy = tmp_path / "tracos.json"
    legacy.write_text(json.dumps({"format": "tracos-embedded/1", "databases": {"tractian": {"workorders": {
        "indexes": [], "documents": [{"number": n} for n in range(1, 4)]}}}}))
    (tmp_path / ".tracos.importing" / "tractian").mkdir(parents=True)  # what a killed import leaves
    (tmp_path / ".tracos.importing" / "tractian" / "workorders").write_bytes(b"half")

    assert sorted(d["number"] for d in reopened(uri).find({})) == [1, 2, 3]
    assert not (tmp_path / ".tracos.importing").exists()


def test_the_one_line_import_of_an_earlier_store_file(tmp_path):
    legacy = tmp_path / "old.json"
    legacy.write_text(json.dumps({"format": "tracos-embedded/1", "databases": {"tractian": {"workorders": {
        "indexes": [], "documents": [{"number": 5}]}}}}))
    completed = run_python("from tracos_integration.tracos.stores.embedded import main; raise SystemExit(main())",
                           "import", str(legacy))
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["imported"] == 1
    assert reopened(f"embedded://{legacy}").find_one({"number": 5}) is not None


def both_stores(tmp_path):
    return [MongoResource(uri=f"mongomock://{uuid.uuid4()}").get_collection(),
            MongoResource(uri=f"embedded://{tmp_path / 'tracos.json'}").get_collection()]


def test_the_collection_calls_the_sync_makes_give_the_same_results_as_mongomock(tmp_path):
    outcomes = []
    for collection in both_stores(tmp_path):
        collection.create_index([("isSynced", 1), ("_id", 1)], name="isSynced_id")
        collection.create_index([("number", 1)], unique=True, name="number_unique",
                                partialFilterExpression={"number": {"$gte": float("-inf")}})
        collection.create_index([("number", 1)], name="number")
        collection.insert_many([tracos_document(n, _id=n, isSynced=n % 3 == 0) for n in range(1, 31)])
        collection.insert_many([{"_id": 100, "number": "A-1"}, {"_id": 101, "number": "A-1"}, {"_id": 102}])
        result = collection.bulk_write([
            UpdateOne({"number": 5}, {"$setOnInsert": {"title": "never"}}, upsert=True),
            UpdateOne({"number": 40}, {"$setOnInsert": {"number": 40, "title": "new", "_id": 40}}, upsert=True),
            UpdateOne({"number": 6, "updatedAt": {"$lt": tracos_document()["updatedAt"]}}, {"$set": {"title": "x"}}),
        ], ordered=False)
        with pytest.raises(pymongo.errors.BulkWriteError) as refused:
            collection.bulk_write([UpdateOne({"_id": 7}, {"$set": {"number": 8}})], ordered=False)
        unsynced = {"isSynced": {"$ne": True}}
        outcomes.append({
            "bulk": (result.matched_count, result.upserted_count, sorted(result.upserted_ids)),
            "refused": [e["code"] for e in refused.value.details["writeErrors"]],
            "indexes": sorted((name, bool(info.get("unique")))
                              for name, info in collection.index_information().items()),
            "count": collection.count_documents(unsynced),
            "count_limit": collection.count_documents(unsynced, limit=5),
            "in_false_none": collection.count_documents({"isSynced": {"$in": [False, None]}}),
            "type": collection.count_documents({"number": {"$type": "number"}}),
            "page": [d["_id"] for d in
                     collection.find({**unsynced, "_id": {"$gt": 10}}).sort("_id", 1).limit(4).batch_size(4)],
            "in": sorted(d["number"] for d in collection.find({"number": {"$in": [1, 2, 99]}})),
            "eq": [d["title"] for d in collection.find({"number": {"$eq": 40}})],
            "projection": collection.find_one({"number": 2}, {"number": 1, "_id": 0}),
            "groups": list(collection.aggregate([{"$group": {"_id": "$number", "count": {"$sum": 1}}},
                                                 {"$match": {"count": {"$gt": 1}}}, {"$sort": {"_id": 1}}])),
            "deleted": (collection.delete_one({"number": 1}).deleted_count,
                        collection.delete_many({"number": {"$gt": 25, "$lt": 31}}).deleted_count),
            "left": collection.count_documents({}),
        })
    assert outcomes[0] == outcomes[1]
    assert outcomes[1]["refused"] == [11000] and outcomes[1]["groups"] == [{"_id": "A-1", "count": 2}]


def test_outbound_pages_in_id_order_read_only_what_each_page_needs(tmp_path, monkeypatch):
    pages = []
    for collection in both_stores(tmp_path):
        collection.insert_many([tracos_document(n, _id=ObjectId(f"{n:024x}"), isSynced=n % 4 == 0)
                                for n in range(3000, 0, -1)])  # inserted out of _id order
        if not isinstance(collection, mongomock.Collection):
            collection = reopened(f"embedded://{tmp_path / 'tracos.json'}")  # reads first, as a new process does
        repository = WorkOrderRepository(collection, Retrier())
        collection.find_one({"number": 1})  # a process builds its in-memory hash index once
        counter = decoded_documents(monkeypatch)
        sizes = []
        for batch in repository.iter_unsynced(200):
            sizes.append(counter["documents"])
            counter["documents"] = 0
            pages.append([d["number"] for d in batch])
            repository.mark_synced([{"_id": d["_id"]} for d in batch[:50]], tracos_document()["updatedAt"])
    half = len(pages) // 2
    assert pages[:half] == pages[half:]  # the embedded store pages exactly as mongomock does
    assert pages[0][:3] == [1, 2, 3] and sum(len(page) for page in pages[:half]) == 2250
    assert max(sizes[-half:]) < 1000  # a page of 200 reads a few hundred documents, not 3,000


def test_a_write_killed_midway_leaves_the_store_as_before_it(uri):
    MongoResource(uri=uri).get_collection().insert_one({"number": 0})
    writer = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import os, signal, sys
        from tracos_integration.tracos.resource import MongoResource
        from litemongo import sqlite_store
        collection = MongoResource(uri=sys.argv[1]).get_collection()
        real = sqlite_store.TableDict.__setitem__
        written = []
        def dies_after_500(self, key, value):
            real(self, key, value)
            written.append(key)
            if len(written) == 500:
                os.kill(os.getpid(), signal.SIGKILL)  # mid-bulk, not acknowledged
        sqlite_store.TableDict.__setitem__ = dies_after_500
        collection.insert_many([{"number": n} for n in range(1, 1001)])
    """), uri], cwd=ROOT)
    assert writer.wait(timeout=120) == -signal.SIGKILL
    assert [d["number"] for d in reopened(uri).find({})] == [0]  # all of the call or none of it


@pytest.mark.slow
def test_the_benchmark_reports_the_embedded_store_figures_with_their_targets(tmp_path):
    from tracos_integration_tests.benchmarks.__main__ import figure
    from tracos_integration_tests.benchmarks.embedded_store import embedded_figures

    results = {f["name"]: f for f in embedded_figures(tmp_path, 50, figure)}
    for direction in ("inbound", "outbound"):
        assert results[f"embedded store: {direction}_job, N=50"]["target"] == "<= 60"
        assert results[f"embedded store: {direction} time at N / at N/10"]["target"] == "<= 15"
        rss = results[f"embedded store: {direction}_job peak RSS"]  # a figure to read, not a timed assertion
        assert rss["target"] == "<= 300" and rss["unit"] == "MB" and rss["value"] > 0


HOSTILE_NAMES = ["../x", "../../escaped", "/tmp/absolute", "a/b", "a\x00b", ".", "..", ".hidden", "n" * 400,
                 "é/ü", "%2E%2E"]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_names_never_reach_a_path_outside_the_store(tmp_path, name):
    """CONTRACT 8: whatever a database or collection is called, its files stay in the store's folder."""
    from tracos_integration.tracos.stores import open_collection

    store = tmp_path / "one" / "two" / "three" / "store"  # deep enough that any `../` lands inside tmp_path
    store.mkdir(parents=True)
    outside_before = sorted(p for p in tmp_path.rglob("*") if store not in (p, *p.parents))
    uri = f"embedded://{store / 'tracos.json'}"
    for database, collection in ((name, "workorders"), ("tractian", name)):
        collection_object = open_collection(uri, database, collection)
        collection_object.insert_one({"number": 1, "name": name})
        assert collection_object.find_one({"number": 1})["name"] == name  # and the data comes back
    outside_after = sorted(p for p in tmp_path.rglob("*") if store not in (p, *p.parents))
    assert outside_after == outside_before
    assert not Path("/tmp/absolute").exists()


def test_collections_with_different_names_keep_different_files(tmp_path):
    from tracos_integration.tracos.stores import open_collection

    uri = f"embedded://{tmp_path / 'tracos.json'}"
    names = ["a/b", "a%2Fb", "a_b", "n" * 400, "n" * 399 + "m"]
    for number, name in enumerate(names):
        open_collection(uri, "tractian", name).insert_one({"number": number})
    assert [open_collection(uri, "tractian", name).find_one({})["number"] for name in names] == list(range(len(names)))


def test_usual_names_keep_their_file_names(tmp_path):
    assert embedded.file_name("workorders_acme") == "workorders_acme" and embedded.file_name("tractian") == "tractian"


def test_a_process_that_ends_leaves_every_document_in_the_store_file_itself(uri, tmp_path):
    """The package freezes its objects at exit, so no collection closes anything then; the
    store closes its connections itself, and SQLite folds the write-ahead log back into the
    file: a copy of the file alone (a backup) holds every document."""
    completed = run_python("""
        import sys
        from tracos_integration.tracos.resource import MongoResource
        MongoResource(uri=sys.argv[1]).get_collection().insert_many([{"number": n} for n in range(1, 51)])
    """, uri)
    assert completed.returncode == 0, completed.stderr
    file = store_file(tmp_path)
    assert not file.with_name(file.name + "-wal").exists()
    backup = tmp_path / "backup"
    backup.write_bytes(file.read_bytes())
    connection = sqlite3.connect(backup)
    try:
        assert connection.execute("SELECT count(*) FROM documents").fetchone() == (50,)
    finally:
        connection.close()
