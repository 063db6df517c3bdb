"""Many customers (issue 12): C customers of F files each, inbound_job per customer through
`dagster job execute` on the embedded store, one after another and then side by side
(`--parallel` at a time), each run in its own process as the run queue launches them.

    python -m tracos_integration_tests.benchmarks.customers [--customers 10] [--files 2000] [--parallel 2]

Prints the total time both ways and their ratio. The embedded store locks one collection
per run, so different customers do not wait for each other; on 2 cores, two at a time is
what the machine can give.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DAGSTER = str(Path(sys.executable).with_name("dagster"))


def prepare(root: Path, customers: int, files: int) -> tuple[dict, list[str]]:
    from tracos_integration_tests.benchmarks.__main__ import write_client_files

    slugs = [f"c{number:02d}" for number in range(customers)]
    lines = ["customers:"]
    for slug in slugs:
        inbound, outbound = root / slug / "inbound", root / slug / "outbound"
        outbound.mkdir(parents=True)
        inbound.mkdir(parents=True)
        write_client_files(inbound, files)
        lines += [f"  {slug}:", f"    inbound_dir: {inbound}", f"    outbound_dir: {outbound}", "    timezone: UTC",
                  "    format: json", "    database: tractian", f"    collection: workorders_{slug}"]
    (root / "customers.yaml").write_text("\n".join(lines) + "\n")
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)):  # create its storage now: two first runs would race to
        pass
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGO_", "DATA_", "DAGSTER_", "TRACOS_"))}
    env.update(MONGO_URI=f"embedded://{root / 'tracos.json'}", TRACOS_CUSTOMERS_FILE=str(root / "customers.yaml"),
               DAGSTER_HOME=str(home), INBOUND_SETTLE_SECONDS="0")
    return env, slugs


def launch(slug: str, env: dict) -> subprocess.Popen:
    log = tempfile.TemporaryFile()  # a file, not a pipe: nobody reads it while the run goes
    process = subprocess.Popen(
        [DAGSTER, "job", "execute", "-m", "tracos_integration", "-j", "inbound_job",
         "--tags", f'{{"dagster/partition": "{slug}"}}'],
        env=env, cwd=ROOT, stdout=log, stderr=log,
    )
    process.log = log
    return process


def run_all(slugs: list[str], env: dict, parallel: int) -> float:
    """Seconds to run inbound_job for every customer, `parallel` processes at a time."""
    started, waiting, running = time.perf_counter(), list(slugs), []
    while waiting or running:
        while waiting and len(running) < parallel:
            running.append(launch(waiting.pop(0), env))
        process = running.pop(0)
        if process.wait() != 0:
            process.log.seek(0)
            raise RuntimeError(f"inbound_job failed: {process.args}\n{process.log.read().decode(errors='replace')[-3000:]}")
        process.log.close()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=10)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--parallel", type=int, default=2)
    options = parser.parse_args(argv)
    results = {}
    for label, parallel in (("one after another", 1), (f"side by side ({options.parallel} at a time)", options.parallel)):
        root = Path(tempfile.mkdtemp(prefix="tracos-customers-"))
        try:
            env, slugs = prepare(root, options.customers, options.files)
            results[label] = run_all(slugs, env, parallel)
            processed = sum(len(os.listdir(root / slug / "inbound" / "processed")) for slug in slugs)
            assert processed == options.customers * options.files, f"{processed} files processed"
        finally:
            shutil.rmtree(root, ignore_errors=True)
    total = options.customers * options.files
    print(f"{options.customers} customers x {options.files:,} files ({total:,} work orders), inbound_job on embedded://")
    for label, seconds in results.items():
        print(f"  {label:<32} {seconds:7.1f} s   {total / seconds:8.0f} work orders/s")
    first, second = results.values()
    print(f"  side by side / one after another: {second / first:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
