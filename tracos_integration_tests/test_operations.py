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
    assert metadata["files_left"] == metadata["files_left_being_written"] == 1
    summary = metadata["summary"]
    assert "| inserted | 1 |" in summary and "| stale | 1 |" in summary and "1 still being written" in summary


def test_files_left_behind_make_the_inbound_folder_warn(workspace, monkeypatch):
    monkeypatch.setenv("INBOUND_SETTLE_SECONDS", "60")
    drop(workspace.inbound, "writing.json", "[{")
    result = workspace.run("inbound_job")
    left = check_outcome(workspace, result, CLIENT_INBOUND, NO_FILES_LEFT_BEHIND)
    assert not left.passed and left.severity == dg.AssetCheckSeverity.WARN
    assert "1 still being written" in left.description  # the run summary's words


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
    assert fresh.metadata["valid_until"].value > time.time() + 1750  # half the window: every judgement says


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
            # The sensor's judgement, like sync_health_sensor's, says until when it holds: when it is
            # the latest, the UI shows that too (a stopped inbound_file_sensor turns it stale, not silent).
            assert time.time() + 250 < evaluation.metadata["valid_until"].value <= time.time() + 300
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


# -- health on its own, today's totals, failed files, backlog (issue 18) -------------------------

def run_in(instance, job_name):
    return defs.get_job_def(job_name).execute_in_process(instance=instance, raise_on_error=False)


def health_tick(instance, workspace):
    """One sync_health_sensor tick; its events are stored, as the daemon stores them."""
    from tracos_integration.health import sync_health_sensor
    from tracos_integration.tracos.resource import MongoResource

    resources = {"client_folder": ClientFolder(), "mongo": MongoResource(uri=workspace.mongo_uri)}
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        result = sync_health_sensor.evaluate_tick(context)
    for event in result.asset_events:
        instance.report_runless_asset_event(event)
    return result


def checks_of(result, name):
    return [event for event in result.asset_events if isinstance(event, dg.AssetCheckEvaluation) and event.check_name == name]


def observed(result, key):
    [observation] = [e for e in result.asset_events if isinstance(e, dg.AssetObservation) and e.asset_key == key]
    return {name: value.value for name, value in observation.metadata.items()}


def test_files_waiting_past_the_window_turn_inbound_red_while_inbound_file_sensor_is_stopped(workspace, monkeypatch):
    """sync_health_sensor judges freshness on its own: inbound_file_sensor never ticks here."""
    monkeypatch.setenv("FRESHNESS_WINDOW_SECONDS", "600")
    for n in (1, 2, 3):
        os.utime(drop(workspace.inbound, f"{n}.json", [client_order(n)]), (time.time() - 3600 * n,) * 2)
    with dg.instance_for_test() as instance:
        first = health_tick(instance, workspace)
        [fresh] = checks_of(first, INBOUND_FRESH)
        assert not fresh.passed and fresh.severity == dg.AssetCheckSeverity.ERROR and "180 min" in fresh.description
        assert observed(first, CLIENT_INBOUND)["files_waiting"] == 3
        assert observed(first, CLIENT_INBOUND)["oldest_wait_seconds"] >= 3 * 3600
        assert checks_of(health_tick(instance, workspace), INBOUND_FRESH) == []  # unchanged: recorded once
        for n in (1, 2, 3):
            (workspace.inbound / f"{n}.json").unlink()
        [fresh] = checks_of(health_tick(instance, workspace), INBOUND_FRESH)
        assert fresh.passed


def test_a_missing_inbound_folder_turns_inbound_red_with_the_reason(workspace):
    workspace.inbound.rmdir()
    with dg.instance_for_test() as instance:
        [fresh] = checks_of(health_tick(instance, workspace), INBOUND_FRESH)
    assert not fresh.passed and "does not exist" in fresh.description


def test_a_failed_run_turns_its_asset_red_until_a_run_succeeds(workspace):
    from tracos_integration.health import LAST_RUN_SUCCEEDED

    workspace.collection.insert_one(tracos_document(1))
    workspace.outbound.rmdir()
    with dg.instance_for_test() as instance:
        failed = run_in(instance, "outbound_job")
        assert not failed.success
        [red] = [c for c in checks_of(health_tick(instance, workspace), LAST_RUN_SUCCEEDED) if c.asset_key == CLIENT_OUTBOUND]
        assert not red.passed and red.severity == dg.AssetCheckSeverity.ERROR
        assert "does not exist" in red.description and red.metadata["run_id"].value == failed.run_id
        assert red.metadata["run"].value.endswith(f"/runs/{failed.run_id}")
        workspace.outbound.mkdir()
        assert run_in(instance, "outbound_job").success
        [green] = [c for c in checks_of(health_tick(instance, workspace), LAST_RUN_SUCCEEDED) if c.asset_key == CLIENT_OUTBOUND]
        assert green.passed


def fail_runs(instance, count, tag):
    for _ in range(count):
        create_run_for_test(instance, job_name="outbound_job", status=dg.DagsterRunStatus.FAILURE, tags={tag: "true"})


def test_outbound_launches_back_off_after_consecutive_failures(workspace):
    from tracos_integration.health import BACKOFF_AFTER_FAILURES, backoff_skip
    from tracos_integration.jobs import OUTBOUND_TAG
    from tracos_integration.schedules import outbound_schedule
    from tracos_integration.sensors import outbound_pending_sensor
    from tracos_integration.tracos.resource import MongoResource

    workspace.collection.insert_one(tracos_document(1))
    resources = {"mongo": MongoResource(uri=workspace.mongo_uri)}
    with dg.instance_for_test() as instance:
        fail_runs(instance, BACKOFF_AFTER_FAILURES - 1, OUTBOUND_TAG)
        with dg.build_sensor_context(instance=instance, resources=resources) as context:
            assert len(outbound_pending_sensor.evaluate_tick(context).run_requests) == 1  # not yet
        fail_runs(instance, 1, OUTBOUND_TAG)
        with dg.build_sensor_context(instance=instance, resources=resources) as context:
            tick = outbound_pending_sensor.evaluate_tick(context)
        assert tick.run_requests == [] and "backing off: the last 3 outbound runs failed" in tick.skip_message
        assert "(60 s after the last failure, doubling per failure" in tick.skip_message
        with dg.build_schedule_context(instance=instance, resources=resources) as context:
            assert "backing off" in outbound_schedule.evaluate_tick(context).skip_message
        assert backoff_skip(instance, OUTBOUND_TAG, now=time.time() + 61) is None  # the wait is over
        fail_runs(instance, 2, OUTBOUND_TAG)  # each further failure doubles the wait
        assert "(240 s after the last failure" in backoff_skip(instance, OUTBOUND_TAG)
        create_run_for_test(instance, job_name="outbound_job", status=dg.DagsterRunStatus.SUCCESS, tags={OUTBOUND_TAG: "true"})
        assert backoff_skip(instance, OUTBOUND_TAG) is None  # a success ends the streak


def test_a_run_with_rejects_reads_differently_and_its_check_leads_to_it(workspace):
    from tracos_integration.ops.metadata import RESULT_TAG

    drop(workspace.inbound, "good.json", [client_order(1)])
    drop(workspace.inbound, "bad.json", [client_order(2, isDone=True, isActive=True), client_order(3, orderNo="x")])
    result = workspace.run("inbound_job")
    assert workspace.instance.get_run_by_id(result.run_id).tags[RESULT_TAG] == "rejected 2"
    check = check_outcome(workspace, result, TRACOS_WORK_ORDERS, NO_REJECTED_RECORDS)
    assert check.metadata["run_id"].value == result.run_id and check.metadata["run"].value.endswith(result.run_id)
    [row] = check.metadata["failed_files"].value.records
    assert row.data["file"] == "failed/bad.json" and row.data["errors_total"] == 2 and row.data["first_reason"]
    drop(workspace.inbound, "clean.json", [client_order(4)])
    clean = workspace.run("inbound_job")
    assert workspace.instance.get_run_by_id(clean.run_id).tags[RESULT_TAG] == "ok"


def test_the_run_summary_and_the_inbound_folder_name_the_failed_files_and_why(workspace):
    drop(workspace.inbound, "broken.json", "{")
    drop(workspace.inbound, "bad.json", [client_order(3, orderNo="x")])
    result = workspace.run("inbound_job")
    summary = inbound_metadata(result)["summary"]
    assert "`failed/broken.json` (1 error(s)):" in summary and "`failed/bad.json` (1 error(s)): record 0:" in summary
    [observation] = [e.event_specific_data.asset_observation for e in result.all_events
                     if e.event_type_value == "ASSET_OBSERVATION" and e.event_specific_data.asset_observation.asset_key == CLIENT_INBOUND]
    rows = {row.data["file"]: row.data for row in observation.metadata["failed_files"].value.records}
    assert set(rows) == {"failed/broken.json", "failed/bad.json"} and "orderNo" in rows["failed/bad.json"]["first_reason"]


def todays_totals(instance):
    records = instance.fetch_observations(TRACOS_WORK_ORDERS, limit=20).records
    totals = [r.asset_observation.metadata for r in records if "today_in" in r.asset_observation.metadata]
    return {name: totals[0][name].value for name in ("today_in", "today_out", "today_rejected")}


def test_todays_totals_add_up_every_run_of_the_day(workspace):
    with dg.instance_for_test() as instance:
        drop(workspace.inbound, "a.json", [client_order(1), client_order(2, isDone=True, isActive=True)])
        run_in(instance, "inbound_job")
        assert todays_totals(instance) == {"today_in": 2, "today_out": 0, "today_rejected": 1}
        drop(workspace.inbound, "b.json", [client_order(3)])
        run_in(instance, "sync_job")  # both directions in one run
        workspace.collection.insert_many([tracos_document(10), tracos_document(11)])
        run_in(instance, "outbound_job")
        totals = todays_totals(instance)
        assert totals["today_in"] == 3 and totals["today_rejected"] == 1
        assert totals["today_out"] == len(workspace.outbound_files()) == 2


def test_a_run_that_moved_nothing_leaves_todays_totals_alone(workspace):
    def totals_points(instance):
        return [r for r in instance.fetch_observations(TRACOS_WORK_ORDERS, limit=20).records
                if "today_in" in r.asset_observation.metadata]

    with dg.instance_for_test() as instance:
        run_in(instance, "sync_job")  # nothing to read, nothing unsynced
        assert totals_points(instance) == []
        drop(workspace.inbound, "a.json", [client_order(1)])
        run_in(instance, "inbound_job")
        run_in(instance, "inbound_job")  # the folder is empty again
        assert len(totals_points(instance)) == 1 and todays_totals(instance)["today_in"] == 1


def test_todays_totals_start_again_at_midnight_utc(workspace):
    from tracos_integration.totals import daily_totals

    with dg.instance_for_test() as instance:
        drop(workspace.inbound, "a.json", [client_order(1)])
        run_in(instance, "inbound_job")
        tomorrow = datetime.now(UTC) + timedelta(days=1)
        assert daily_totals(instance, now=tomorrow).metadata["today_in"].value == 0


def test_every_health_tick_records_the_backlog_exactly_up_to_its_bound(workspace):
    workspace.collection.insert_many([tracos_document(n) for n in range(1, 21)])
    with dg.instance_for_test() as instance:
        for _ in range(2):  # every tick, not only on change
            assert observed(health_tick(instance, workspace), TRACOS_WORK_ORDERS)["backlog"] == 20
        assert len(instance.fetch_observations(TRACOS_WORK_ORDERS, limit=10).records) == 2


def test_unsynced_at_launch_counts_every_waiting_work_order(workspace):
    from tracos_integration.sensors import outbound_pending_sensor
    from tracos_integration.tracos.resource import MongoResource

    workspace.collection.insert_many([tracos_document(n) for n in range(1, 21)])
    with dg.instance_for_test() as instance:
        with dg.build_sensor_context(instance=instance, resources={"mongo": MongoResource(uri=workspace.mongo_uri)}) as context:
            [request] = outbound_pending_sensor.evaluate_tick(context).run_requests
    assert request.tags["tracos/unsynced_at_launch"] == "20"


def test_a_freshness_judgement_carries_its_expiry_and_is_recorded_again_before_it(workspace, monkeypatch):
    """A check's Timestamp older than half the window means nobody judges it (sensor or daemon stopped)."""
    from tracos_integration.health import waiting_events
    from tracos_integration.tracos.resource import MongoResource

    monkeypatch.setenv("FRESHNESS_WINDOW_SECONDS", "600")
    mongo = MongoResource(uri=workspace.mongo_uri)
    with dg.instance_for_test() as instance:
        def recorded(now):
            events, _ = waiting_events(instance, ClientFolder(), mongo, now=now)
            for event in events:
                instance.report_runless_asset_event(event)
            return [e for e in events if isinstance(e, dg.AssetCheckEvaluation) and e.check_name == INBOUND_FRESH]

        [first] = recorded(time.time())
        assert first.passed and first.metadata["valid_until"].value > time.time() + 250
        assert recorded(time.time()) == []  # unchanged, still valid
        assert len(recorded(time.time() + 301)) == 1  # half the window later: judged and recorded again


def test_with_a_customers_file_each_customer_has_its_own_backlog_and_back_off(workspace, tmp_path, monkeypatch):
    from tracos_integration.health import BACKOFF_AFTER_FAILURES, backoff_skip
    from tracos_integration.jobs import OUTBOUND_TAG
    from tracos_integration.tracos.resource import MongoResource

    lines = ["customers:"]
    for slug in ("acme", "globex"):
        for side in ("inbound", "outbound"):
            (tmp_path / slug / side).mkdir(parents=True)
        lines += [f"  {slug}:", f"    inbound_dir: {tmp_path / slug / 'inbound'}", f"    outbound_dir: {tmp_path / slug / 'outbound'}",
                  "    timezone: UTC", "    format: json", "    database: tractian", f"    collection: workorders_{slug}"]
    (tmp_path / "customers.yaml").write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("TRACOS_CUSTOMERS_FILE", str(tmp_path / "customers.yaml"))
    drop(tmp_path / "acme" / "inbound", "a.json", [client_order(1)])
    MongoResource(collection="workorders_globex").get_collection().insert_many([tracos_document(n) for n in (1, 2)])
    with dg.instance_for_test() as instance:
        result = health_tick(instance, workspace)
        waiting = {e.partition: e.metadata for e in result.asset_events if isinstance(e, dg.AssetObservation)}
        by_key = {(e.asset_key, e.partition): {k: v.value for k, v in e.metadata.items()}
                  for e in result.asset_events if isinstance(e, dg.AssetObservation)}
        assert set(waiting) == {"acme", "globex"}
        assert by_key[CLIENT_INBOUND, "acme"]["files_waiting"] == 1 and by_key[CLIENT_INBOUND, "globex"]["files_waiting"] == 0
        assert by_key[TRACOS_WORK_ORDERS, "acme"]["backlog"] == 0 and by_key[TRACOS_WORK_ORDERS, "globex"]["backlog"] == 2
        for _ in range(BACKOFF_AFTER_FAILURES):
            create_run_for_test(instance, job_name="outbound_job", status=dg.DagsterRunStatus.FAILURE,
                                tags={OUTBOUND_TAG: "true", "dagster/partition": "acme"})
        assert "backing off" in backoff_skip(instance, OUTBOUND_TAG, "acme")
        assert backoff_skip(instance, OUTBOUND_TAG, "globex") is None  # the other customer is served
