"""Credentials in MONGO_URI never reach any output, whatever characters they hold (CONTRACT
section 8): not the run's events, not a `logging` record, not a file under DAGSTER_HOME, not
the CLI's stdout or stderr. The server (host and port) is still named."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tracos_integration.tracos.resource import MongoResource
from tracos_integration.tracos.uris import KNOWN_SECRETS
from tracos_integration_tests.factories import client_order, drop

ROOT = Path(__file__).resolve().parents[2]
DAGSTER = str(Path(sys.executable).with_name("dagster"))
CLOSED_PORT = "127.0.0.1:9"  # nothing listens there: every attempt is refused at once

# (user as written in the URI, password as written, the strings that must never be printed)
HOSTILE_CREDENTIALS = [
    pytest.param("tracos user", "pa ss word", ["tracos user", "pa ss word"], id="spaces"),
    pytest.param("tracos_admin", "p/w0rd!", ["tracos_admin", "p/w0rd!"], id="slash"),
    pytest.param("tracos_admin", "p@ss@word", ["p@ss@word"], id="at-signs"),
    pytest.param("tracos_admin", "p%40ss%20x", ["p%40ss%20x", "p@ss x"], id="percent-escapes"),
    pytest.param("tracos_admin", "a:b", ["tracos_admin", "a:b"], id="colon"),
    pytest.param("ops team@plant", "Sup3rS3cret", ["ops team@plant", "Sup3rS3cret"], id="user-with-space-and-at"),
]


@pytest.fixture(autouse=True)
def forget_secrets_afterwards():
    yield
    KNOWN_SECRETS.clear()


def everything_the_run_said(result, caplog) -> str:
    events = []
    for event in result.all_events:
        events.append(str(event))
        error = getattr(event.event_specific_data, "error", None)
        while error is not None:  # what Dagster's UI shows: message, stack and chained causes
            events.append(error.to_string())
            error = error.cause or error.context
    return "\n".join([caplog.text, *events, *(r.getMessage() for r in caplog.records)])


@pytest.mark.parametrize("user, password, secrets", HOSTILE_CREDENTIALS)
def test_hostile_credentials_never_appear_in_events_or_logs(workspace, caplog, figures, user, password, secrets):
    drop(workspace.inbound, "a.json", [client_order(1)])
    uri = f"mongodb://{user}:{password}@{CLOSED_PORT}/tractian?authSource=admin&appName=plant"
    mongo = MongoResource(uri=uri, retry_budget_seconds=0.3, server_selection_timeout_ms=50)
    with caplog.at_level(logging.DEBUG):
        result = workspace.run("sync_job", mongo=mongo)
    assert not result.success
    said = everything_the_run_said(result, caplog)
    for secret in secrets:
        assert secret not in said
    assert CLOSED_PORT in said  # the server is still named
    assert (workspace.inbound / "a.json").exists()
    figures(records_in=1, applied=0, rejected=0, lost=0, duplicated=0)


def test_password_options_and_srv_credentials_never_appear(workspace, caplog, figures):
    drop(workspace.inbound, "a.json", [client_order(1)])
    # Valid (the `/` escaped), so pymongo goes as far as the DNS lookup of the SRV record.
    uri = ("mongodb+srv://srv user:srv pa%2Fss@cluster0.tracos.invalid/tractian"
           "?password=opt-s3cret&authMechanismProperties=AWS_SESSION_TOKEN:tok3n-value")
    mongo = MongoResource(uri=uri, retry_budget_seconds=0.3, server_selection_timeout_ms=50)
    with caplog.at_level(logging.DEBUG):
        result = workspace.run("sync_job", mongo=mongo)
    assert not result.success
    said = everything_the_run_said(result, caplog)
    for secret in ("srv user", "srv pa/ss", "srv pa%2Fss", "opt-s3cret", "tok3n-value"):
        assert secret not in said
    figures(records_in=1, applied=0, rejected=0, lost=0, duplicated=0)


def test_pymongo_and_project_log_records_are_scrubbed(caplog):
    mongo = MongoResource(uri=f"mongodb://tracos user:pa ss word@{CLOSED_PORT}/tractian")
    mongo.get_collection()  # opening a client installs the scrubber
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("pymongo.command").debug("auth as %s with %r", "tracos user", "pa ss word")
        logging.getLogger("tracos_integration.anything").warning(f"oops mongodb://tracos user:pa ss word@{CLOSED_PORT}")
        try:
            raise RuntimeError("connect failed for pa ss word")
        except RuntimeError:
            logging.getLogger("pymongo.connection").exception("failure")
    assert "pa ss word" not in caplog.text and "tracos user" not in caplog.text
    assert f"mongodb://***@{CLOSED_PORT}" in caplog.text


@pytest.mark.slow
def test_dagster_cli_prints_and_stores_no_credentials(tmp_path, figures):
    """The whole path a user takes: `dagster job execute`, a real DAGSTER_HOME (run and event
    storage, compute logs), the CLI's stdout and stderr."""
    inbound, outbound, home = tmp_path / "inbound", tmp_path / "outbound", tmp_path / "dagster_home"
    for folder in (inbound, outbound, home):
        folder.mkdir()
    drop(inbound, "a.json", [client_order(1)])
    secrets = ["tracos user", "pa ss%2Fw%40rd", "pa ss/w@rd"]  # valid: pymongo really tries the server
    config = tmp_path / "run.yaml"
    config.write_text("resources:\n  mongo:\n    config:\n      retry_budget_seconds: 0.5\n"
                      "      server_selection_timeout_ms: 100\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGO_", "DATA_", "DAGSTER_"))}
    env.update(
        MONGO_URI=f"mongodb://tracos user:pa ss%2Fw%40rd@{CLOSED_PORT}/tractian?retryWrites=true",
        DATA_INBOUND_DIR=str(inbound), DATA_OUTBOUND_DIR=str(outbound),
        INBOUND_SETTLE_SECONDS="0", DAGSTER_HOME=str(home),
    )
    completed = subprocess.run(
        [DAGSTER, "job", "execute", "-m", "tracos_integration", "-j", "sync_job", "-c", str(config)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode != 0
    assert f"mongodb://***@{CLOSED_PORT}/tractian?retryWrites=true (tractian.workorders) still unreachable" in completed.stderr
    printed = completed.stdout + completed.stderr
    stored = [path for path in home.rglob("*") if path.is_file()]
    assert stored  # the run really wrote its storage and compute logs
    for secret in secrets:
        assert secret not in printed
        leaking = [str(path) for path in stored if secret.encode() in path.read_bytes()]
        assert leaking == []
    assert (inbound / "a.json").exists()
    figures(records_in=1, applied=0, rejected=0, lost=0, duplicated=0)
