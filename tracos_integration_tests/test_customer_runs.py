"""Runs on a customers deployment (CONTRACT 9): every run names its customer, uses one
snapshot of its entry, and a file changed without a reload never stops the others."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.test_utils import create_run_for_test

from tracos_integration.client.folder import ClientFolder
from tracos_integration.client.io_manager import ClientFolderIOManager
from tracos_integration.customers import Customer, load_customers
from tracos_integration.jobs import build_jobs
from tracos_integration.sync import inbound as inbound_sync
from tracos_integration.schedules import outbound_schedule
from tracos_integration.scope import customer_run_config
from tracos_integration.sensors import FILES_TAG, MAX_RUNS_PER_FILES, inbound_file_sensor, outbound_pending_sensor
from tracos_integration.tags import FILES_LEFT_TAG, INBOUND_TAG
from tracos_integration.tracos.resource import MongoResource
from tracos_integration_tests.factories import client_order, drop, tracos_document

ROOT = Path(__file__).resolve().parents[1]
SLUGS = ("acme", "globex")


def entry(root: Path, slug: str, **overrides) -> dict:
    return {"inbound_dir": str(root / slug / "inbound"), "outbound_dir": str(root / slug / "outbound"),
            "timezone": "UTC", "format": "json", "database": "tractian", "collection": f"workorders_{slug}",
            **overrides}


def run_config(entry: dict) -> dict:
    """A customer's entry as a run's config, as the sensors and the launchpad give it."""
    return customer_run_config(Customer.model_validate(entry))


def write_customers(path: Path, entries: dict) -> None:
    path.write_text(yaml.safe_dump({"customers": entries}, sort_keys=False), encoding="utf-8")


@pytest.fixture
def deployment(tmp_path, monkeypatch, workspace):
    """Two customers loaded as partitions, and the environment's own folders (workspace)
    that a customers deployment must never touch."""
    for slug in SLUGS:
        for side in ("inbound", "outbound"):
            (tmp_path / slug / side).mkdir(parents=True)
    customers_file = tmp_path / "customers.yaml"
    write_customers(customers_file, {slug: entry(tmp_path, slug) for slug in SLUGS})
    monkeypatch.setenv("TRACOS_CUSTOMERS_FILE", str(customers_file))
    folder = ClientFolder()
    defs = dg.Definitions(
        jobs=build_jobs(dg.StaticPartitionsDefinition(list(SLUGS)), load_customers(customers_file)),
        sensors=[inbound_file_sensor, outbound_pending_sensor], schedules=[outbound_schedule],
        resources={"mongo": MongoResource(), "client_folder": folder,
                   "client_folder_io_manager": ClientFolderIOManager(folder=folder)},
    )
    collections = {slug: MongoResource(collection=f"workorders_{slug}").get_collection() for slug in SLUGS}
    return defs, tmp_path, customers_file, collections, workspace


def failure_messages(result) -> str:
    return " ".join(str(event.message or "") + str(getattr(event.event_specific_data, "error", "") or "")
                    for event in result.all_events if event.is_failure or "FAILURE" in event.event_type_value)


def test_a_run_that_names_no_customer_is_refused_naming_them_and_touches_nothing(deployment):
    defs, root, _, collections, workspace = deployment
    drop(workspace.inbound, "environment.json", [client_order(1)])
    drop(root / "acme" / "inbound", "a.json", [client_order(2)])
    workspace.collection.insert_one(tracos_document(10))
    collections["acme"].insert_one(tracos_document(11))

    result = defs.get_job_def("sync_job").execute_in_process(raise_on_error=False)

    assert not result.success
    message = failure_messages(result)
    assert "this run names no customer" in message and "(acme, globex)" in message
    assert '--tags \'{"dagster/partition": "acme"}\'' in message
    # Nothing read, moved, written or marked: neither the environment's folders nor a customer's.
    assert sorted(os.listdir(workspace.inbound)) == ["environment.json"] and os.listdir(workspace.outbound) == []
    assert sorted(os.listdir(root / "acme" / "inbound")) == ["a.json"] and os.listdir(root / "acme" / "outbound") == []
    assert workspace.collection.find_one({"number": 10})["isSynced"] is False
    assert collections["acme"].find_one({"number": 11})["isSynced"] is False
    assert workspace.collection.count_documents({}) == 1 and collections["acme"].count_documents({}) == 1


def test_a_run_uses_one_snapshot_of_its_customer_even_if_the_file_changes_between_steps(deployment, monkeypatch):
    defs, root, customers_file, collections, _ = deployment
    drop(root / "acme" / "inbound", "a.json", [client_order(1)])
    moved = root / "moved"
    (moved / "inbound").mkdir(parents=True)
    (moved / "outbound").mkdir()

    class EditsTheFileMidRun(inbound_sync.InboundSync):
        def __init__(self, *args, **kwargs):  # inside the first step, after it resolved its customer
            super().__init__(*args, **kwargs)
            write_customers(customers_file, {
                "acme": entry(root, "moved", collection="workorders_other"), "globex": entry(root, "globex"),
            })

    monkeypatch.setattr(inbound_sync, "InboundSync", EditsTheFileMidRun)
    with dg.instance_for_test() as instance:
        result = defs.get_job_def("inbound_job").execute_in_process(partition_key="acme", instance=instance,
                                                                    raise_on_error=False)
        assert result.success
        resources = instance.get_run_by_id(result.run_id).run_config["resources"]
    # The second step archived in the folders the run started with, not the edited ones.
    assert os.listdir(root / "acme" / "inbound" / "processed") == ["a.json"]
    assert os.listdir(moved / "inbound") == []
    assert [d["number"] for d in collections["acme"].find({})] == [1]
    # The run's config (its page in the UI) shows the entry it used.
    assert resources["client_folder"]["config"]["inbound_dir"] == str(root / "acme" / "inbound")
    assert resources["mongo"]["config"]["collection"] == "workorders_acme"


@pytest.mark.parametrize("edit", ["NOT_A_ZONE", "NOT_A_FORMAT", "GLOBEX_FOLDERS"])
def test_a_run_whose_config_is_not_its_customers_entry_is_refused(deployment, edit):
    """The launchpad lets anyone edit the partition's config: what a run is given must still be
    a valid entry of its own customer, never another's folders."""
    defs, root, _, _, _ = deployment
    folder = dict(run_config(entry(root, "acme"))["resources"]["client_folder"]["config"])
    if edit == "NOT_A_ZONE":
        folder["client_timezone"] = "Mars/Olympus"
    elif edit == "NOT_A_FORMAT":
        folder["file_format"] = "xml"
    else:
        folder.update(inbound_dir=str(root / "globex" / "inbound"), outbound_dir=str(root / "globex" / "outbound"))
    drop(root / "acme" / "inbound", "a.json", [client_order(1)])
    result = defs.get_job_def("inbound_job").execute_in_process(
        partition_key="acme", run_config={"resources": {"client_folder": {"config": folder}}}, raise_on_error=False)
    assert not result.success
    assert "Nothing was read or written." in failure_messages(result)
    assert os.listdir(root / "acme" / "inbound") == ["a.json"]


def test_the_sensors_put_the_customers_entry_into_the_runs_they_request(deployment):
    defs, root, _, collections, _ = deployment
    drop(root / "acme" / "inbound", "a.json", [client_order(1)])
    collections["globex"].insert_one(tracos_document(1))
    with dg.instance_for_test() as instance:
        with dg.build_sensor_context(instance=instance, repository_def=defs.get_repository_def(),
                                     resources={"client_folder": ClientFolder()}) as context:
            [inbound] = inbound_file_sensor.evaluate_tick(context).run_requests
        with dg.build_sensor_context(instance=instance, repository_def=defs.get_repository_def(),
                                     resources={"mongo": MongoResource()}) as context:
            [outbound] = outbound_pending_sensor.evaluate_tick(context).run_requests
    assert inbound.run_config["resources"]["client_folder"]["config"]["inbound_dir"] == str(root / "acme" / "inbound")
    assert outbound.run_config["resources"]["mongo"]["config"]["collection"] == "workorders_globex"


def evaluate_schedule(defs, when: datetime):
    with dg.instance_for_test() as instance:
        with dg.build_schedule_context(instance=instance, repository_def=defs.get_repository_def(),
                                       scheduled_execution_time=when, resources={"mongo": MongoResource()}) as context:
            return outbound_schedule.evaluate_tick(context)


def test_the_schedule_requests_one_run_per_customer_with_work_each_with_its_own_run_key(deployment):
    defs, _, _, collections, _ = deployment
    for slug in SLUGS:
        collections[slug].insert_one(tracos_document(1))
    first = evaluate_schedule(defs, datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc))
    assert sorted(r.partition_key for r in first.run_requests) == ["acme", "globex"]
    assert len({r.run_key for r in first.run_requests}) == 2
    later = evaluate_schedule(defs, datetime(2026, 1, 1, 12, 1, tzinfo=timezone.utc))
    assert not {r.run_key for r in first.run_requests} & {r.run_key for r in later.run_requests}  # a new tick, new runs


def test_a_customer_added_without_a_reload_is_reported_and_the_others_still_served(deployment):
    defs, root, customers_file, collections, _ = deployment
    (root / "newco" / "inbound").mkdir(parents=True)
    (root / "newco" / "outbound").mkdir()
    write_customers(customers_file, {slug: entry(root, slug) for slug in (*SLUGS, "newco")})
    drop(root / "acme" / "inbound", "a.json", [client_order(1)])
    drop(root / "newco" / "inbound", "n.json", [client_order(1)])
    collections["globex"].insert_one(tracos_document(1))
    MongoResource(collection="workorders_newco").get_collection().insert_one(tracos_document(1))
    with dg.instance_for_test() as instance:
        with dg.build_sensor_context(instance=instance, repository_def=defs.get_repository_def(),
                                     resources={"client_folder": ClientFolder()}) as context:
            inbound = inbound_file_sensor.evaluate_tick(context)
        with dg.build_sensor_context(instance=instance, repository_def=defs.get_repository_def(),
                                     resources={"mongo": MongoResource()}) as context:
            outbound = outbound_pending_sensor.evaluate_tick(context)
    assert [r.partition_key for r in inbound.run_requests] == ["acme"]
    assert [r.partition_key for r in outbound.run_requests] == ["globex"]
    schedule = evaluate_schedule(defs, datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc))
    assert [r.partition_key for r in schedule.run_requests] == ["globex"]
    # With nothing else to do, the tick's skip reason names the new customer and what to do.
    collections["globex"].delete_many({})
    skipped = evaluate_schedule(defs, datetime(2026, 1, 1, 12, 1, tzinfo=timezone.utc))
    assert "newco: added to the customers file since the definitions were loaded; reload the definitions" in (
        skipped.skip_message)


def test_a_customer_removed_without_a_reload_is_no_longer_served_and_is_reported(deployment):
    defs, root, customers_file, collections, _ = deployment
    write_customers(customers_file, {"acme": entry(root, "acme")})
    collections["globex"].insert_one(tracos_document(1))
    skipped = evaluate_schedule(defs, datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc))
    assert skipped.run_requests == []
    assert "globex: removed from the customers file; no longer served" in skipped.skip_message


@pytest.mark.slow
def test_from_the_cli_a_run_names_its_customer_with_the_partition_tag(tmp_path):
    """The README's CI line on a customers deployment: refused without the tag, served with it."""
    for slug in SLUGS:
        for side in ("inbound", "outbound"):
            (tmp_path / slug / side).mkdir(parents=True)
    write_customers(tmp_path / "customers.yaml", {slug: entry(tmp_path, slug) for slug in SLUGS})
    (tmp_path / "home").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGO_", "DATA_", "DAGSTER_"))}
    env.update(MONGO_URI=f"embedded://{tmp_path / 'tracos.json'}",
               TRACOS_CUSTOMERS_FILE=str(tmp_path / "customers.yaml"),
               DATA_INBOUND_DIR=str(tmp_path / "env-inbound"), DATA_OUTBOUND_DIR=str(tmp_path / "env-outbound"),
               INBOUND_SETTLE_SECONDS="0", DAGSTER_HOME=str(tmp_path / "home"))
    drop(tmp_path / "acme" / "inbound", "a.json", [client_order(1)])
    acme = MongoResource(uri=env["MONGO_URI"], collection="workorders_acme").get_collection()
    acme.insert_one(tracos_document(50))
    dagster = [str(Path(sys.executable).with_name("dagster")), "job", "execute",
               "-m", "tracos_integration", "-j", "sync_job"]

    refused = subprocess.run(dagster, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert refused.returncode != 0 and "this run names no customer" in refused.stderr
    assert not (tmp_path / "env-inbound").exists() and not (tmp_path / "env-outbound").exists()
    assert os.listdir(tmp_path / "acme" / "inbound") == ["a.json"]
    assert acme.find_one({"number": 50})["isSynced"] is False

    served = subprocess.run([*dagster, "--tags", '{"dagster/partition": "acme"}'], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert served.returncode == 0, served.stderr[-3000:]
    assert os.listdir(tmp_path / "acme" / "inbound" / "processed") == ["a.json"]
    assert os.listdir(tmp_path / "acme" / "outbound") == ["50.json"]
    assert acme.find_one({"number": 50})["isSynced"] is True


def test_the_bound_on_runs_for_the_same_files_counts_only_that_customers_runs(deployment, capfd):
    """Two customers can hold byte-identical files (same names, sizes and times): one
    customer's finished runs on them never hold back the other's. Why the first got no run
    is in the tick's log, as a tick that starts runs has no skip reason."""
    defs, root, _, _, _ = deployment
    for slug in SLUGS:
        path = drop(root / slug / "inbound", "stuck.json", "[{")
        os.utime(path, ns=(1_700_000_000_000_000_000,) * 2)

    def tick(instance):
        with dg.build_sensor_context(instance=instance, repository_def=defs.get_repository_def(),
                                     resources={"client_folder": ClientFolder()}) as context:
            return inbound_file_sensor.evaluate_tick(context)

    with dg.instance_for_test() as instance:
        requests = {request.partition_key: request for request in tick(instance).run_requests}
        assert requests["acme"].tags[FILES_TAG] == requests["globex"].tags[FILES_TAG]  # the same files
        for _ in range(MAX_RUNS_PER_FILES):
            create_run_for_test(instance, job_name="inbound_job", status=dg.DagsterRunStatus.SUCCESS,
                                tags={**requests["acme"].tags, INBOUND_TAG: "true", FILES_LEFT_TAG: "1"})
        capfd.readouterr()
        result = tick(instance)
    assert [request.partition_key for request in result.run_requests] == ["globex"]  # acme waits for a change
    assert f"acme: 1 file(s) in {root / 'acme' / 'inbound'} are still there after {MAX_RUNS_PER_FILES}" in capfd.readouterr().err
