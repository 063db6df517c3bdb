"""The embedded store under SIGKILL: a `dagster job execute` run killed mid-way loses
nothing TracOS had acknowledged, leaves the store usable, and the next run finishes the
work with every order once."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tracos_integration.tracos.stores import embedded
from tracos_integration.tracos.resource import MongoResource
from tracos_integration_tests.factories import client_order, drop, read_json, tracos_document
from tracos_integration_tests.reliability.harness import tally

pytestmark = pytest.mark.slow  # real `dagster job execute` processes

ROOT = Path(__file__).resolve().parents[2]
DAGSTER = str(Path(sys.executable).with_name("dagster"))
ORDERS = 3000


@pytest.fixture
def cli(tmp_path):
    inbound, outbound, home = tmp_path / "inbound", tmp_path / "outbound", tmp_path / "dagster_home"
    for folder in (inbound, outbound, home):
        folder.mkdir()
    (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGO_", "DATA_", "DAGSTER_"))}
    env.update(MONGO_URI=f"embedded://{tmp_path / 'tracos.json'}", DATA_INBOUND_DIR=str(inbound),
               DATA_OUTBOUND_DIR=str(outbound), INBOUND_SETTLE_SECONDS="0", DAGSTER_HOME=str(home))
    return env


def tracos(env):
    embedded._STORES.clear()  # read as another process would
    return MongoResource(uri=env["MONGO_URI"]).get_collection()


def start(job: str, env: dict, config: Path) -> subprocess.Popen:
    return subprocess.Popen([DAGSTER, "job", "execute", "-m", "tracos_integration", "-j", job, "-c", str(config)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def kill_when(process: subprocess.Popen, acknowledged, at_least: int) -> set:
    """SIGKILL the run once TracOS shows `at_least` acknowledged writes; returns what
    TracOS showed just before the kill."""
    deadline = time.monotonic() + 240
    seen: set = set()
    while time.monotonic() < deadline and process.poll() is None:
        seen = acknowledged()
        if len(seen) >= at_least:
            os.kill(process.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed mid-way"
    return seen


def rerun(job: str, env: dict) -> None:
    completed = subprocess.run([DAGSTER, "job", "execute", "-m", "tracos_integration", "-j", job], cwd=ROOT,
                               env=env, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]


def test_sigkill_mid_inbound_loses_no_acknowledged_order_and_the_rerun_applies_each_once(cli, tmp_path, figures):
    inbound = Path(cli["DATA_INBOUND_DIR"])
    expected = {}
    for number in range(1, ORDERS + 1):
        drop(inbound, f"wo_{number:05d}.json", client_order(number, summary=f"order {number}"))
        expected[number] = f"order {number}"
    config = tmp_path / "small_chunks.yaml"  # many chunks, so the kill lands between two of them
    config.write_text("ops:\n  apply_inbound_files:\n    config:\n      page_size: 100\n")
    run = start("inbound_job", cli, config)
    acknowledged = kill_when(run, lambda: {d["number"] for d in tracos(cli).find({}, {"number": 1})}, 1000)

    after_kill = {d["number"]: d["title"] for d in tracos(cli).find({})}
    assert acknowledged <= set(after_kill) and len(after_kill) < ORDERS  # killed mid-way, nothing acknowledged lost
    assert all(after_kill[number] == expected[number] for number in after_kill)

    rerun("inbound_job", cli)
    counts = tally(tracos(cli), expected)
    assert counts == {"applied": ORDERS, "lost": 0, "duplicated": 0}
    assert len(os.listdir(inbound / "processed")) == ORDERS and not (inbound / "failed").exists()
    figures(records_in=ORDERS, applied=counts["applied"], rejected=0, lost=counts["lost"],
            duplicated=counts["duplicated"])


def test_sigkill_mid_outbound_marks_only_what_is_on_disk_and_the_rerun_exports_the_rest(cli, tmp_path, figures):
    outbound = Path(cli["DATA_OUTBOUND_DIR"])
    documents = [tracos_document(number, title=f"order {number}") for number in range(1, ORDERS + 1)]
    collection = tracos(cli)
    for start_at in range(0, ORDERS, 1000):
        collection.insert_many(documents[start_at:start_at + 1000])
    config = tmp_path / "small_batches.yaml"
    config.write_text("ops:\n  export_unsynced:\n    config:\n      page_size: 100\n")
    run = start("outbound_job", cli, config)
    marked = kill_when(run, lambda: {d["number"] for d in tracos(cli).find({"isSynced": True}, {"number": 1})}, 500)

    synced_after_kill = [d["number"] for d in tracos(cli).find({"isSynced": True})]
    assert marked <= set(synced_after_kill) and len(synced_after_kill) < ORDERS
    for number in synced_after_kill:  # never marked synced unless its file is on disk
        assert read_json(outbound / f"{number}.json")["summary"] == f"order {number}"

    rerun("outbound_job", cli)
    assert sorted(int(name[:-5]) for name in os.listdir(outbound)) == list(range(1, ORDERS + 1))
    assert tracos(cli).count_documents({"isSynced": {"$ne": True}}) == 0
    counts = tally(tracos(cli), {number: f"order {number}" for number in range(1, ORDERS + 1)})
    assert counts == {"applied": ORDERS, "lost": 0, "duplicated": 0}
    figures(records_in=ORDERS, applied=len(os.listdir(outbound)), rejected=0, lost=counts["lost"],
            duplicated=counts["duplicated"])
