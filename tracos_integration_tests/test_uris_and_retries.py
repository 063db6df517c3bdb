"""MONGO_URI shown without credentials, its options honoured, retries of what is transient
only, timeouts told apart from outages, and numeric settings that must be finite
(CONTRACT sections 2 and 8)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from bson.codec_options import DatetimeConversion
from pymongo import _csot
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    ConfigurationError,
    DuplicateKeyError,
    ExecutionTimeout,
    NetworkTimeout,
    NotPrimaryError,
    OperationFailure,
    ServerSelectionTimeoutError,
)

from tracos_integration.settings import SettingError, load_time_settings
from tracos_integration.tracos.resource import MongoResource
from tracos_integration.tracos.retry import Retrier, TracosTimedOut, TracosUnavailable, is_transient
from tracos_integration.tracos.uris import KNOWN_SECRETS, display_uri, redact, remember_credentials
from tracos_integration_tests.factories import client_order, drop
from tracos_integration_tests.reliability.harness import FakeTime

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def forget_secrets_afterwards():
    yield
    KNOWN_SECRETS.clear()


def failing(errors, fake=None, attempt_seconds=0.0, then="ok"):
    """An operation that raises `errors` one by one and then returns `then`; with
    then=None the last error repeats forever. Each attempt takes `attempt_seconds`."""
    pending = list(errors)
    calls = []

    def operation():
        calls.append(1)
        if fake is not None:
            fake.now += attempt_seconds
        if not pending:
            return then
        if len(pending) == 1 and then is None:
            raise pending[0]
        raise pending.pop(0)

    operation.calls = calls
    return operation


def failure(code, message, name, labels=()):
    return OperationFailure(message, code=code, details={
        "ok": 0, "errmsg": message, "code": code, "codeName": name, "errorLabels": list(labels)})


# --- credentials (section 8) --------------------------------------------------------------

@pytest.mark.parametrize("uri, secrets, server", [
    ("mongodb://tracos user:pa ss@db.plant:27017/tractian", ["tracos user", "pa ss"], "db.plant:27017"),
    ("mongodb://admin:p/w0rd@db.plant:27017/tractian", ["admin:", "p/w0rd"], "db.plant:27017"),
    ("mongodb://admin:p@ss@db.plant:27017/tractian", ["p@ss", "ss@"], "db.plant:27017"),
    ("mongodb://admin:p%40ss%20x@db.plant:27017/tractian", ["p%40ss%20x", "p@ss x"], "db.plant:27017"),
    ("mongodb://admin:a:b@db.plant:27017/tractian", ["a:b"], "db.plant:27017"),
    ("mongodb://admin:pw?d=1@db.plant:27017/tractian", ["pw?d=1"], "db.plant:27017"),
    ("mongodb+srv://ops team:s3cret word@cluster0.example.net/tractian", ["ops team", "s3cret word"],
     "cluster0.example.net"),
    ("mongodb://db.plant:27017/tractian?password=opt-s3cret&proxyPassword=pr0xy&w=1", ["opt-s3cret", "pr0xy"],
     "db.plant:27017"),
])
def test_a_uri_is_shown_with_its_server_and_without_its_credentials(uri, secrets, server):
    shown = MongoResource(uri=uri).server_label
    assert server in shown
    for secret in secrets:
        assert secret not in shown


def test_an_embedded_path_or_store_name_with_an_at_sign_is_not_taken_for_credentials(tmp_path):
    path = tmp_path / "ops@plant" / "tracos.json"
    assert MongoResource(uri=f"embedded://{path}").server_label.startswith(f"embedded://{path} (")
    assert redact(f"opened {path}") == f"opened {path}"


def test_the_configured_secrets_are_removed_from_any_text_once_the_uri_is_used():
    MongoResource(uri="mongodb://tracos user:pa ss%2Fword@db.plant:27017/tractian").server_label
    echoed = "auth failed for 'tracos user' with 'pa ss/word' (pa ss%2Fword) on mongodb://tracos user:pa ss%2Fword@db"
    cleaned = redact(echoed)
    assert "tracos user" not in cleaned and "pa ss" not in cleaned
    assert cleaned.endswith("mongodb://***@db")


def test_a_uri_pymongo_refuses_is_reported_without_its_credentials():
    with pytest.raises(ValueError) as caught:
        MongoResource(uri="mongodb://admin:p/w0rd@db.plant:27017/tractian").get_collection()
    assert "p/w0rd" not in str(caught.value) and "admin" not in str(caught.value)
    assert "mongodb://***@db.plant:27017" in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # no chained original


def test_a_user_name_is_never_masked_inside_other_words():
    uri = "mongodb://mongo:s3cret-pw@db.plant:27017/tractian?appName=mongo-prod"
    remember_credentials(uri)
    assert display_uri(uri) == "mongodb://***@db.plant:27017/tractian?appName=mongo-prod"
    said = redact(f"no reply from {uri}; appName=mongo-prod, mongodb is down for mongo with s3cret-pw")
    assert said == ("no reply from mongodb://***@db.plant:27017/tractian?appName=mongo-prod; "
                    "appName=mongo-prod, mongodb is down for *** with ***")


def test_a_user_named_like_the_server_leaves_the_server_named():
    uri = "mongodb://mongo:s3cret-pw@mongo:27017/tractian"
    remember_credentials(uri)
    assert display_uri(uri) == "mongodb://***@mongo:27017/tractian"
    assert redact(f"cannot reach {uri}") == "cannot reach mongodb://***@mongo:27017/tractian"


_CREDENTIAL_CHARACTERS = st.characters(codec="ascii", exclude_categories=("Cc",))
_LABEL = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)


@st.composite
def credentials_and_server(draw):
    host = ".".join(draw(st.lists(_LABEL, min_size=1, max_size=3)))
    port = draw(st.integers(1, 65535))
    tricky = ["mongo", "mongodb", "db", host, host[: max(1, len(host) // 2)], f"{host}:{port}"]
    user = draw(st.one_of(st.sampled_from(tricky), st.text(_CREDENTIAL_CHARACTERS, min_size=1, max_size=12)))
    password = draw(st.text(_CREDENTIAL_CHARACTERS, min_size=1, max_size=16))
    escape = draw(st.booleans())
    return user, password, host, port, escape


@settings(max_examples=300, deadline=None)
@given(credentials_and_server())
def test_redaction_hides_the_password_and_names_the_server_whatever_the_credentials(case):
    from urllib.parse import quote

    user, password, host, port, escape = case
    written = (quote(user, safe=""), quote(password, safe="")) if escape else (user, password)
    uri = f"mongodb://{written[0]}:{written[1]}@{host}:{port}/tractian"
    shown_server = f"no reply from mongodb://***@{host}:{port}/tractian; retrying"
    # A password the server's own name (or the message around it) contains cannot be hidden from it: not a leak.
    assume(all(form not in shown_server for form in {password, written[1]}))
    KNOWN_SECRETS.clear()
    remember_credentials(uri)
    for shown in (display_uri(uri), redact(uri), redact(f"no reply from {uri}; retrying")):
        assert f"{host}:{port}" in shown
        assert password not in shown and written[1] not in shown


# --- URI options (section 2) --------------------------------------------------------------

def client_options(uri):
    return MongoResource(uri=uri).get_collection().database.client.options  # connect=False: no I/O


@pytest.mark.parametrize("query", [
    "serverSelectionTimeoutMS=1234&appName=x&retryWrites=false&socketTimeoutMS=2000",
    "SERVERSELECTIONTIMEOUTMS=1234&appname=x&RetryWrites=false&sockettimeoutms=2000",
])
def test_options_written_in_the_uri_win_over_the_project_defaults(query):
    options = client_options(f"mongodb://127.0.0.1:9/tractian?{query}")
    assert options.server_selection_timeout == 1.234
    assert options.pool_options.metadata["application"] == {"name": "x"}
    assert options.retry_writes is False
    assert options.pool_options.socket_timeout == 2.0


def test_the_project_defaults_apply_where_the_uri_is_silent():
    options = client_options("mongodb://127.0.0.1:9/tractian?readPreference=secondaryPreferred")
    assert options.server_selection_timeout == 5.0
    assert options.pool_options.connect_timeout == 5.0
    assert options.pool_options.socket_timeout == 60.0
    assert options.retry_writes is True and options.retry_reads is True
    assert options.pool_options.metadata["application"] == {"name": "tracos-integration"}
    assert options.read_preference.mongos_mode == "secondaryPreferred"


def test_dates_outside_pythons_range_come_back_as_values_not_errors():
    codec = client_options("mongodb://127.0.0.1:9/tractian").codec_options
    assert codec.datetime_conversion == DatetimeConversion.DATETIME_AUTO
    assert codec.tz_aware is True


# --- what is transient (section 5.8: a run fails only when MongoDB cannot work) -------------

def dns_timeout():
    import dns.exception

    try:
        raise dns.exception.Timeout(timeout=5.0)
    except dns.exception.Timeout as timeout:
        try:
            raise ConfigurationError(str(timeout)) from timeout  # as pymongo's srv_resolver does
        except ConfigurationError as error:
            return error


@pytest.mark.parametrize("error", [
    AutoReconnect("connection reset"),
    NetworkTimeout("timed out"),
    NotPrimaryError("not primary"),
    ServerSelectionTimeoutError("no server"),
    *(failure(code, "server says so", name) for code, name in [
        (10107, "NotWritablePrimary"), (13435, "NotPrimaryNoSecondaryOk"), (13436, "NotPrimaryOrSecondary"),
        (11600, "InterruptedAtShutdown"), (11602, "InterruptedDueToReplStateChange"), (189, "PrimarySteppedDown"),
        (91, "ShutdownInProgress"), (7, "HostNotFound"), (6, "HostUnreachable"), (89, "NetworkTimeout"),
        (9001, "SocketException"), (262, "ExceededTimeLimit"), (134, "ReadConcernMajorityNotAvailableYet")]),
    failure(999, "some new transient state", "Unknown", labels=["RetryableWriteError"]),
    failure(462, "overloaded", "IngressRequestRateLimitExceeded", labels=["RetryableError", "SystemOverloadedError"]),
    dns_timeout(),
    BulkWriteError({"writeErrors": [], "writeConcernErrors": [{"code": 91, "errmsg": "shutting down"}]}),
    BulkWriteError({"writeErrors": [{"index": 0, "code": 11602, "errmsg": "interrupted"},
                                    {"index": 1, "code": 11000, "errmsg": "E11000"}], "writeConcernErrors": []}),
], ids=lambda error: type(error).__name__ + str(getattr(error, "code", "") or ""))
def test_transient_errors_are_retried(error):
    assert is_transient(error)


@pytest.mark.parametrize("error", [
    failure(18, "Authentication failed.", "AuthenticationFailed"),
    failure(18, "Authentication failed.", "AuthenticationFailed", labels=["RetryableWriteError"]),
    ConfigurationError("Authentication failed: bad mechanism"),
    failure(2, "bad value", "BadValue"),
    failure(9, "cannot parse", "FailedToParse"),
    failure(13, "not authorized", "Unauthorized"),
    DuplicateKeyError("E11000 duplicate key", code=11000),
    ConfigurationError("The DNS query name does not exist: _mongodb._tcp.typo.example.net."),
    BulkWriteError({"writeErrors": [{"index": 0, "code": 121}], "writeConcernErrors": [{"code": 91}]}),
    ValueError("not a MongoDB error"),
], ids=lambda error: type(error).__name__ + str(getattr(error, "code", "") or ""))
def test_errors_that_would_fail_again_are_not_retried(error):
    assert not is_transient(error)
    fake = FakeTime()
    operation = failing([error], then=None)
    with pytest.raises(type(error)):
        Retrier(sleep=fake.sleep, clock=fake.clock).call(operation, "read work orders")
    assert len(operation.calls) == 1


def test_a_primary_stepping_down_reported_by_code_is_ridden_out():
    fake = FakeTime()
    operation = failing([failure(10107, "not primary", "NotWritablePrimary"),
                         failure(11602, "interrupted", "InterruptedDueToReplStateChange")])
    assert Retrier(sleep=fake.sleep, clock=fake.clock).call(operation, "write client work orders") == "ok"
    assert len(operation.calls) == 3


def test_giving_up_keeps_the_cause_in_the_message():
    fake = FakeTime()
    operation = failing([failure(10107, "not primary", "NotWritablePrimary")], fake, attempt_seconds=5, then=None)
    retrier = Retrier(budget_seconds=30, server="mongodb://***@db:27017/tractian", sleep=fake.sleep, clock=fake.clock)
    with pytest.raises(TracosUnavailable) as caught:
        retrier.call(operation, "write client work orders")
    message = str(caught.value)
    assert message.startswith("mongodb://***@db:27017/tractian still unreachable after ")
    assert f"after {len(operation.calls)} attempts over " in message
    assert message.endswith("while trying to write client work orders: NotWritablePrimary (code 10107): not primary")


def test_a_retry_shows_in_the_runs_log():
    errors = [AutoReconnect("connection reset")]

    @dg.op
    def read_with_one_lost_connection():
        return Retrier(sleep=lambda seconds: None).call(failing(errors), "read work orders")

    @dg.job
    def one_read():
        read_with_one_lost_connection()

    instance = dg.DagsterInstance.ephemeral()
    result = one_read.execute_in_process(instance=instance)
    assert result.success
    logged = [entry.user_message for entry in instance.all_logs(result.run_id) if entry.dagster_event is None]
    assert any("retrying" in message and "read work orders" in message for message in logged)


# --- timeouts and long operations ------------------------------------------------------------

def test_a_server_side_timeout_is_reported_as_a_timeout_not_an_outage():
    fake = FakeTime()
    expired = ExecutionTimeout("operation exceeded time limit", code=50,
                               details={"codeName": "MaxTimeMSExpired", "errmsg": "operation exceeded time limit"})
    operation = failing([expired], fake, attempt_seconds=12, then=None)
    retrier = Retrier(server="db:27017", sleep=fake.sleep, clock=fake.clock)
    with pytest.raises(TracosTimedOut) as caught:
        retrier.call(operation, "create the unique index on number")
    assert isinstance(caught.value, TracosUnavailable)  # the ops' clean failure path still applies
    message = str(caught.value)
    assert "timed out after 12.0s" in message and "unreachable" not in message
    assert "while trying to create the unique index on number: MaxTimeMSExpired (code 50)" in message
    assert len(operation.calls) == 1


def test_a_socket_that_keeps_timing_out_is_reported_as_a_timeout():
    fake = FakeTime()
    operation = failing([NetworkTimeout("db:27017: timed out")], fake, attempt_seconds=10, then=None)
    retrier = Retrier(budget_seconds=30, server="db:27017", sleep=fake.sleep, clock=fake.clock)
    with pytest.raises(TracosTimedOut) as caught:
        retrier.call(operation, "read work orders")
    assert "db:27017 timed out after" in str(caught.value) and "unreachable" not in str(caught.value)
    assert len(operation.calls) > 1


def test_a_long_operation_gets_its_own_budget_and_never_a_server_deadline():
    """An index build interrupted by its maxTimeMS is aborted by the server (4.4+): the long
    budget is the client's alone; pymongo.timeout would send the deadline to the server."""
    fake = FakeTime()
    deadlines = []
    outage = [ServerSelectionTimeoutError("no server")] * 20  # 20 attempts x 5s: past the 30s budget

    def build_index():
        deadlines.append(_csot.get_timeout())
        fake.now += 5
        if outage:
            raise outage.pop()
        return "number_unique"

    retrier = Retrier(budget_seconds=30, sleep=fake.sleep, clock=fake.clock)
    assert retrier.call(build_index, "create the unique index on number", budget_seconds=600) == "number_unique"
    assert fake.now > 30
    assert set(deadlines) == {None}


def test_the_index_build_budget_is_a_resource_setting():
    mongo = MongoResource(uri="mongomock://budget", retry_budget_seconds=20, index_build_budget_seconds=900)
    assert mongo.retrier().budget_seconds == 20
    assert mongo.retrier().long_operation_budget_seconds == 900
    assert MongoResource(uri="mongomock://budget").retrier().long_operation_budget_seconds == 600


# --- numeric settings (section 2) --------------------------------------------------------------

NOT_FINITE = ["nan", "inf", "-inf", "1e999", "ten"]


@pytest.mark.parametrize("value", NOT_FINITE)
@pytest.mark.parametrize("variable", ["INBOUND_SETTLE_SECONDS", "INBOUND_MAX_FILE_BYTES"])
def test_a_numeric_setting_that_is_not_a_finite_number_fails_the_run_in_one_line(
    workspace, monkeypatch, variable, value
):
    monkeypatch.setenv(variable, value)
    drop(workspace.inbound, "a.json", [client_order(1)])
    result = workspace.run("inbound_job")
    assert not result.success
    failure_event = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure_event.event_specific_data.error.message.strip()
    assert f"{variable}={value!r} is not a" in message and "\n" not in message
    assert (workspace.inbound / "a.json").exists() and workspace.processed() == [] and workspace.failed() == []


@pytest.mark.parametrize("value", NOT_FINITE)
def test_a_sync_interval_that_is_not_a_finite_number_is_refused(monkeypatch, value):
    monkeypatch.setenv("SYNC_INTERVAL_SECONDS", value)
    with pytest.raises(SettingError, match=f"^SYNC_INTERVAL_SECONDS={value!r} is not a whole number$"):
        load_time_settings()


def test_loading_the_definitions_with_a_bad_sync_interval_names_the_variable():
    env = {**os.environ, "SYNC_INTERVAL_SECONDS": "nan"}
    completed = subprocess.run([sys.executable, "-c", "import tracos_integration.definitions"],
                               cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert completed.returncode != 0
    assert completed.stderr.strip().splitlines()[-1] == (
        "tracos_integration.settings.SettingError: SYNC_INTERVAL_SECONDS='nan' is not a whole number"
    )
