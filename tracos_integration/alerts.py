"""Alerts to a chat webhook: a failed run, and asset checks that failed in a run.

`ALERT_WEBHOOK_URL` names a Slack-compatible incoming webhook (a JSON POST with a `text`
field; Mattermost, Rocket.Chat and most chat tools accept the same). Unset, nothing is sent
and the sensors skip saying so. A webhook that cannot be reached or answers an error fails
the sensor's tick, shown in red on the Automation page: an alert is never lost silently.

Dagster advances a run status sensor's cursor even when its tick fails (it will not repeat
a side effect), so the alert for that run is not retried; the red tick names the run.

Nothing here may print a credential: every text sent goes through `uris.redact`, after the
secrets of the MONGO_URI in the environment and in the run's config are remembered, and the
webhook URL (whose path is its secret) is shown by its scheme and host only. A webhook URL's
`user:password@` is sent as HTTP Basic auth. One post has one deadline, WEBHOOK_TIMEOUT_SECONDS.

The alert settings (ALERT_WEBHOOK_URL, DAGSTER_UI_URL) are read only here: a broken one fails
these sensors' ticks, visibly, and never a sync run or the sync sensors (CONTRACT 10).
"""

from __future__ import annotations

import http.client
import json
import threading
import urllib.error
import urllib.request
from typing import Iterable, Optional, Sequence

import dagster as dg

from tracos_integration.settings import SettingError, Settings, http_url
from tracos_integration.core.text import short
from tracos_integration.tracos.uris import redact, remember_credentials
from tracos_integration.webhook import (
    HttpHandler,
    HttpsHandler,
    NoRedirects,
    Sockets,
    reason,
    split_credentials,
    webhook_display,
)

WEBHOOK_TIMEOUT_SECONDS = 5.0  # one attempt, one deadline for all of it; a sensor tick must stay short
MAX_REASON_CHARS = 500
MAX_CHECKS_LISTED = 20
CHECK_ALERT_INTERVAL_SECONDS = 15


class AlertNotSent(RuntimeError):
    """The webhook could not be reached or refused the alert."""


def alert_settings() -> Settings:
    return Settings.from_env("alert_webhook_url", "dagster_ui_url")


def post_alert(text: str, *, webhook_url: Optional[str] = None, timeout: Optional[float] = None) -> bool:
    """POST `{"text": text}` to the webhook (default: ALERT_WEBHOOK_URL). False when no
    webhook is configured (nothing sent); True when it answered 2xx. Raises AlertNotSent
    when it could not be reached, did not answer whole within `timeout` or answered
    anything else. `timeout` is one deadline for the whole post (DNS, connect, send, read),
    not per socket operation: a webhook trickling a byte a second cannot hold the sensor."""
    url = alert_settings().alert_webhook_url if webhook_url is None else webhook_url
    if not url:
        return False
    where = webhook_display(url)
    try:
        http_url("the webhook URL", url)
    except SettingError as error:
        raise AlertNotSent(f"webhook {where} not posted to: {error}") from None
    target, authorization = split_credentials(url)
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if authorization:
        headers["Authorization"] = authorization
    body = json.dumps({"text": redact(text)}).encode("utf-8")
    request = urllib.request.Request(target, data=body, method="POST", headers=headers)
    timeout = WEBHOOK_TIMEOUT_SECONDS if timeout is None else timeout
    sockets = Sockets()
    opener = urllib.request.build_opener(  # proxies still apply
        HttpHandler(sockets), HttpsHandler(sockets), NoRedirects())
    outcome: list[Optional[BaseException]] = []

    def post() -> None:
        try:
            with opener.open(request, timeout=timeout) as response:
                response.read(1024)
            outcome.append(None)
        except BaseException as error:  # handed to the caller's thread
            outcome.append(error)

    worker = threading.Thread(target=post, name="alert-webhook-post", daemon=True)
    worker.start()
    worker.join(timeout)
    late = worker.is_alive()
    sockets.close()  # past the deadline, this cuts a post still sending or reading
    if late or not outcome:
        raise AlertNotSent(f"webhook {where} unreachable: no answer within {timeout:g} s")
    error = outcome[0]
    if isinstance(error, urllib.error.HTTPError):  # a subclass of URLError: first
        hint = "; redirects are not followed: set the URL it redirects to" if 300 <= error.code < 400 else ""
        raise AlertNotSent(f"webhook {where} answered HTTP {error.code} {error.reason}{hint}")
    if isinstance(error, urllib.error.URLError):
        raise AlertNotSent(f"webhook {where} unreachable: {reason(error.reason, timeout)}")
    if isinstance(error, (TimeoutError, OSError, http.client.HTTPException)):
        raise AlertNotSent(f"webhook {where} unreachable: {reason(error, timeout)}")
    if error is not None:
        raise AlertNotSent(f"webhook {where} could not be posted to: {type(error).__name__}")
    return True


def _escape(text: str) -> str:
    # Slack reads <...> as links and mentions and &...; as entities: its docs ask for these three.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _first_line(text: str) -> str:
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    line = lines[0] if lines else ""
    return short(line, MAX_REASON_CHARS)


def run_link(run_id: str, ui_url: Optional[str] = None) -> str:
    """The run's page in the UI. Outside the alerts (checks, run metadata) a broken
    DAGSTER_UI_URL must not fail the sync: the link is then relative to the UI it is read in."""
    if ui_url is None:
        try:
            ui_url = alert_settings().dagster_ui_url
        except SettingError:
            ui_url = ""
    return f"{ui_url.rstrip('/')}/runs/{run_id}"


def remember_run_credentials(run: dg.DagsterRun) -> None:
    """The run may have used another MONGO_URI than this process (the daemon's): its
    environment's and its run config's are remembered, so `redact` removes their secrets."""
    remember_credentials(Settings.from_env("mongo_uri").mongo_uri)
    uri = (((run.run_config or {}).get("resources") or {}).get("mongo") or {}).get("config", {}).get("uri")
    if isinstance(uri, str) and uri:
        remember_credentials(uri)


def failure_reasons(step_failures: Sequence[dg.DagsterEvent], run_failure: Optional[dg.DagsterEvent]) -> list[str]:
    """One line per failed step (`step: reason`, the first line, no stack trace); the run's
    own failure message when no step failed (a crash, a run that could not start)."""
    lines = []
    for event in step_failures:
        data = event.event_specific_data
        user = getattr(data, "user_failure_data", None)
        if user is not None and user.description:
            reason = user.description
        else:
            error = getattr(data, "error", None)
            reason = error.message if error is not None else event.message or "failed"
            if error is not None and error.cause is not None and "while executing op" in reason:
                reason = error.cause.message  # the user's error inside Dagster's wrapper
        lines.append(f"{event.step_key}: {_first_line(redact(reason))}")
    if not lines and run_failure is not None:  # e.g. a resource that could not start
        error = getattr(run_failure.event_specific_data, "error", None)
        while error is not None and error.cause is not None:
            error = error.cause  # the root cause, not Dagster's wrappers around it
        reason = error.message if error is not None else run_failure.message or "the run failed"
        lines.append(f"run: {_first_line(redact(reason))}")
    return lines


def failed_checks_of_run(instance: dg.DagsterInstance, run_id: str) -> list[dg.AssetCheckEvaluation]:
    """The asset check evaluations the run reported that did not pass (WARN or ERROR)."""
    records = instance.get_records_for_run(run_id=run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    evaluations = [record.event_log_entry.dagster_event.event_specific_data for record in records]
    return [evaluation for evaluation in evaluations if isinstance(evaluation, dg.AssetCheckEvaluation) and not evaluation.passed]


def describe_failed_checks(evaluations: Iterable[dg.AssetCheckEvaluation]) -> list[str]:
    """One line per failed check: `[ERROR] tracos/work_orders unsynced_too_long: description`."""
    lines = []
    failed = [evaluation for evaluation in evaluations if not evaluation.passed]
    for evaluation in failed[:MAX_CHECKS_LISTED]:
        detail = f": {_first_line(redact(evaluation.description))}" if evaluation.description else ""
        lines.append(
            f"[{evaluation.severity.value}] {evaluation.asset_key.to_user_string()} {evaluation.check_name}{detail}"
        )
    if len(failed) > MAX_CHECKS_LISTED:
        lines.append(f"... and {len(failed) - MAX_CHECKS_LISTED} more")
    return lines


def run_failure_text(
    run: dg.DagsterRun, reasons: Sequence[str], failed_checks: Sequence[str], ui_url: str
) -> str:
    lines = [f":red_circle: {run.job_name} run {run.run_id[:8]} failed"]
    lines += [f"• {_escape(reason)}" for reason in reasons]
    if failed_checks:
        lines.append("Failed checks:")
        lines += [f"• {_escape(check)}" for check in failed_checks]
    lines.append(f"Run: {run_link(run.run_id, ui_url)}")
    return redact("\n".join(lines))


def failed_checks_text(run: dg.DagsterRun, failed_checks: Sequence[str], ui_url: str) -> str:
    count = len(failed_checks) - (1 if failed_checks and failed_checks[-1].startswith("... and") else 0)
    lines = [f":warning: {run.job_name} run {run.run_id[:8]} succeeded with {count} failed check(s)"]
    lines += [f"• {_escape(check)}" for check in failed_checks]
    lines.append(f"Run: {run_link(run.run_id, ui_url)}")
    return redact("\n".join(lines))


def _send(text: str, settings: Settings, run: dg.DagsterRun, what: str) -> None:
    try:
        post_alert(text, webhook_url=settings.alert_webhook_url)
    except AlertNotSent as error:
        # Raised: the tick fails, red on the Automation page, with this message.
        raise AlertNotSent(
            f"the {what} alert for {run.job_name} run {run.run_id[:8]} was not sent: {error}. "
            "Dagster does not retry it; the run's page has the details."
        ) from None


@dg.run_failure_sensor(
    name="run_failure_alert",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Posts a failed run (job, run id, the reason, a link) to ALERT_WEBHOOK_URL; skips when it is unset.",
)
def run_failure_alert(context: dg.RunFailureSensorContext):
    settings = alert_settings()  # an invalid URL raises: the tick fails
    run = context.dagster_run
    if not settings.alert_webhook_url:
        return dg.SkipReason(f"{run.job_name} run {run.run_id[:8]} failed; no alert sent: ALERT_WEBHOOK_URL is not set")
    remember_run_credentials(run)
    reasons = failure_reasons(context.get_step_failure_events(), context.failure_event)
    checks = describe_failed_checks(failed_checks_of_run(context.instance, run.run_id))
    _send(run_failure_text(run, reasons, checks, settings.dagster_ui_url), settings, run, "run failure")
    context.log.info(f"alert sent for failed {run.job_name} run {run.run_id[:8]} to {webhook_display(settings.alert_webhook_url)}")
    return None


@dg.run_status_sensor(
    name="failed_check_alert",
    run_status=dg.DagsterRunStatus.SUCCESS,
    # A skip ends a run status sensor's tick after one run: ticks come often enough to keep up.
    minimum_interval_seconds=CHECK_ALERT_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Posts the asset checks a successful run reported as failed (WARN or ERROR) to ALERT_WEBHOOK_URL, "
    "one message per run. A failed run's checks go with run_failure_alert's message.",
)
def failed_check_alert(context: dg.RunStatusSensorContext):
    run = context.dagster_run
    failed = failed_checks_of_run(context.instance, run.run_id)
    if not failed:
        # A skip, not None: None would add a "sensor acted on" line to every successful run's log.
        return dg.SkipReason(f"{run.job_name} run {run.run_id[:8]}: no failed checks")
    settings = alert_settings()
    if not settings.alert_webhook_url:
        return dg.SkipReason(
            f"{run.job_name} run {run.run_id[:8]} reported {len(failed)} failed check(s); "
            "no alert sent: ALERT_WEBHOOK_URL is not set"
        )
    remember_run_credentials(run)
    _send(failed_checks_text(run, describe_failed_checks(failed), settings.dagster_ui_url), settings, run, "failed checks")
    context.log.info(f"alert sent for {len(failed)} failed check(s) of {run.job_name} run {run.run_id[:8]}")
    return None
