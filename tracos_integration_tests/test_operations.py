"""Operations at a glance: the two sides as assets, their history, their health checks,
run tags and one summary per run (what an operator reads in the UI)."""

import os
import time
from datetime import datetime, timedelta, timezone

import dagster as dg
from dagster._core.test_utils import create_run_for_test

from tracos_integration.assets import (
    CLIENT_INBOUND,
    CLIENT_OUTBOUND,
    INBOUND_FRESH,
    NO_FILES_LEFT_BEHIND,
    NO_REJECTED_RECORDS,
    OUTBOUND_FRESH,
    TRACOS_WORK_ORDERS,
)
from tracos_integration.client.folder import ClientFolder
from tracos_integration.definitions import defs
from tracos_integration.health import LAST_RUN_SUCCEEDED
from tracos_integration.jobs import INBOUND_TAG
from tracos_integration.sensors import inbound_file_sensor
from tracos_integration_tests.conftest import inbound_metadata, outbound_metadata
from tracos_integration_tests.factories import client_order, drop, tracos_document

UTC = timezone.utc


def check_outcome(workspace, result, key, name):
    evaluations = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    [evaluation] = [e for e in evaluations if e.asset_key == key and e.check_name == name]
    return evaluation


def test_the_two_sides_are_assets_in_the_catalog_with_owners_kinds_and_lineage():
    repository = defs.get_repository_def()
    graph = repository.asset_graph
    assert {CLIENT_INBOUND, TRACOS_WORK_ORDERS, CLIENT_OUTBOUND} <= set(graph.get_all_asset_keys())
    assert graph.get(TRACOS_WORK_ORDERS).parent_keys == {CLIENT_INBOUND}
    assert graph.get(CLIENT_OUTBOUND).parent_keys == {TRACOS_WORK_ORDERS}
    for key in (CLIENT_INBOUND, TRACOS_WORK_ORDERS, CLIENT_OUTBOUND):
        node = graph.get(key)
        assert node.owners == ["team:integrations"] and node.kinds and node.description
    checks = {(key.asset_key, key.name) for key in graph.asset_check_keys}
    assert checks == {
        (TRACOS_WORK_ORDERS, NO_REJECTED_RECORDS), (CLIENT_INBOUND, NO_FILES_LEFT_BEHIND),
        (CLIENT_INBOUND, INBOUND_FRESH), (CLIENT_OUTBOUND, OUTBOUND_FRESH),
        (TRACOS_WORK_ORDERS, LAST_RUN_SUCCEEDED), (CLIENT_OUTBOUND, LAST_RUN_SUCCEEDED),
    }


def test_an_inbound_run_with_rejects_records_its_counts_warns_and_is_tagged(workspace):
    drop(workspace.inbound, "good.json", [client_order(1), client_order(2)])
    drop(workspace.inbound, "bad.json", [client_order(3, isDone=True, isActive=True)])
    drop(workspace.inbound, "broken.json", "{")
    result = workspace.run("inbound_job")
    assert result.success
    [materialization] = result.asset_materializations_for_node("apply_inbound_files")
    assert materialization.asset_key == TRACOS_WORK_ORDERS
    counts = {name: value.value for name, value in materialization.metadata.items()}
    assert counts == {"read": 4, "inserted": 2, "updated": 0, "unchanged": 0, "stale": 0, "rejected": 2}
    rejected = check_outcome(workspace, result, TRACOS_WORK_ORDERS, NO_REJECTED_RECORDS)
    assert not rejected.passed and rejected.severity == dg.AssetCheckSeverity.WARN
    assert workspace.instance.get_run_by_id(result.run_id).tags["tracos/rejected"] == "2"
    assert check_outcome(workspace, result, CLIENT_INBOUND, NO_FILES_LEFT_BEHIND).passed


def test_a_clean_inbound_run_passes_its_checks_and_carries_no_reject_tag(workspace):
    drop(workspace.inbound, "good.json", [client_order(1)])
    result = workspace.run("inbound_job")
    assert check_outcome(workspace, result, TRACOS_WORK_ORDERS, NO_REJECTED_RECORDS).passed
    assert "tracos/rejected" not in workspace.instance.get_run_by_id(result.run_id).tags


def test_the_inbound_counts_add_up_in_one_summary(workspace, monkeypatch):
    monkeypatch.setenv("INBOUND_SETTLE_SECONDS", "60")
    drop(workspace.inbound, "good.json", [client_order(1), client_order(1, summary="older", lastUpdateDate="2024-01-01T00:00:00Z")])
    drop(workspace.inbound, "bad.json", [client_order(3, orderNo="x")])
    drop(workspace.inbound, "writing.json", "[{")  # young and unparseable: left in place
    metadata = inbound_metadata(workspace.run("inbound_job"))
    records = ("inserted", "updated", "unchanged", "stale", "rejected")
    assert metadata["read"] == sum(metadata[name] for name in records) == 3
    assert metadata["files_read"] == metadata["files_processed"] + metadata["files_failed"] == 2
    assert metadata["files_left"] == metadata["files_deferred"] == 1
    summary = metadata["summary"]
    assert "| inserted | 1 |" in summary and "| stale | 1 |" in summary and "1 still settling" in summary


def test_files_left_behind_make_the_inbound_folder_warn(workspace, monkeypatch):
    monkeypatch.setenv("INBOUND_SETTLE_SECONDS", "60")
    drop(workspace.inbound, "writing.json", "[{")
    result = workspace.run("inbound_job")
    left = check_outcome(workspace, result, CLIENT_INBOUND, NO_FILES_LEFT_BEHIND)
    assert not left.passed and left.severity == dg.AssetCheckSeverity.WARN and "1 deferred" in left.description


def test_an_outbound_run_records_what_it_exported_and_the_backlog(workspace):
    workspace.collection.insert_many([tracos_document(1), tracos_document(2), tracos_document(3, status="exploded")])
    result = workspace.run("outbound_job")
    assert result.success
    [materialization] = result.asset_materializations_for_node("export_unsynced")
    assert materialization.asset_key == CLIENT_OUTBOUND
    assert materialization.metadata["exported"].value == 2 and materialization.metadata["skipped"].value == 1
    metadata = outbound_metadata(result)
    assert metadata["backlog"] == 1 and "| still unsynced in TracOS | 1 |" in metadata["summary"]
    assert workspace.instance.get_run_by_id(result.run_id).tags["tracos/skipped"] == "1"


def test_an_unsynced_document_older_than_the_window_turns_outbound_red(workspace, monkeypatch):
    monkeypatch.setenv("FRESHNESS_WINDOW_SECONDS", "3600")
    long_ago = datetime.now(UTC) - timedelta(days=2)
    workspace.collection.insert_one(tracos_document(1, status="exploded", updatedAt=long_ago))  # never exportable
    result = workspace.run("outbound_job")
    fresh = check_outcome(workspace, result, CLIENT_OUTBOUND, OUTBOUND_FRESH)
    assert not fresh.passed and fresh.severity == dg.AssetCheckSeverity.ERROR


def test_a_file_waiting_past_the_window_turns_inbound_red_once_per_change(workspace, monkeypatch):
    monkeypatch.setenv("FRESHNESS_WINDOW_SECONDS", "600")
    path = drop(workspace.inbound, "a.json", [client_order(1)])
    os.utime(path, (time.time() - 3600,) * 2)  # an hour in the folder
    with dg.instance_for_test() as instance:
        create_run_for_test(instance, job_name="inbound_job", status=dg.DagsterRunStatus.STARTED, tags={INBOUND_TAG: "true"})
        with dg.build_sensor_context(instance=instance, resources={"client_folder": ClientFolder()}) as context:
            first = inbound_file_sensor.evaluate_tick(context)
            [evaluation] = first.asset_events
            assert evaluation.check_name == INBOUND_FRESH and not evaluation.passed
            assert evaluation.severity == dg.AssetCheckSeverity.ERROR and "60 min" in evaluation.description
            context.update_cursor(first.cursor)
            assert inbound_file_sensor.evaluate_tick(context).asset_events == []  # unchanged: not reported again


def test_an_idle_system_starts_no_runs(workspace):
    """The schedule and both sensors skip, with their reason, when nothing waits."""
    from tracos_integration.schedules import outbound_schedule
    from tracos_integration.sensors import outbound_pending_sensor
    from tracos_integration.tracos.resource import MongoResource

    with dg.instance_for_test() as instance:
        with dg.build_sensor_context(instance=instance, resources={"client_folder": ClientFolder()}) as context:
            assert inbound_file_sensor.evaluate_tick(context).run_requests == []
        resources = {"mongo": MongoResource(uri=workspace.mongo_uri)}
        with dg.build_sensor_context(instance=instance, resources=resources) as context:
            assert outbound_pending_sensor.evaluate_tick(context).run_requests == []
        with dg.build_schedule_context(instance=instance, resources=resources) as context:
            assert outbound_schedule.evaluate_tick(context).run_requests == []
