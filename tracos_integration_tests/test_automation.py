"""CONTRACT section 7: the sensors and the schedule, evaluated tick by tick."""

import json
import os
import time

import dagster as dg
import pytest
from dagster._core.test_utils import create_run_for_test

from tracos_integration.definitions import defs
from tracos_integration.jobs import INBOUND_CONCURRENCY_TAG, OUTBOUND_CONCURRENCY_TAG
from tracos_integration.schedules import outbound_schedule
from tracos_integration.sensors import BATCH_TAG, MAX_RUNS_PER_BATCH, inbound_file_sensor, outbound_pending_sensor
from tracos_integration.tracos.resource import MongoResource
from tracos_integration_tests.factories import client_order, drop, tracos_document


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def settled(path, age=60):
    old = time.time() - age
    os.utime(path, (old, old))
    return path


def tick(instance, cursor=None):
    return inbound_file_sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor))


def test_a_settled_file_gives_one_run_request(workspace, instance):
    settled(drop(workspace.inbound, "a.json", [client_order(1)]))
    result = tick(instance)
    assert len(result.run_requests) == 1
    assert result.run_requests[0].run_key.startswith("inbound-")
    assert json.loads(result.cursor) == {"last_run_key": result.run_requests[0].run_key, "files": 1}


def test_the_same_files_give_the_same_run_key(workspace, instance):
    settled(drop(workspace.inbound, "a.json", [client_order(1)]))
    assert tick(instance).run_requests[0].run_key == tick(instance).run_requests[0].run_key


def test_a_new_file_gives_a_new_run_key(workspace, instance):
    settled(drop(workspace.inbound, "a.json", [client_order(1)]))
    first = tick(instance).run_requests[0].run_key
    settled(drop(workspace.inbound, "b.json", [client_order(2)]))
    assert tick(instance).run_requests[0].run_key != first


@pytest.mark.parametrize("name", [".hidden.json", "notes.txt", "a.json.tmp", ".a.json.123.tmp"])
def test_hidden_temporary_and_other_files_give_a_skip(workspace, instance, name):
    settled(drop(workspace.inbound, name, [client_order(1)]))
    result = tick(instance)
    assert result.run_requests == [] and "no settled *.json files" in result.skip_message


def test_a_file_still_being_written_gives_a_skip(workspace, instance):
    drop(workspace.inbound, "fresh.json", "[")
    result = tick(instance)
    assert result.run_requests == [] and "1 still being written" in result.skip_message


def test_files_in_subfolders_give_a_skip(workspace, instance):
    (workspace.inbound / "processed").mkdir()
    settled(drop(workspace.inbound / "processed", "a.json", [client_order(1)]))
    assert tick(instance).run_requests == []


@pytest.mark.parametrize("status", [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED])
def test_an_inbound_run_in_flight_gives_a_skip(workspace, instance, status):
    settled(drop(workspace.inbound, "a.json", [client_order(1)]))
    create_run_for_test(instance, job_name="sync_job", status=status, tags={INBOUND_CONCURRENCY_TAG: "true"})
    result = tick(instance)
    assert result.run_requests == [] and "sync_job run" in result.skip_message


def test_a_finished_inbound_run_does_not_block(workspace, instance):
    settled(drop(workspace.inbound, "a.json", [client_order(1)]))
    create_run_for_test(instance, job_name="inbound_job", status=dg.DagsterRunStatus.SUCCESS, tags={INBOUND_CONCURRENCY_TAG: "true"})
    assert len(tick(instance).run_requests) == 1


def finish_run(instance, run_request, status):
    create_run_for_test(instance, job_name="inbound_job", status=status,
                        tags={**run_request.tags, "dagster/run_key": run_request.run_key, INBOUND_CONCURRENCY_TAG: "true"})


@pytest.mark.parametrize("status", [dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.SUCCESS])
def test_files_left_by_a_finished_run_are_tried_again_with_a_new_key(workspace, instance, status):
    settled(drop(workspace.inbound, "stuck.json", "[{"))  # e.g. deferred as still being written
    first = tick(instance).run_requests[0]
    finish_run(instance, first, status)
    second = tick(instance).run_requests[0]
    assert second.run_key != first.run_key and second.tags[BATCH_TAG] == first.tags[BATCH_TAG]


def test_retries_of_one_batch_are_bounded_and_say_why(workspace, instance):
    settled(drop(workspace.inbound, "stuck.json", "[{"))
    for _ in range(MAX_RUNS_PER_BATCH):
        finish_run(instance, tick(instance).run_requests[0], dg.DagsterRunStatus.FAILURE)
    result = tick(instance)
    assert result.run_requests == [] and f"after {MAX_RUNS_PER_BATCH} inbound runs" in result.skip_message
    settled(drop(workspace.inbound, "new.json", [client_order(1)]))
    assert len(tick(instance).run_requests) == 1  # a change in the folder starts afresh


def test_the_cursor_stays_small_with_many_files(workspace, instance):
    for n in range(300):
        settled(drop(workspace.inbound, f"{n:04d}.json", [client_order(n + 1)]))
    result = tick(instance)
    assert len(result.cursor) < 100 and json.loads(result.cursor)["files"] == 300


def test_a_missing_inbound_folder_gives_a_readable_skip(workspace, instance, monkeypatch, tmp_path):
    monkeypatch.setenv("DATA_INBOUND_DIR", str(tmp_path / "nowhere"))
    assert "does not exist" in tick(instance).skip_message


def outbound_tick(instance, mongo):
    with dg.build_sensor_context(instance=instance, resources={"mongo": mongo}) as context:
        return outbound_pending_sensor.evaluate_tick(context)


def test_unsynced_tracos_documents_give_an_outbound_request(workspace, instance):
    workspace.collection.insert_many([tracos_document(1), tracos_document(2, isSynced=True)])
    result = outbound_tick(instance, MongoResource(uri=workspace.mongo_uri))
    assert len(result.run_requests) == 1
    assert result.run_requests[0].tags["tracos/unsynced_at_launch"] == "1"


def test_nothing_unsynced_gives_a_skip(workspace, instance):
    workspace.collection.insert_one(tracos_document(1, isSynced=True))
    result = outbound_tick(instance, MongoResource(uri=workspace.mongo_uri))
    assert result.run_requests == [] and "no unsynced work orders" in result.skip_message


def test_an_outbound_run_in_flight_gives_a_skip(workspace, instance):
    workspace.collection.insert_one(tracos_document(1))
    create_run_for_test(instance, job_name="outbound_job", status=dg.DagsterRunStatus.STARTED, tags={OUTBOUND_CONCURRENCY_TAG: "true"})
    assert outbound_tick(instance, MongoResource(uri=workspace.mongo_uri)).run_requests == []


def test_unreachable_tracos_gives_a_skip_not_a_crash(workspace, instance, monkeypatch):
    monkeypatch.setattr("tracos_integration.sensors.SENSOR_RETRY_BUDGET_SECONDS", 0.2)
    mongo = MongoResource(uri="mongodb://user:pw@127.0.0.1:9/x", server_selection_timeout_ms=100)
    result = outbound_tick(instance, mongo)
    assert result.run_requests == [] and "still unreachable" in result.skip_message and "pw" not in result.skip_message


def test_outbound_schedule_requests_a_run(instance):
    context = dg.build_schedule_context(instance=instance)
    assert len(outbound_schedule.evaluate_tick(context).run_requests) == 1


def test_outbound_schedule_skips_while_an_outbound_run_is_in_flight(instance):
    create_run_for_test(instance, job_name="outbound_job", status=dg.DagsterRunStatus.STARTED, tags={OUTBOUND_CONCURRENCY_TAG: "true"})
    result = outbound_schedule.evaluate_tick(dg.build_schedule_context(instance=instance))
    assert result.run_requests == [] and "outbound_job run" in result.skip_message


def test_sensors_and_schedule_run_by_default_with_contract_names():
    repository = defs.get_repository_def()
    for name in ("inbound_file_sensor", "outbound_pending_sensor"):
        assert repository.get_sensor_def(name).default_status == dg.DefaultSensorStatus.RUNNING
    schedule = repository.get_schedule_def("outbound_schedule")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert schedule.cron_schedule == "* * * * *" and schedule.job_name == "outbound_job"
    assert repository.get_sensor_def("inbound_file_sensor").job_name == "inbound_job"


def test_dagster_yaml_limits_inbound_and_outbound_runs_to_one_each():
    import yaml
    from pathlib import Path

    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "dagster.yaml").read_text())
    limits = {item["key"]: item["limit"] for item in config["concurrency"]["runs"]["tag_concurrency_limits"]}
    assert limits == {INBOUND_CONCURRENCY_TAG: 1, OUTBOUND_CONCURRENCY_TAG: 1}
    assert config["telemetry"]["enabled"] is False and config["run_retries"]["enabled"] is True


def test_only_untranslatable_documents_left_gives_a_skip_until_tracos_changes(workspace, instance):
    workspace.collection.insert_many([tracos_document(1, status="exploded"), tracos_document(2)])
    mongo = MongoResource(uri=workspace.mongo_uri)
    assert len(outbound_tick(instance, mongo).run_requests) == 1
    from tracos_integration.definitions import defs

    result = defs.get_job_def("outbound_job").execute_in_process(instance=instance, tags={OUTBOUND_CONCURRENCY_TAG: "true"})
    assert result.success and workspace.collection.count_documents({"isSynced": {"$ne": True}}) == 1
    with dg.build_sensor_context(instance=instance, resources={"mongo": mongo}) as context:
        skip = outbound_pending_sensor.evaluate_tick(context)
        assert skip.run_requests == [] and "could not translate" in skip.skip_message
        workspace.collection.insert_one(tracos_document(3))  # new work for outbound
        assert len(outbound_pending_sensor.evaluate_tick(context).run_requests) == 1
