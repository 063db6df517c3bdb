"""CONTRACT section 7: the sensors and the schedule, evaluated tick by tick."""

import os
import time

import dagster as dg
import pytest
from dagster._core.test_utils import create_run_for_test

from tracos_integration.definitions import defs
from tracos_integration.client.folder import ClientFolder
from tracos_integration.jobs import INBOUND_TAG, OUTBOUND_TAG
from tracos_integration.tags import FILES_LEFT_TAG
from tracos_integration.schedules import outbound_schedule
from tracos_integration.sensors import FILES_TAG, MAX_RUNS_PER_FILES, inbound_file_sensor, outbound_pending_sensor
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


def tick(instance):
    with dg.build_sensor_context(instance=instance, resources={"client_folder": ClientFolder()}) as context:
        return inbound_file_sensor.evaluate_tick(context)


def test_a_settled_file_gives_one_run_request(workspace, instance):
    settled(drop(workspace.inbound, "a.json", [client_order(1)]))
    result = tick(instance)
    assert len(result.run_requests) == 1
    assert result.run_requests[0].run_key.startswith("inbound-")
    assert result.run_requests[0].tags["tracos/inbound_file_count"] == "1"


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


def test_a_file_younger_than_the_settle_time_gives_a_skip(workspace, instance, monkeypatch):
    monkeypatch.setenv("INBOUND_SETTLE_SECONDS", "10")  # the one meaning of "settled", run and sensor alike
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
    create_run_for_test(instance, job_name="sync_job", status=status, tags={INBOUND_TAG: "true"})
    result = tick(instance)
    assert result.run_requests == [] and "sync_job run" in result.skip_message


def test_a_finished_inbound_run_does_not_block(workspace, instance):
    settled(drop(workspace.inbound, "a.json", [client_order(1)]))
    create_run_for_test(instance, job_name="inbound_job", status=dg.DagsterRunStatus.SUCCESS, tags={INBOUND_TAG: "true"})
    assert len(tick(instance).run_requests) == 1


def finish_run(instance, run_request, status):
    """A finished run that left the files in place (a successful one tags itself so)."""
    left = {FILES_LEFT_TAG: "1"} if status == dg.DagsterRunStatus.SUCCESS else {}
    create_run_for_test(instance, job_name="inbound_job", status=status,
                        tags={**run_request.tags, "dagster/run_key": run_request.run_key, INBOUND_TAG: "true", **left})


@pytest.mark.parametrize("status", [dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.SUCCESS])
def test_files_left_by_a_finished_run_are_tried_again_with_a_new_key(workspace, instance, status):
    settled(drop(workspace.inbound, "stuck.json", "[{"))  # e.g. left as still being written
    first = tick(instance).run_requests[0]
    finish_run(instance, first, status)
    second = tick(instance).run_requests[0]
    assert second.run_key != first.run_key and second.tags[FILES_TAG] == first.tags[FILES_TAG]


def test_retries_for_the_same_files_are_bounded_and_say_why(workspace, instance):
    settled(drop(workspace.inbound, "stuck.json", "[{"))
    for _ in range(MAX_RUNS_PER_FILES):  # runs that succeed and leave the file (failed runs back off: test_operations)
        finish_run(instance, tick(instance).run_requests[0], dg.DagsterRunStatus.SUCCESS)
    result = tick(instance)
    assert result.run_requests == [] and f"after {MAX_RUNS_PER_FILES} inbound runs" in result.skip_message
    settled(drop(workspace.inbound, "new.json", [client_order(1)]))
    assert len(tick(instance).run_requests) == 1  # a change in the folder starts afresh


def test_the_run_key_stays_small_with_many_files(workspace, instance):
    for n in range(300):
        settled(drop(workspace.inbound, f"{n:04d}.json", [client_order(n + 1)]))
    request = tick(instance).run_requests[0]
    assert len(request.run_key) < 40 and request.tags["tracos/inbound_file_count"] == "300"


def test_a_missing_inbound_folder_fails_the_tick_with_a_readable_reason(workspace, instance, monkeypatch, tmp_path):
    monkeypatch.setenv("DATA_INBOUND_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(Exception, match="does not exist"):
        tick(instance)


def test_an_invalid_setting_fails_the_tick(workspace, instance, monkeypatch):
    monkeypatch.setenv("INBOUND_SETTLE_SECONDS", "soon")
    with pytest.raises(Exception, match="INBOUND_SETTLE_SECONDS='soon' is not a finite number"):
        tick(instance)


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
    create_run_for_test(instance, job_name="outbound_job", status=dg.DagsterRunStatus.STARTED, tags={OUTBOUND_TAG: "true"})
    assert outbound_tick(instance, MongoResource(uri=workspace.mongo_uri)).run_requests == []


def test_unreachable_tracos_fails_the_tick_naming_the_server_without_credentials(workspace, instance, monkeypatch):
    monkeypatch.setattr("tracos_integration.sensors.SENSOR_RETRY_BUDGET_SECONDS", 0.2)
    mongo = MongoResource(uri="mongodb://user:pw@127.0.0.1:9/x", server_selection_timeout_ms=100)
    with pytest.raises(Exception) as failure:
        outbound_tick(instance, mongo)
    assert "still unreachable" in str(failure.value) and "127.0.0.1:9" in str(failure.value)
    assert "pw" not in str(failure.value)


def schedule_tick(instance, workspace):
    resources = {"mongo": MongoResource(uri=workspace.mongo_uri)}
    with dg.build_schedule_context(instance=instance, resources=resources) as context:
        return outbound_schedule.evaluate_tick(context)


def test_outbound_schedule_requests_a_run_when_documents_wait(workspace, instance):
    workspace.collection.insert_one(tracos_document(1))
    assert len(schedule_tick(instance, workspace).run_requests) == 1


def test_outbound_schedule_skips_with_the_reason_when_nothing_waits(workspace, instance):
    workspace.collection.insert_one(tracos_document(1, isSynced=True))
    result = schedule_tick(instance, workspace)
    assert result.run_requests == [] and "no unsynced work orders" in result.skip_message


def test_outbound_schedule_skips_while_an_outbound_run_is_in_flight(workspace, instance):
    workspace.collection.insert_one(tracos_document(1))
    create_run_for_test(instance, job_name="outbound_job", status=dg.DagsterRunStatus.STARTED, tags={OUTBOUND_TAG: "true"})
    result = schedule_tick(instance, workspace)
    assert result.run_requests == [] and "outbound_job run" in result.skip_message


def test_sensors_and_schedule_run_by_default_with_contract_names():
    repository = defs.get_repository_def()
    for name in ("inbound_file_sensor", "outbound_pending_sensor"):
        assert repository.get_sensor_def(name).default_status == dg.DefaultSensorStatus.RUNNING
    schedule = repository.get_schedule_def("outbound_schedule")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert schedule.cron_schedule == "* * * * *" and schedule.job_name == "outbound_job"
    assert repository.get_sensor_def("inbound_file_sensor").job_name == "inbound_job"


def test_dagster_yaml_turns_telemetry_and_the_pop_up_off_and_limits_runs_per_customer():
    import yaml
    from pathlib import Path

    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "dagster.yaml").read_text())
    assert config["telemetry"]["enabled"] is False and config["nux"]["enabled"] is False
    assert "run_retries" not in config
    limits = {limit["key"]: limit for limit in config["concurrency"]["runs"]["tag_concurrency_limits"]}
    for key in ("tracos/inbound_customer", "tracos/outbound_customer"):  # one per customer, customers side by side
        assert limits[key]["limit"] == 1 and limits[key]["value"] == {"applyLimitPerUniqueValue": True}


def test_only_untranslatable_documents_left_gives_a_skip_until_tracos_changes(workspace, instance):
    workspace.collection.insert_many([tracos_document(1, status="exploded"), tracos_document(2)])
    mongo = MongoResource(uri=workspace.mongo_uri)
    assert len(outbound_tick(instance, mongo).run_requests) == 1
    from tracos_integration.definitions import defs

    result = defs.get_job_def("outbound_job").execute_in_process(instance=instance, tags={OUTBOUND_TAG: "true"})
    assert result.success and workspace.collection.count_documents({"isSynced": {"$ne": True}}) == 1
    with dg.build_sensor_context(instance=instance, resources={"mongo": mongo}) as context:
        skip = outbound_pending_sensor.evaluate_tick(context)
        assert skip.run_requests == [] and "could not translate" in skip.skip_message
        workspace.collection.insert_one(tracos_document(3))  # new work for outbound
        assert len(outbound_pending_sensor.evaluate_tick(context).run_requests) == 1


def test_a_file_stamped_by_a_clock_running_ahead_still_launches_a_run(workspace, instance, monkeypatch):
    monkeypatch.setenv("INBOUND_SETTLE_SECONDS", "10")
    path = drop(workspace.inbound, "ahead.json", [client_order(1)])
    ahead = time.time() + 3600  # copied with its times from a machine whose clock is an hour ahead
    os.utime(path, (ahead, ahead))
    assert len(tick(instance).run_requests) == 1


def test_a_run_tags_itself_with_the_files_it_left_and_only_those_runs_count_toward_the_bound(workspace, tmp_path):
    """What the bound reads: a run that left a file (here, a symbolic link) says how many;
    a run that archived them all says nothing, so the same file sent again is a new drop."""
    target = drop(tmp_path, "elsewhere.json", [client_order(2)])
    (workspace.inbound / "link.json").symlink_to(target)
    left = workspace.run("inbound_job")
    assert workspace.instance.get_run_by_id(left.run_id).tags[FILES_LEFT_TAG] == "1"
    (workspace.inbound / "link.json").unlink()
    drop(workspace.inbound, "a.json", [client_order(1)])
    archived = workspace.run("inbound_job")
    assert workspace.processed() == ["a.json"]
    assert FILES_LEFT_TAG not in workspace.instance.get_run_by_id(archived.run_id).tags
