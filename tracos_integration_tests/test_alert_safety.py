"""Alerts against careless settings and hostile webhooks (CONTRACT 10): credentials in the
URL sent as Basic auth and never printed, one deadline per post, and a broken alert setting
failing only the alerts."""

from __future__ import annotations

import base64
import socket
import threading
import time
from typing import Any, Iterator

import dagster as dg
import pytest

from tracos_integration.alerts import AlertNotSent, post_alert, run_failure_alert, webhook_display
from tracos_integration.client.folder import ClientFolder
from tracos_integration.sensors import inbound_file_sensor, outbound_pending_sensor
from tracos_integration.settings import Settings
from tracos_integration.tracos.resource import MongoResource
from tracos_integration_tests.conftest import inbound_metadata, outbound_metadata
from tracos_integration_tests.factories import client_order, drop, tracos_document

USER, PASSWORD = "alerts", "p@ss/w:rd?#x"  # every character that ends a part of a URL
TOKEN = "T0KEN/xyzSECRETxyz"


class RawServer:
    """An HTTP server on 127.0.0.1 made of a bare socket: records each request's head, then
    answers with `answer(connection)`."""

    def __init__(self, answer) -> None:
        self.answer = answer
        self.heads: list[str] = []
        self.finished = threading.Event()  # set when an answer was sent whole
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            with connection:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = connection.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                self.heads.append(head.decode("latin-1"))
                length = next((int(line.split(":")[1]) for line in self.heads[-1].split("\r\n")
                               if line.lower().startswith("content-length:")), 0)
                while len(body) < length:
                    body += connection.recv(65536)
                try:
                    self.answer(connection)
                    self.finished.set()
                except OSError:  # the client cut the connection
                    pass

    def header(self, name: str) -> str | None:
        for line in self.heads[-1].split("\r\n")[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None

    def close(self) -> None:
        self.listener.close()


def answer_ok(connection: socket.socket) -> None:
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")


def trickle(connection: socket.socket) -> None:
    """60 bytes, one every 0.1 s: each read gets a byte well within any per-read timeout."""
    for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n" + b"x" * 20:
        connection.sendall(bytes([byte]))
        time.sleep(0.1)


@pytest.fixture
def no_proxy(monkeypatch) -> None:
    for variable in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture
def server(no_proxy) -> Iterator[RawServer]:
    raw = RawServer(answer_ok)
    yield raw
    raw.close()


def escaped(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


# 7. Credentials in the URL: Basic auth, never printed


def test_credentials_in_the_webhook_url_are_sent_as_basic_auth(server):
    url = f"http://{escaped(USER)}:{escaped(PASSWORD)}@127.0.0.1:{server.port}/services/{TOKEN}"
    assert post_alert("hello", webhook_url=url) is True
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert server.header("Authorization") == expected
    assert server.heads[-1].startswith(f"POST /services/{TOKEN} HTTP/1.1")
    assert server.header("Host") == f"127.0.0.1:{server.port}"  # the host alone, no user:password@


def test_a_webhook_with_an_at_sign_in_its_path_is_posted_to_its_host(server):
    url = f"http://127.0.0.1:{server.port}/webhookb2/1234@5678/IncomingWebhook/{TOKEN}"  # as Teams writes them
    assert post_alert("hello", webhook_url=url) is True
    assert server.heads[-1].startswith("POST /webhookb2/1234@5678/IncomingWebhook/")


def test_a_webhook_without_credentials_sends_no_authorization(server):
    assert post_alert("hello", webhook_url=f"http://127.0.0.1:{server.port}/services/{TOKEN}") is True
    assert server.header("Authorization") is None


@pytest.mark.parametrize("url", [
    f"http://{USER}:{PASSWORD}@127.0.0.1:1/services/{TOKEN}",  # a '/' in the password, unescaped
    f"http://{USER}:pa/ss@127.0.0.1/services/{TOKEN}",
    f"http://{USER}:1234/ss@127.0.0.1/services/{TOKEN}",  # reads as host "alerts", port 1234
    f"http://{USER}:secretport@127.0.0.1:secret/services/{TOKEN}",  # a port that is no number
])
def test_an_ambiguous_webhook_url_is_refused_without_echoing_it(monkeypatch, url):
    monkeypatch.setenv("ALERT_WEBHOOK_URL", url)
    with pytest.raises(Exception) as caught:
        Settings.from_env("alert_webhook_url")
    with pytest.raises(AlertNotSent) as not_sent:
        post_alert("hello", webhook_url=url)
    assert "ALERT_WEBHOOK_URL" in str(caught.value) and "the webhook URL" in str(not_sent.value)
    for message in (str(caught.value), str(not_sent.value)):
        for secret in ("pa/ss", "ss@", PASSWORD, "xyzSECRETxyz", "secret"):
            assert secret not in message


def test_a_webhook_is_shown_by_its_scheme_and_host_only():
    url = f"https://{escaped(USER)}:{escaped(PASSWORD)}@hooks.example:8443/services/{TOKEN}"
    assert webhook_display(url) == "https://hooks.example:8443/…"
    assert webhook_display(f"http://{USER}:pa/ss@host/x") == "http://(host not shown)/…"  # "host" would be the user
    assert webhook_display("http://host:secret/x") == "http://host/…"  # never a port that is no number


def test_an_unreachable_webhook_with_credentials_names_its_host_only(no_proxy):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    url = f"http://{escaped(USER)}:{escaped(PASSWORD)}@127.0.0.1:{port}/services/{TOKEN}"
    with pytest.raises(AlertNotSent) as caught:
        post_alert("hello", webhook_url=url, timeout=2)
    message = str(caught.value)
    assert f"webhook http://127.0.0.1:{port}/… unreachable" in message and "Connection refused" in message
    assert escaped(PASSWORD) not in message and USER not in message and "xyzSECRETxyz" not in message


# 8. One post, one deadline


def test_a_webhook_trickling_its_answer_is_given_up_at_the_posts_deadline(no_proxy):
    server = RawServer(trickle)
    try:
        with pytest.raises(AlertNotSent) as caught:
            post_alert("hello", webhook_url=f"http://127.0.0.1:{server.port}/hook", timeout=1.0)
        assert "no answer within 1 s" in str(caught.value)
        assert not server.finished.is_set()  # given up before the server finished trickling its 60 bytes
    finally:
        server.close()


# 9. A broken alert setting fails only the alerts


@pytest.mark.parametrize("variable,value", [
    ("ALERT_WEBHOOK_URL", "hooks.example/services/T0KEN"),
    ("DAGSTER_UI_URL", "localhost:3000"),
    ("ALERT_WEBHOOK_URL", f"http://u:{PASSWORD}@host/x"),
])
def test_a_broken_alert_setting_fails_only_the_alerts(workspace, monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    drop(workspace.inbound, "a.json", [client_order(1)])
    inbound = workspace.run("inbound_job")
    assert inbound.success and workspace.processed() == ["a.json"]
    assert inbound_metadata(inbound)["inserted"] == 1
    workspace.collection.insert_one(tracos_document(2))
    outbound = workspace.run("outbound_job")
    assert outbound.success and outbound_metadata(outbound)["exported"] == 1
    with dg.instance_for_test() as instance:
        drop(workspace.inbound, "b.json", [client_order(3)])
        with dg.build_sensor_context(instance=instance, resources={"client_folder": ClientFolder()}) as context:
            assert len(inbound_file_sensor.evaluate_tick(context).run_requests) == 1
        workspace.collection.insert_one(tracos_document(4))
        with dg.build_sensor_context(instance=instance, resources={"mongo": MongoResource()}) as context:
            assert len(outbound_pending_sensor.evaluate_tick(context).run_requests) == 1
        # The alert sensor fails its tick, naming the setting (and never echoing its value).
        job = dg.JobDefinition(graph_def=dg.GraphDefinition(name="failing", node_defs=[_failing_op]))
        with dg.build_sensor_context(instance=instance) as context:
            cursor = run_failure_alert.evaluate_tick(context).cursor
        job.execute_in_process(instance=instance, raise_on_error=False)
        with dg.build_sensor_context(instance=instance, cursor=cursor) as context:
            [reaction] = run_failure_alert.evaluate_tick(context).dagster_run_reactions
        assert variable in reaction.error.to_string()
        assert PASSWORD not in reaction.error.to_string() and "T0KEN" not in reaction.error.to_string()


@dg.op
def _failing_op() -> None:
    raise RuntimeError("boom")
