"""Many customers in one deployment (a customers file): each its own folders, format, time
zone and collection; the same jobs, partitioned by customer; nothing crosses over."""

import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.test_utils import create_run_for_test

from tracos_integration.client.folder import ClientFolder
from tracos_integration.client.io_manager import ClientFolderIOManager
from tracos_integration.jobs import INBOUND_TAG, build_jobs
from tracos_integration.sensors import inbound_file_sensor, outbound_pending_sensor
from tracos_integration.tracos.resource import MongoResource
from tracos_integration_tests.factories import client_order, drop, read_json, tracos_document

ROOT = Path(__file__).resolve().parents[1]
HEADER = "order_no;description;status;opened_at;changed_at;deleted"


@pytest.fixture
def two_customers(tmp_path, monkeypatch, workspace):
    """acme writes JSON (UTC), globex exports CSV (Berlin); one in-memory TracOS."""
    folders = {}
    for slug in ("acme", "globex"):
        for side in ("inbound", "outbound"):
            folders[slug, side] = tmp_path / slug / side
            folders[slug, side].mkdir(parents=True)
    customers_file = tmp_path / "customers.yaml"
    customers_file.write_text(f"""
customers:
  acme:
    inbound_dir: {folders['acme', 'inbound']}
    outbound_dir: {folders['acme', 'outbound']}
    timezone: UTC
    format: json
    database: tractian
    collection: workorders_acme
  globex:
    inbound_dir: {folders['globex', 'inbound']}
    outbound_dir: {folders['globex', 'outbound']}
    timezone: Europe/Berlin
    format: csv
    database: tractian
    collection: workorders_globex
""")
    monkeypatch.setenv("TRACOS_CUSTOMERS_FILE", str(customers_file))
    partitions = dg.StaticPartitionsDefinition(["acme", "globex"])
    folder = ClientFolder()
    defs = dg.Definitions(jobs=build_jobs(partitions), sensors=[inbound_file_sensor, outbound_pending_sensor], resources={
        "mongo": MongoResource(), "client_folder": folder, "client_folder_io_manager": ClientFolderIOManager(folder=folder),
    })
    collections = {slug: MongoResource(collection=f"workorders_{slug}").get_collection() for slug in ("acme", "globex")}
    return defs, folders, collections


def run(defs, job, customer):
    return defs.get_job_def(job).execute_in_process(partition_key=customer, raise_on_error=False)


def test_each_customers_files_end_in_its_own_folders_and_collection(two_customers):
    defs, folders, collections = two_customers
    drop(folders["acme", "inbound"], "a.json", [client_order(1, summary="acme pump")])
    drop(folders["globex", "inbound"], "export.csv",
         f"{HEADER}\n7;globex fan;DONE;01/03/2024 10:00;02/03/2024 11:30;N\n")
    assert run(defs, "inbound_job", "acme").success and run(defs, "inbound_job", "globex").success
    assert [d["title"] for d in collections["acme"].find({})] == ["acme pump"]
    [globex] = list(collections["globex"].find({}))
    assert globex["number"] == 7 and globex["status"] == "completed"
    assert globex["updatedAt"].isoformat() == "2024-03-02T10:30:00+00:00"  # 11:30 in Berlin is 10:30 UTC
    assert os.listdir(folders["acme", "inbound"] / "processed") == ["a.json"]
    assert os.listdir(folders["globex", "inbound"] / "processed") == ["export.csv"]


def test_a_bad_csv_row_is_rejected_with_its_row_number_and_the_others_applied(two_customers):
    defs, folders, collections = two_customers
    drop(folders["globex", "inbound"], "export.csv",
         f"{HEADER}\n1;ok;OPEN;01/03/2024 10:00;01/03/2024 10:00;N\n2;bad;EXPLODED;01/03/2024 10:00;01/03/2024 10:00;N\n")
    assert run(defs, "inbound_job", "globex").success
    assert [d["number"] for d in collections["globex"].find({})] == [1]
    [error] = read_json(folders["globex", "inbound"] / "failed" / "export.csv.error.json")["errors"]
    assert error["index"] == 1 and error["reason"].startswith("row 3:") and "EXPLODED" in error["reason"]


def test_a_csv_customer_gets_its_outbound_files_as_csv_in_its_time_zone(two_customers):
    defs, folders, collections = two_customers
    collections["globex"].insert_one(tracos_document(42, status="on_hold"))
    collections["acme"].insert_one(tracos_document(43))
    assert run(defs, "outbound_job", "globex").success
    assert os.listdir(folders["globex", "outbound"]) == ["42.csv"]
    lines = (folders["globex", "outbound"] / "42.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == HEADER and lines[1].startswith("42;") and "ON HOLD" in lines[1]
    assert "02/03/2024 11:00" in lines[1]  # updatedAt 10:00 UTC, in Berlin
    assert os.listdir(folders["acme", "outbound"]) == []  # acme's run has not run: nothing crossed over
    assert collections["acme"].find_one({"number": 43})["isSynced"] is False


def test_the_sensor_requests_one_run_per_customer_with_files(two_customers):
    defs, folders, _ = two_customers
    repository = defs.get_repository_def()
    old = time.time() - 60
    for slug, name, content in (("acme", "a.json", "[]"), ("globex", "g.csv", HEADER + "\n")):
        os.utime(drop(folders[slug, "inbound"], name, content), (old, old))
    with dg.instance_for_test() as instance:
        with dg.build_sensor_context(instance=instance, resources={"client_folder": ClientFolder()},
                                     repository_def=repository) as context:
            requests = inbound_file_sensor.evaluate_tick(context).run_requests
        assert sorted(r.partition_key for r in requests) == ["acme", "globex"]
        assert {r.tags["tracos/inbound_customer"] for r in requests} == {"acme", "globex"}
        # One inbound run per customer at a time; the other customer still goes.
        create_run_for_test(instance, job_name="inbound_job", status=dg.DagsterRunStatus.STARTED,
                            tags={INBOUND_TAG: "true", "dagster/partition": "acme"})
        with dg.build_sensor_context(instance=instance, resources={"client_folder": ClientFolder()},
                                     repository_def=repository) as context:
            result = inbound_file_sensor.evaluate_tick(context)
        assert [r.partition_key for r in result.run_requests] == ["globex"]


def test_the_outbound_sensor_requests_a_run_only_for_customers_with_work(two_customers):
    defs, _, collections = two_customers
    collections["globex"].insert_one(tracos_document(1))
    with dg.instance_for_test() as instance:
        with dg.build_sensor_context(instance=instance, resources={"mongo": MongoResource()},
                                     repository_def=defs.get_repository_def()) as context:
            requests = outbound_pending_sensor.evaluate_tick(context).run_requests
    assert [r.partition_key for r in requests] == ["globex"]


def test_samples_job_writes_each_customers_format(two_customers):
    defs, folders, collections = two_customers
    config = {"ops": {"write_samples": {"config": {"count": 4}}}}
    for slug in ("acme", "globex"):
        assert defs.get_job_def("samples_job").execute_in_process(partition_key=slug, run_config=config).success
    assert {Path(name).suffix for name in os.listdir(folders["acme", "inbound"])} == {".json"}
    assert {Path(name).suffix for name in os.listdir(folders["globex", "inbound"])} == {".csv"}
    assert collections["acme"].count_documents({}) == collections["globex"].count_documents({}) == 4
    for slug in ("acme", "globex"):
        assert run(defs, "inbound_job", slug).success
        assert not (folders[slug, "inbound"] / "failed").exists()


def test_the_shipped_definitions_are_partitioned_by_the_customers_file():
    env = {**os.environ, "TRACOS_CUSTOMERS_FILE": str(ROOT / "data" / "customers.demo.yaml")}
    code = (
        "from tracos_integration.definitions import defs\n"
        "for name in ('inbound_job', 'outbound_job', 'sync_job', 'samples_job'):\n"
        "    job = defs.get_job_def(name)\n"
        "    print(name, sorted(job.partitions_def.get_partition_keys()))\n"
        "print('assets', sorted({spec.partitions_def is not None for spec in defs.assets}))\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.strip().splitlines()
    assert lines[:4] == [f"{name} ['acme', 'globex']" for name in ("inbound_job", "outbound_job", "sync_job", "samples_job")]
    assert lines[4] == "assets [True]"


def test_a_bad_customers_file_fails_the_load_with_one_line_naming_it(tmp_path):
    bad = tmp_path / "customers.yaml"
    bad.write_text("customers:\n  acme:\n    inbound_dir: a\n    outbound_dir: b\n    timezone: UTC\n    format: json\n"
                   "    database: tractian\n    collection: workorders\n    colour: blue\n")
    env = {**os.environ, "TRACOS_CUSTOMERS_FILE": str(bad)}
    completed = subprocess.run([sys.executable, "-c", "import tracos_integration.definitions"],
                               cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert completed.returncode != 0
    last = completed.stderr.strip().splitlines()[-1]
    assert "CustomersFileError" in last and str(bad) in last and "colour" in last


def test_customers_scale_out_through_dagsters_own_run_launchers():
    """The unit of parallel work is one customer's run: each launcher starts every run in
    its own container or pod, and the run queue's per-customer limits keep one inbound
    and one outbound run per customer (dagster.yaml)."""
    import yaml

    docker = yaml.safe_load((ROOT / "deploy" / "run-launchers" / "docker.yaml").read_text())
    assert docker["run_launcher"]["module"] == "dagster_docker" and docker["run_launcher"]["class"] == "DockerRunLauncher"
    assert "TRACOS_CUSTOMERS_FILE" in docker["run_launcher"]["config"]["env_vars"]
    kubernetes = yaml.safe_load((ROOT / "deploy" / "run-launchers" / "kubernetes.yaml").read_text())
    assert kubernetes["runLauncher"]["type"] == "K8sRunLauncher"
    for instance_file in ("dagster.yaml", "deploy/dagster.yaml"):
        limits = yaml.safe_load((ROOT / instance_file).read_text())["concurrency"]["runs"]["tag_concurrency_limits"]
        assert {limit["key"] for limit in limits if limit["value"] == {"applyLimitPerUniqueValue": True}} == {
            "tracos/inbound_customer", "tracos/outbound_customer"}


def test_a_sensor_reports_a_customers_check_again_and_again_without_a_storage_clash():
    """Dagster 1.13 keys check evaluations that no run made by (asset, check, run id "",
    partition): a second one for one customer's partition failed the tick (UNIQUE constraint)
    under `dagster dev`. Sensors report the customer in the metadata instead."""
    import dagster as dg

    from tracos_integration.assets import inbound_freshness_check, runless

    with dg.instance_for_test() as instance:
        for waited in (10.0, 7200.0, 10.0):  # passed, failed, passed: three reports for acme
            [event] = runless([inbound_freshness_check(waited, 3600, "acme")])
            instance.report_runless_asset_event(event)
        stored = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(event.asset_key, event.check_name), limit=10)
    assert len(stored) == 3
    assert event.metadata["customer"].value == "acme" and event.description.startswith("acme: ")
