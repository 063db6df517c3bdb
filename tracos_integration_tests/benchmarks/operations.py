"""What an operator waits for, under a real `dagster dev` with `make dev`'s settings
(sensors every 5 s, files settled after 2 s, embedded store):

    python -m tracos_integration_tests.benchmarks.operations [--drops 5] [--idle-minutes 5]

- drop -> processed: a file dropped in the inbound folder until it is in processed/;
- launch -> start: a run's creation (sensor request) until its process starts executing;
- runs started while idle, per hour (target 0: no empty runs).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg

from tracos_integration_tests.factories import client_order, drop
from tracos_integration_tests.live import start_dagster_dev, stop_dagster_dev, wait_for


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--drops", type=int, default=5)
    parser.add_argument("--idle-minutes", type=float, default=5.0)
    options = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="tracos-operations-"))
    live = start_dagster_dev(base, SYNC_INTERVAL_SECONDS="5", INBOUND_SETTLE_SECONDS="2")
    try:
        time.sleep(15)  # the daemon's first ticks
        drop_to_processed = []
        for number in range(1, options.drops + 1):
            dropped_at = time.monotonic()
            drop(live.inbound, f"drop_{number}.json", [client_order(number)])
            processed = live.inbound / "processed" / f"drop_{number}.json"
            wait_for(processed.exists, 180, f"drop_{number}.json in processed/", interval=0.2)
            drop_to_processed.append(time.monotonic() - dropped_at)
        with live.instance() as instance:
            records = instance.get_run_records(filters=dg.RunsFilter(job_name="inbound_job"))
            launch_to_start = [r.start_time - r.create_timestamp.timestamp() for r in records if r.start_time]
            before_idle = len(instance.get_run_records())
        time.sleep(options.idle_minutes * 60)
        with live.instance() as instance:
            idle_runs = len(instance.get_run_records()) - before_idle
    finally:
        stop_dagster_dev(live)
    print(f"drop -> processed, median of {len(drop_to_processed)}: {statistics.median(drop_to_processed):.1f} s "
          f"(each: {', '.join(f'{s:.1f}' for s in drop_to_processed)})")
    print(f"launch -> start, median of {len(launch_to_start)}: {statistics.median(launch_to_start):.1f} s")
    print(f"runs started while idle: {idle_runs} in {options.idle_minutes:g} min "
          f"= {idle_runs * 60 / options.idle_minutes:.0f} per hour (target 0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
