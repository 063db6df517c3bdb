"""The contract's rules through the jobs and the sensor, on every transport (CONTRACT 2: a
folder is a local path, sftp://user@host[:port]/path or s3://bucket/prefix, and every rule
holds on each): the same tests, parametrised over local, SFTP (a real OpenSSH sshd) and S3
(moto's server), both started on 127.0.0.1 by remote_servers.py."""

from __future__ import annotations

import json

import dagster as dg
import pytest
import yaml

from tracos_integration.sensors import inbound_file_sensor
from tracos_integration.client.folder import ClientFolder
from tracos_integration_tests.conftest import output_metadata
from tracos_integration_tests.factories import client_order, tracos_document
from tracos_integration_tests.test_remote_folders import Side, _local, _s3, _sftp

pytest_plugins = ["tracos_integration_tests.remote_servers"]


@pytest.fixture(params=["local", "sftp", "s3"])
def transport(request, tmp_path, workspace, monkeypatch) -> Side:
    """The workspace's folders on one transport, set as DATA_INBOUND_DIR / DATA_OUTBOUND_DIR."""
    if request.param == "local":
        side = _local(tmp_path)
        inbound, outbound = str(tmp_path / "in"), str(tmp_path / "out")
    elif request.param == "sftp":
        side = _sftp(request.getfixturevalue("sshd"))
        server = side.extra["server"]
        base = side.extra["inbound"].parent.name
        inbound, outbound = server.url(base, "in"), server.url(base, "out")
        monkeypatch.setenv("SFTP_KEY_FILE", server.key_file)
        monkeypatch.setenv("SFTP_KNOWN_HOSTS", server.known_hosts)
    else:
        side = _s3(request.getfixturevalue("s3_env"))
        inbound, outbound = f"s3://{side.extra['bucket']}/in", f"s3://{side.extra['bucket']}/out"
    monkeypatch.setenv("DATA_INBOUND_DIR", inbound)
    monkeypatch.setenv("DATA_OUTBOUND_DIR", outbound)
    side.extra["urls"] = (inbound, outbound)
    return side


def put_json(side: Side, name: str, document, age: float = 3600) -> None:
    side.put(name, json.dumps(document).encode(), age)


def test_inbound_applies_valid_records_archives_each_file_and_reports_the_bad_ones(transport, workspace):
    put_json(transport, "good.json", [client_order(1), client_order(2)])
    put_json(transport, "mixed.json", [client_order(3), {"orderNo": "x"}])
    transport.put("broken.json", b'{"orderNo": 4,', 3600)

    result = workspace.run("inbound_job")

    assert result.success
    assert sorted(d["number"] for d in workspace.collection.find({})) == [1, 2, 3]
    assert transport.names("processed") == ["good.json"]
    assert transport.names("failed") == ["broken.json", "broken.json.error.json", "mixed.json",
                                         "mixed.json.error.json"]
    report = json.loads(transport.content("failed", "mixed.json.error.json"))
    assert report["file"] == "mixed.json" and report["errors_total"] == 1 and report["errors"][0]["index"] == 1
    assert [name for name in transport.names("") if name.endswith(".json")] == []
    counts = output_metadata(result, "archive_inbound_files")
    assert (counts["inserted"], counts["rejected"]) == (3, 2)  # the broken file is one rejection


def test_running_the_same_files_again_writes_nothing(transport, workspace):
    put_json(transport, "a.json", [client_order(1)])
    assert workspace.run("inbound_job").success
    put_json(transport, "a.json", [client_order(1)])  # the same file dropped again

    result = workspace.run("inbound_job")

    assert result.success
    counts = output_metadata(result, "archive_inbound_files")
    assert (counts["inserted"], counts["updated"], counts["unchanged"]) == (0, 0, 1)
    assert transport.names("processed") == ["a.1.json", "a.json"]  # a clash gets a suffix, never overwrites


def test_outbound_writes_one_file_per_unsynced_document_then_marks_it(transport, workspace):
    workspace.collection.insert_many([tracos_document(7), tracos_document(8, isSynced=True)])

    result = workspace.run("outbound_job")

    assert result.success
    assert transport.names("out") == ["7.json"]  # nothing else: no temporary file left behind
    assert json.loads(transport.content("out", "7.json"))["orderNo"] == 7
    assert workspace.collection.find_one({"number": 7})["isSynced"] is True


def test_the_sensor_requests_an_inbound_run_for_settled_remote_files(transport, workspace):
    put_json(transport, "a.json", [client_order(1)])
    with dg.instance_for_test() as instance:
        with dg.build_sensor_context(instance=instance, resources={"client_folder": ClientFolder()}) as context:
            result = inbound_file_sensor.evaluate_tick(context)
    assert len(result.run_requests) == 1
    assert result.run_requests[0].tags["tracos/inbound_file_count"] == "1"


def test_no_run_log_or_metadata_shows_a_user_name_or_a_secret(transport, workspace, monkeypatch):
    put_json(transport, "a.json", [client_order(1)])
    workspace.collection.insert_one(tracos_document(9))
    result = workspace.run("sync_job")
    assert result.success
    shown = " ".join(f"{event.message} {getattr(event.event_specific_data, 'metadata', '')}"
                     for event in result.all_events)
    inbound = transport.extra["urls"][0]
    if transport.transport == "sftp":
        user = inbound.split("://", 1)[1].split("@", 1)[0]
        assert f"{user}@" not in shown
    assert "s3cr3t-never-shown" not in shown


def test_a_customers_file_with_one_sftp_and_one_s3_customer_syncs_each_in_its_own_folders(
        request, workspace, tmp_path, monkeypatch):
    sftp, s3 = _sftp(request.getfixturevalue("sshd")), _s3(request.getfixturevalue("s3_env"))
    server, bucket = sftp.extra["server"], s3.extra["bucket"]
    base = sftp.extra["inbound"].parent.name
    entries = {
        "acme": {"inbound_dir": server.url(base, "in"), "outbound_dir": server.url(base, "out"), "timezone": "UTC",
                 "format": "json", "database": "tractian", "collection": "workorders_acme",
                 "sftp_key_file": server.key_file},
        "globex": {"inbound_dir": f"s3://{bucket}/in", "outbound_dir": f"s3://{bucket}/out", "timezone": "UTC",
                   "format": "json", "database": "tractian", "collection": "workorders_globex"},
    }
    customers_file = tmp_path / "customers.yaml"
    customers_file.write_text(yaml.safe_dump({"customers": entries}), encoding="utf-8")
    monkeypatch.setenv("TRACOS_CUSTOMERS_FILE", str(customers_file))
    monkeypatch.setenv("SFTP_KNOWN_HOSTS", server.known_hosts)
    put_json(sftp, "a.json", [client_order(1)])
    put_json(s3, "g.json", [client_order(2)])

    from tracos_integration.client.io_manager import ClientFolderIOManager
    from tracos_integration.customers import load_customers
    from tracos_integration.jobs import build_jobs
    from tracos_integration.tracos.resource import MongoResource

    folder = ClientFolder()
    defs = dg.Definitions(jobs=build_jobs(dg.StaticPartitionsDefinition(["acme", "globex"]),
                                          load_customers(customers_file)),
                          resources={"mongo": MongoResource(), "client_folder": folder,
                                     "client_folder_io_manager": ClientFolderIOManager(folder=folder)})
    for slug in ("acme", "globex"):
        assert defs.get_job_def("sync_job").execute_in_process(partition_key=slug).success

    collections = {slug: MongoResource(collection=f"workorders_{slug}").get_collection() for slug in entries}
    assert [d["number"] for d in collections["acme"].find({})] == [1]
    assert [d["number"] for d in collections["globex"].find({})] == [2]
    assert sftp.names("processed") == ["a.json"] and s3.names("processed") == ["g.json"]
