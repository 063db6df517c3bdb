"""Two customers under a real `dagster dev` (one JSON, one CSV): files dropped in each
folder end in that customer's processed/ and collection, nothing crosses over, runs show
under their partitions, and one customer's runs never overlap while customers do."""

import os
import time

import dagster as dg
import pytest

from tracos_integration.tracos.resource import MongoResource
from tracos_integration_tests.factories import client_order, drop
from tracos_integration_tests.live import wait_for

pytestmark = pytest.mark.slow
HEADER = "order_no;description;status;opened_at;changed_at;deleted"


def settled(path):
    os.utime(path, (time.time() - 10,) * 2)


def partition_runs(live, partition):
    with live.instance() as instance:
        return instance.get_runs(filters=dg.RunsFilter(
            job_name="inbound_job", statuses=[dg.DagsterRunStatus.SUCCESS], tags={"dagster/partition": partition},
        ))


def test_each_customers_drop_ends_in_its_own_folder_and_collection(live_customers):
    live, base = live_customers, live_customers.customers
    settled(drop(base / "acme" / "inbound", "acme.json", [client_order(11, summary="acme only")]))
    settled(drop(base / "globex" / "inbound", "globex.csv", f"{HEADER}\n22;globex only;DONE;01/03/2024 10:00;02/03/2024 11:30;N\n"))
    collections = {slug: MongoResource(uri=live.mongo_uri, collection=f"workorders_{slug}").get_collection()
                   for slug in ("acme", "globex")}
    try:
        wait_for(lambda: (base / "acme" / "inbound" / "processed" / "acme.json").exists()
                 and (base / "globex" / "inbound" / "processed" / "globex.csv").exists(), 180, "both files processed")
    except AssertionError:
        raise AssertionError(live.log_tail()) from None
    # Other tests on the same `dagster dev` drop files of their own: this drop's orders are
    # where they belong, and neither crossed over.
    numbers = {slug: {d["number"] for d in collection.find({})} for slug, collection in collections.items()}
    assert 11 in numbers["acme"] and 22 not in numbers["acme"], numbers
    assert 22 in numbers["globex"] and 11 not in numbers["globex"], numbers
    assert wait_for(lambda: partition_runs(live, "acme") and partition_runs(live, "globex"), 60, "runs under both partitions")


def test_one_customers_runs_never_overlap_while_customers_run_side_by_side(live_customers):
    live, base = live_customers, live_customers.customers
    for round_number in range(3):  # drops arriving while the customer's last run may still be going
        for slug in ("acme", "globex"):
            suffix = "json" if slug == "acme" else "csv"
            content = ([client_order(100 + round_number)] if slug == "acme" else
                       f"{HEADER}\n{200 + round_number};x;OPEN;01/03/2024 10:00;01/03/2024 10:00;N\n")
            settled(drop(base / slug / "inbound", f"r{round_number}.{suffix}", content))
        time.sleep(1.5)
    wait_for(lambda: not [path for slug in ("acme", "globex") for path in (base / slug / "inbound").glob("r*.*")], 240,
             "every drop archived")
    with live.instance() as instance:
        records = instance.get_run_records(filters=dg.RunsFilter(job_name="inbound_job"))
    # A run is in flight from its creation (queued) to its end: a customer's runs never
    # share that time, and different customers' runs do (execution itself takes a fraction
    # of a second here, so in-flight time is what the queue and the sensor decide about).
    spans = {}
    for record in records:
        partition = record.dagster_run.tags.get("dagster/partition")
        if record.end_time:
            spans.setdefault(partition, []).append((record.create_timestamp.timestamp(), record.end_time))
    for partition, intervals in spans.items():
        intervals.sort()
        for (_, end), (start, _) in zip(intervals, intervals[1:]):
            assert start >= end, f"two {partition} inbound runs were in flight at once"
    acme, globex = spans.get("acme", []), spans.get("globex", [])
    overlapping = [(a, g) for a in acme for g in globex if a[0] < g[1] and g[0] < a[1]]
    print(f"\nacme runs {len(acme)}, globex runs {len(globex)}, in flight together {len(overlapping)} time(s)")
    assert overlapping, "the two customers' runs were never in flight side by side"
