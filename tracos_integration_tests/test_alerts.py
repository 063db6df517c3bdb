"""Alerts: a failed run and failed asset checks, posted to a webhook this test serves on 127.0.0.1."""


import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import dagster as dg
import pytest

from tracos_integration.alerts import failed_check_alert, run_failure_alert
from tracos_integration.definitions import defs
from tracos_integration.tracos.uris import KNOWN_SECRETS
from tracos_integration_tests.factories import client_order, drop

PASSWORD = "S3cret-Pw_4771"
UI_URL = "http://dagster.plant.example:3000"
WEBHOOK_TOKEN = "T0KEN/B0T/xyzSECRETxyz"  # a Slack webhook's path is its secret


@dataclass
class Webhook:
    """A chat webhook on 127.0.0.1: records what it receives, answers `status`."""

    url: str = ""
    status: int = 200
    delay_seconds: float = 0.0
    received: list[dict[str, Any]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    content_types: list[str] = field(default_factory=list)


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[Webhook]:
    hook = Webhook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            time.sleep(hook.delay_seconds)
            hook.raw.append(body)
            hook.received.append(json.loads(body))
            hook.content_types.append(self.headers["Content-Type"])
            self.send_response(hook.status)
            self.end_headers()
            self.wfile.write(b"ok" if hook.status < 400 else b"invalid_token")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/services/{WEBHOOK_TOKEN}"
    monkeypatch.setenv("ALERT_WEBHOOK_URL", hook.url)
    monkeypatch.setenv("DAGSTER_UI_URL", UI_URL)
    for variable in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(variable, raising=False)
    yield hook
    server.shutdown()
    server.server_close()


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


def unreachable_tracos_with_password(workspace, monkeypatch) -> dict[str, Any]:
    """inbound_job against a server that refuses connections, with credentials in the URI,
    and timeouts small enough for a test."""
    monkeypatch.setenv("MONGO_URI", f"mongodb://alice:{PASSWORD}@127.0.0.1:9/tractian")
    drop(workspace.inbound, "a.json", [client_order(1)])
    return {"resources": {"mongo": {"config": {"retry_budget_seconds": 0.2, "server_selection_timeout_ms": 100}}}}


def tick(sensor: dg.SensorDefinition, instance: dg.DagsterInstance, cursor: str | None) -> Any:
    with dg.build_sensor_context(instance=instance, cursor=cursor) as context:
        return sensor.evaluate_tick(context)


def started(sensor: dg.SensorDefinition, instance: dg.DagsterInstance) -> str:
    """A run status sensor's first tick only sets its cursor at "now", as under the daemon."""
    return tick(sensor, instance, None).cursor


def failed_inbound_run(workspace, monkeypatch, instance) -> dg.ExecuteInProcessResult:
    run_config = unreachable_tracos_with_password(workspace, monkeypatch)
    result = defs.get_job_def("inbound_job").execute_in_process(
        run_config=run_config, instance=instance, raise_on_error=False
    )
    assert not result.success
    KNOWN_SECRETS.clear()  # the daemon is another process: it never saw the run's URI
    return result


def test_a_failed_run_posts_one_alert_with_job_reason_and_link_without_credentials(
    workspace, monkeypatch, instance, webhook
):
    cursor = started(run_failure_alert, instance)
    result = failed_inbound_run(workspace, monkeypatch, instance)

    evaluation = tick(run_failure_alert, instance, cursor)

    assert [reaction.error for reaction in evaluation.dagster_run_reactions] == [None]
    assert len(webhook.received) == 1
    text = webhook.received[0]["text"]
    assert text.startswith(f":red_circle: inbound_job run {result.run_id[:8]} failed")
    assert "apply_inbound_files: mongodb://***@127.0.0.1:9/tractian" in text and "unreachable" in text
    assert f"Run: {UI_URL}/runs/{result.run_id}" in text
    assert "Traceback" not in text and 'File "' not in text  # the reason, not the stack trace
    assert PASSWORD not in webhook.raw[0].decode() and "alice" not in webhook.raw[0].decode()
    assert webhook.content_types == ["application/json; charset=utf-8"]
    # The next tick has nothing new: one alert per failure.
    tick(run_failure_alert, instance, evaluation.cursor)
    assert len(webhook.received) == 1


def test_a_password_echoed_by_a_failing_step_never_reaches_the_webhook(monkeypatch, instance, webhook):
    monkeypatch.setenv("MONGO_URI", f"mongodb://alice:{PASSWORD}@db.plant:27017/tractian")

    @dg.op
    def connect():
        raise RuntimeError(f"login refused for password {PASSWORD} (user alice)")

    @dg.job
    def leaky_job():
        connect()

    cursor = started(run_failure_alert, instance)
    leaky_job.execute_in_process(instance=instance, raise_on_error=False)
    KNOWN_SECRETS.clear()

    tick(run_failure_alert, instance, cursor)

    assert len(webhook.received) == 1
    body = webhook.raw[0].decode()
    assert "connect: " in webhook.received[0]["text"] and "login refused for password ***" in webhook.received[0]["text"]
    assert PASSWORD not in body and "alice" not in body


def test_without_a_webhook_url_nothing_is_sent_and_the_skip_says_why(workspace, monkeypatch, instance, webhook):
    monkeypatch.delenv("ALERT_WEBHOOK_URL")
    cursor = started(run_failure_alert, instance)
    result = failed_inbound_run(workspace, monkeypatch, instance)

    evaluation = tick(run_failure_alert, instance, cursor)

    assert webhook.received == []
    assert evaluation.skip_message == (
        f"inbound_job run {result.run_id[:8]} failed; no alert sent: ALERT_WEBHOOK_URL is not set"
    )


@pytest.mark.parametrize("answer", ["HTTP 500", "refused", "timeout"])
def test_a_webhook_that_fails_makes_the_tick_fail_with_a_readable_error(
    workspace, monkeypatch, instance, webhook, answer
):
    if answer == "HTTP 500":
        webhook.status = 500
    elif answer == "refused":
        with socket.socket() as closed:  # a port nobody listens on
            closed.bind(("127.0.0.1", 0))
            port = closed.getsockname()[1]
        monkeypatch.setenv("ALERT_WEBHOOK_URL", f"http://127.0.0.1:{port}/services/{WEBHOOK_TOKEN}")
    else:
        webhook.delay_seconds = 1.0
        monkeypatch.setattr("tracos_integration.alerts.WEBHOOK_TIMEOUT_SECONDS", 0.2)
    cursor = started(run_failure_alert, instance)
    result = failed_inbound_run(workspace, monkeypatch, instance)

    evaluation = tick(run_failure_alert, instance, cursor)

    # The daemon marks the tick FAILURE with this error: red on the Automation page.
    [reaction] = evaluation.dagster_run_reactions
    assert reaction.error is not None
    message = reaction.error.to_string()
    expected = {
        "HTTP 500": "answered HTTP 500",
        "refused": "unreachable: [Errno 111] Connection refused",
        "timeout": "unreachable: no answer within 0.2 s",
    }[answer]
    assert f"the run failure alert for inbound_job run {result.run_id[:8]} was not sent: webhook http://127.0.0.1:" in message
    assert expected in message
    assert "xyzSECRETxyz" not in message and PASSWORD not in message


def test_an_invalid_webhook_url_fails_the_tick_without_echoing_it(workspace, monkeypatch, instance, webhook):
    monkeypatch.setenv("ALERT_WEBHOOK_URL", f"file:///tmp/{WEBHOOK_TOKEN}")
    cursor = started(run_failure_alert, instance)
    failed_inbound_run(workspace, monkeypatch, instance)

    [reaction] = tick(run_failure_alert, instance, cursor).dagster_run_reactions

    assert "ALERT_WEBHOOK_URL must be an http:// or https:// URL" in reaction.error.to_string()
    assert "xyzSECRETxyz" not in reaction.error.to_string()
    assert webhook.received == []


def log_two_failed_checks_and_one_passed(context: dg.OpExecutionContext) -> None:
    for name, passed, severity, description in [
        ("no_rejected_records", False, dg.AssetCheckSeverity.WARN, "6 records rejected in the last run"),
        ("unsynced_not_too_old", False, dg.AssetCheckSeverity.ERROR, "3 documents unsynced for over 1 h"),
        ("inbound_folder_drained", True, dg.AssetCheckSeverity.WARN, None),
    ]:
        context.log_event(dg.AssetCheckEvaluation(
            asset_key=dg.AssetKey(["tracos", "work_orders"]), check_name=name, passed=passed,
            severity=severity, description=description,
        ))


@dg.op
def report_checks(context: dg.OpExecutionContext) -> None:
    log_two_failed_checks_and_one_passed(context)


@dg.job
def checking_job():
    report_checks()


def test_failed_checks_of_a_run_post_one_message_naming_them(instance, webhook):
    cursor = started(failed_check_alert, instance)
    result = checking_job.execute_in_process(instance=instance)

    evaluation = tick(failed_check_alert, instance, cursor)

    assert [reaction.error for reaction in evaluation.dagster_run_reactions] == [None]
    assert len(webhook.received) == 1
    assert webhook.received[0]["text"].splitlines() == [
        f":warning: checking_job run {result.run_id[:8]} succeeded with 2 failed check(s)",
        "• [WARN] tracos/work_orders no_rejected_records: 6 records rejected in the last run",
        "• [ERROR] tracos/work_orders unsynced_not_too_old: 3 documents unsynced for over 1 h",
        f"Run: {UI_URL}/runs/{result.run_id}",
    ]


def test_a_run_whose_checks_all_pass_sends_nothing(workspace, instance, webhook):
    cursor = started(failed_check_alert, instance)
    result = defs.get_job_def("outbound_job").execute_in_process(instance=instance)

    evaluation = tick(failed_check_alert, instance, cursor)

    assert webhook.received == []
    assert evaluation.skip_message == f"outbound_job run {result.run_id[:8]}: no failed checks"


def test_failed_checks_without_a_webhook_url_are_not_sent_and_the_skip_says_why(monkeypatch, instance, webhook):
    monkeypatch.delenv("ALERT_WEBHOOK_URL")
    cursor = started(failed_check_alert, instance)
    result = checking_job.execute_in_process(instance=instance)

    evaluation = tick(failed_check_alert, instance, cursor)

    assert webhook.received == []
    assert evaluation.skip_message == (
        f"checking_job run {result.run_id[:8]} reported 2 failed check(s); no alert sent: ALERT_WEBHOOK_URL is not set"
    )


def test_a_failed_run_alert_also_lists_its_failed_checks(instance, webhook):
    @dg.op
    def explode(context: dg.OpExecutionContext):
        log_two_failed_checks_and_one_passed(context)
        raise ValueError("the folder vanished")

    @dg.job
    def checking_then_failing_job():
        explode()

    cursor = started(run_failure_alert, instance)
    checking_then_failing_job.execute_in_process(instance=instance, raise_on_error=False)

    tick(run_failure_alert, instance, cursor)

    text = webhook.received[0]["text"]
    assert "• explode: ValueError: the folder vanished" in text
    assert "Failed checks:\n• [WARN] tracos/work_orders no_rejected_records" in text


def sensor_started(live, name: str) -> bool:
    from dagster._core.definitions.run_request import InstigatorType

    with live.instance() as instance:
        return any(
            state.name == name and state.instigator_data is not None and state.instigator_data.cursor
            for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
        )


@pytest.mark.slow
def test_under_the_daemon_a_failed_sensor_launched_run_is_posted(tmp_path, webhook):
    """The whole path under `dagster dev`: outbound_pending_sensor launches outbound_job, the
    outbound folder is gone so the run fails, and the daemon's run_failure_alert posts it."""
    from tracos_integration.tracos.resource import MongoResource
    from tracos_integration_tests.factories import tracos_document
    from tracos_integration_tests.live import start_dagster_dev, stop_dagster_dev, wait_for

    live = start_dagster_dev(tmp_path)  # inherits ALERT_WEBHOOK_URL from this process
    try:
        # Its first tick only sets the cursor at "now": a failure before it is not alerted.
        wait_for(lambda: sensor_started(live, "run_failure_alert"), 120, "run_failure_alert's first tick")
        live.outbound.rmdir()
        MongoResource(uri=live.mongo_uri).get_collection().insert_one(tracos_document(901))
        try:
            wait_for(lambda: webhook.received, 120, "the alert at the webhook")
        except AssertionError:
            raise AssertionError(live.log_tail()) from None
    finally:
        stop_dagster_dev(live)
    text = webhook.received[0]["text"]
    assert text.startswith(":red_circle: outbound_job run ") and "export_unsynced: " in text
    assert "Run: http://localhost:3000/runs/" in text  # DAGSTER_UI_URL's default


def test_a_run_that_fails_before_any_step_posts_the_runs_own_reason(instance, webhook):
    @dg.resource
    def broken(_):
        raise ConnectionError("no route to the plant network")

    @dg.op(required_resource_keys={"plant"})
    def use_plant():
        pass

    @dg.job(resource_defs={"plant": broken})
    def unstartable_job():
        use_plant()

    cursor = started(run_failure_alert, instance)
    result = unstartable_job.execute_in_process(instance=instance, raise_on_error=False)

    tick(run_failure_alert, instance, cursor)

    lines = webhook.received[0]["text"].splitlines()
    assert lines[0] == f":red_circle: unstartable_job run {result.run_id[:8]} failed"
    assert lines[1] == "• run: ConnectionError: no route to the plant network"
