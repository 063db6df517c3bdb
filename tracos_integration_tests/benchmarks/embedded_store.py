"""The embedded store's figures (`--store embedded`): inbound_job and outbound_job through
`dagster job execute` on `embedded://`, at N and N/10, each in a fresh store and folder.

Targets (issue 9): each direction within 60 s at N=20,000; time at N / time at N/10 <= 15;
peak RSS of the `dagster job execute` process within 300 MB.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SECONDS_TARGET = 60.0
LINEAR_TARGET = 15.0
RSS_TARGET_MB = 300.0


def seed_unsynced(uri: str, count: int) -> None:
    """N unsynced documents in the store, written in another process (not timed)."""
    code = (
        "import sys\n"
        "from tracos_integration.tracos.resource import MongoResource\n"
        "from tracos_integration_tests.benchmarks.worker import tracos_documents\n"
        "documents = tracos_documents(int(sys.argv[1]))\n"
        "collection = MongoResource(uri=sys.argv[2]).get_collection()\n"
        "for start in range(0, len(documents), 1000):\n"
        "    collection.insert_many(documents[start:start + 1000])\n"
    )
    subprocess.run([sys.executable, "-c", code, str(count), uri], check=True, cwd=ROOT)


ROOT = Path(__file__).resolve().parents[2]
DAGSTER = str(Path(sys.executable).with_name("dagster"))


def timed_job(job: str, env: dict) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one `dagster job execute` process."""
    with tempfile.TemporaryFile() as log:  # a file, not a pipe: nobody reads while it runs
        started = time.perf_counter()
        process = subprocess.Popen([DAGSTER, "job", "execute", "-m", "tracos_integration", "-j", job], env=env,
                                   cwd=ROOT, stdout=log, stderr=log)
        # wait4 gives this child's own peak RSS (and its waited-for children's), not the benchmark's
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            log.seek(0)
            raise RuntimeError(f"{job} failed: {log.read().decode(errors='replace')[-2000:]}")
    return seconds, usage.ru_maxrss / 1024


def run_direction(root: Path, direction: str, count: int, base_env: dict) -> dict:
    from tracos_integration_tests.benchmarks.__main__ import write_client_files

    work = root / f"embedded_{direction}_{count}"
    home = work / "dagster_home"
    home.mkdir(parents=True)
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    uri = f"embedded://{work / 'tracos.json'}"
    env = {**base_env, "DAGSTER_HOME": str(home), "MONGO_URI": uri, "DATA_INBOUND_DIR": str(work / "in"),
           "DATA_OUTBOUND_DIR": str(work / "out"), "INBOUND_SETTLE_SECONDS": "0"}
    (work / "out").mkdir()
    if direction == "inbound":
        write_client_files(work / "in", count)
    else:
        (work / "in").mkdir()
        seed_unsynced(uri, count)
    seconds, peak_mb = timed_job(f"{direction}_job", env)
    done = len(os.listdir(work / "in" / "processed")) if direction == "inbound" else len(os.listdir(work / "out"))
    shutil.rmtree(work, ignore_errors=True)
    if done != count:
        raise RuntimeError(f"{direction}_job on the embedded store handled {done} of {count}")
    return {"seconds": seconds, "peak_rss_mb": peak_mb}


def embedded_figures(root: Path, n: int, figure) -> list[dict]:
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGO_", "DATA_", "DAGSTER_"))}
    results = []
    small = max(1, n // 10)
    for direction in ("inbound", "outbound"):
        at_n = run_direction(root, direction, n, base_env)
        at_small = run_direction(root, direction, small, base_env)
        ratio = at_n["seconds"] / at_small["seconds"]
        results += [
            figure(f"embedded store: {direction}_job, N={n:,}", at_n["seconds"], "s", f"<= {SECONDS_TARGET:g}",
                   at_n["seconds"] <= SECONDS_TARGET),
            figure(f"embedded store: {direction}_job, N/10={small:,}", at_small["seconds"], "s", None, None),
            figure(f"embedded store: {direction} time at N / at N/10", ratio, "x", f"<= {LINEAR_TARGET:g}",
                   ratio <= LINEAR_TARGET),
            figure(f"embedded store: {direction}_job peak RSS", at_n["peak_rss_mb"], "MB", f"<= {RSS_TARGET_MB:g}",
                   at_n["peak_rss_mb"] <= RSS_TARGET_MB),
        ]
    return results


if __name__ == "__main__":  # the embedded figures alone: python -m ...benchmarks.embedded_store N
    from tracos_integration_tests.benchmarks.__main__ import figure, print_table

    scratch = Path(tempfile.mkdtemp(prefix="tracos-bench-embedded-"))
    try:
        print_table(embedded_figures(scratch, int(sys.argv[1]) if len(sys.argv) > 1 else 20_000, figure))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
