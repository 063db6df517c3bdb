"""The client port's rules (CONTRACT 5, 6) on every transport: the local folder (ClientFolder),
SFTP and S3 (RemoteFolders), against real servers started on 127.0.0.1 (remote_servers.py).
A rule that is the same everywhere is one test, parametrised over the three."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import pytest

from tracos_integration.client.folder import ClientFolder
from tracos_integration.client.remote import RemoteFolders
from tracos_integration.settings import SettingError
from tracos_integration.client.writing import ClientFolderError
from tracos_integration.client.transports import RemoteFolderError, RemoteRetry, parse_folder_url
from tracos_integration.core.files import FileError, FileErrors
from tracos_integration.ports import ClientSide

if TYPE_CHECKING:
    from tracos_integration_tests.remote_servers import S3Server, SshServer

# Its fixtures (sshd, s3_env), registered as a plugin so pytest rewrites its asserts too.
pytest_plugins = ["tracos_integration_tests.remote_servers"]

GOOD = json.dumps([{"orderNo": 1, "summary": "pump", "creationDate": "2024-01-01T00:00:00Z",
                    "lastUpdateDate": "2024-01-02T00:00:00Z", "isActive": True}]).encode()
OLD = 600.0  # seconds: settled on every transport


def no_wait_retry(budget: float = 5.0, on_sleep: Callable[[float], None] = lambda delay: None,
                  on_retry: Callable[[str], None] = lambda message: None) -> RemoteRetry:
    """Retries without real waiting: a fake clock advanced by each sleep."""
    now = [0.0]

    def sleep(delay: float) -> None:
        now[0] += max(delay, 0.5)
        on_sleep(delay)

    return RemoteRetry(budget_seconds=budget, sleep=sleep, clock=lambda: now[0], on_retry=on_retry)


@dataclass
class Side:
    """One transport's folders, and how a test looks at them from the server's side."""

    transport: str
    make: Callable[..., Any]  # (**options) -> the ClientSide
    put: Callable[[str, bytes, float], None]  # name, bytes, age in seconds (S3: always "now")
    names: Callable[[str], list[str]]  # sub-folder of inbound ("" for itself, "out" for outbound) -> every name
    content: Callable[[str, str], bytes]
    extra: dict = field(default_factory=dict)

    @property
    def client(self) -> Any:
        return self.make()


def _local(tmp_path: Path) -> Side:
    inbound, outbound = tmp_path / "in", tmp_path / "out"
    inbound.mkdir(), outbound.mkdir()

    def put(name: str, data: bytes, age: float) -> None:
        (inbound / name).write_bytes(data)
        os.utime(inbound / name, (time.time() - age,) * 2)

    def folder(sub: str) -> Path:
        return outbound if sub == "out" else inbound / sub

    def names(sub: str) -> list[str]:  # without the local folder's lock file (locks.py)
        return sorted(set(os.listdir(folder(sub))) - {".tracos.lock"}) if folder(sub).is_dir() else []

    return Side(
        "local",
        lambda **options: ClientFolder(inbound_dir=str(inbound), outbound_dir=str(outbound), **options),
        put, names,
        lambda sub, name: (folder(sub) / name).read_bytes(), {"inbound": inbound},
    )


def _sftp(server: SshServer) -> Side:
    base = uuid.uuid4().hex[:8]
    inbound, outbound = server.folder(base, "in"), server.folder(base, "out")

    def put(name: str, data: bytes, age: float) -> None:
        (inbound / name).write_bytes(data)
        server.own(inbound / name)
        os.utime(inbound / name, (time.time() - age,) * 2)

    def folder(sub: str) -> Path:
        return outbound if sub == "out" else inbound / sub

    def make(retry: RemoteRetry | None = None, **options: Any) -> RemoteFolders:
        return RemoteFolders(server.url(base, "in"), server.url(base, "out"), sftp_key_file=server.key_file,
                             sftp_known_hosts=server.known_hosts, retry=retry or no_wait_retry(), **options)

    return Side("sftp", make, put, lambda sub: sorted(os.listdir(folder(sub))) if folder(sub).is_dir() else [],
                lambda sub, name: (folder(sub) / name).read_bytes(), {"inbound": inbound, "server": server})


def _s3(server: S3Server) -> Side:
    bucket, s3 = server.new_bucket(), server.client()

    def key(sub: str, name: str) -> str:
        return f"out/{name}" if sub == "out" else "/".join(part for part in ("in", sub, name) if part)

    def names(sub: str) -> list[str]:
        prefix = key(sub, "")
        prefix = prefix if prefix.endswith("/") else prefix + "/"
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/")
        found = [item["Key"][len(prefix):] for page in pages for item in page.get("Contents", [])]
        found += [p["Prefix"][len(prefix):].rstrip("/") for page in pages for p in page.get("CommonPrefixes", [])]
        return sorted(found)

    def make(retry: RemoteRetry | None = None, **options: Any) -> RemoteFolders:
        return RemoteFolders(f"s3://{bucket}/in", f"s3://{bucket}/out", retry=retry or no_wait_retry(), **options)

    return Side("s3", make, lambda name, data, age: s3.put_object(Bucket=bucket, Key=key("", name), Body=data),
                names, lambda sub, name: s3.get_object(Bucket=bucket, Key=key(sub, name))["Body"].read(),
                {"bucket": bucket, "s3": s3, "server": server})


@pytest.fixture(params=["local", "sftp", "s3"])
def side(request: pytest.FixtureRequest, tmp_path: Path) -> Side:
    if request.param == "local":
        return _local(tmp_path)
    if request.param == "sftp":
        return _sftp(request.getfixturevalue("sshd"))
    return _s3(request.getfixturevalue("s3_env"))


@pytest.fixture(params=["sftp", "s3"])
def remote(request: pytest.FixtureRequest) -> Side:
    return _sftp(request.getfixturevalue("sshd")) if request.param == "sftp" else _s3(request.getfixturevalue("s3_env"))


def read_all(client: Any, page_size: int = 100) -> tuple[dict[str, int], list]:
    names, _ = client.list_inbound()
    pages = list(client.read(names, page_size))
    return {f.name: f.identity.packed() for page in pages for f in page.files}, pages


def errors_of(reason: str) -> FileErrors:
    errors = FileErrors()
    errors.add(FileError(None, reason))
    return errors


# -- the port --------------------------------------------------------------------------------
def test_every_transport_implements_the_client_port(side: Side) -> None:
    assert isinstance(side.client, ClientSide)


def test_read_files_go_to_processed_and_failed_with_the_same_report_on_every_transport(side: Side) -> None:
    side.put("a.json", GOOD, OLD)
    side.put("b.json", b"not json", OLD)
    side.put("notes.txt", b"x", OLD)
    client = side.client
    files, pages = read_all(client)
    bad = next(f for page in pages for f in page.files if f.name == "b.json")
    assert bad.error and "not valid JSON" in bad.error
    archived = client.archive(files, {"b.json": errors_of(bad.error)})
    assert (archived.processed, archived.failed, archived.not_moved) == (1, ["b.json"], {})
    assert side.names("processed") == ["a.json"]
    assert side.names("failed") == ["b.json", "b.json.error.json"]
    assert side.content("processed", "a.json") == GOOD
    assert json.loads(side.content("failed", "b.json.error.json")) == {
        "file": "b.json", "errors_total": 1, "errors": [{"index": None, "reason": bad.error}]}
    assert "notes.txt" in side.names("")  # other extensions are never read nor moved


def test_a_name_clash_gets_a_suffix_and_never_overwrites(side: Side) -> None:
    for name in ("a.json", "b.json"):
        side.put(name, b"[]", OLD)
    client = side.client
    files, _ = read_all(client)
    client.archive(files, {"b.json": errors_of("first")})
    side.put("a.json", GOOD, OLD)
    side.put("b.json", b"nope", OLD)
    files, _ = read_all(client)
    archived = client.archive(files, {"b.json": errors_of("second")})
    assert archived.failed == ["b.1.json"]
    assert side.names("processed") == ["a.1.json", "a.json"]
    assert side.content("processed", "a.json") == b"[]" and side.content("processed", "a.1.json") == GOOD
    assert side.names("failed") == ["b.1.json", "b.1.json.error.json", "b.json", "b.json.error.json"]
    assert json.loads(side.content("failed", "b.json.error.json"))["errors"][0]["reason"] == "first"
    assert json.loads(side.content("failed", "b.1.json.error.json"))["errors"][0]["reason"] == "second"


def test_a_file_changed_after_it_was_read_is_not_moved(side: Side) -> None:
    side.put("a.json", GOOD, OLD)
    client = side.client
    files, _ = read_all(client)
    side.put("a.json", GOOD + b"  ", OLD - 60)  # rewritten: another size and time (S3: another ETag)
    archived = client.archive(files, {})
    assert archived.processed == 0 and "changed after this run read it" in archived.not_moved["a.json"]
    assert side.names("") .count("a.json") == 1 and side.content("", "a.json") == GOOD + b"  "
    assert "a.json" not in side.names("processed")


def test_a_young_file_that_does_not_parse_is_left_to_settle_except_on_s3_where_an_object_is_whole(side: Side) -> None:
    side.put("young.json", b'[{"orderNo": 1', 0)
    side.put("old.json", GOOD, OLD)
    client = side.client
    scan = client.scan()
    names, _ = client.list_inbound()
    page = next(iter(client.read(names, 100)))
    if side.transport == "s3":
        assert scan.being_written == 0 and len(scan.ready) == 2
        assert [f.name for f in page.files] == ["old.json", "young.json"] and page.files[1].error
    else:
        assert scan.being_written == 1 and [entry.split("\0")[0] for entry in scan.ready] == ["old.json"]
        assert page.being_written == ["young.json"] and [f.name for f in page.files] == ["old.json"]


def test_scan_reports_files_of_another_format(side: Side) -> None:
    side.put("a.json", GOOD, OLD)
    side.put("EXPORT.CSV", b"x", OLD)
    scan = side.make(file_format="csv").scan()
    assert scan.ready == [] and sorted(scan.other_format) == [".CSV", ".json"]


def test_outbound_files_are_written_whole_and_no_temporary_file_is_left(side: Side) -> None:
    client = side.client
    client.require("outbound")
    name, payload = client.export_file({
        "orderNo": 7, "summary": "s", "creationDate": "2024-01-01T00:00:00+00:00",
        "lastUpdateDate": "2024-01-01T00:00:00+00:00", "isPending": False, "isActive": True, "isDone": False,
        "isOnHold": False, "isCanceled": False, "isDeleted": False, "deletedDate": None, "isSynced": True})
    assert client.write_files("outbound", [(name, b"old")]) == ["7.json"]
    assert client.write_files("outbound", [(name, payload)]) == ["7.json"]  # the newest replaces the older
    assert side.names("out") == ["7.json"]  # nothing hidden left behind
    assert json.loads(side.content("out", "7.json"))["orderNo"] == 7


def test_many_pages_are_read_in_name_order_within_the_page_size(side: Side) -> None:
    for number in range(7):
        side.put(f"{number:02}.json", GOOD, OLD)
    client = side.client
    names, _ = client.list_inbound()
    pages = list(client.read(names, 3))
    assert [[f.name for f in page.files] for page in pages] == [
        ["00.json", "01.json", "02.json"], ["03.json", "04.json", "05.json"], ["06.json"]]


def test_a_file_over_the_size_limit_is_failed_without_being_read_whole(side: Side) -> None:
    side.put("big.json", b"[" + b"{}," * 100 + b"{}]", OLD)
    page = next(iter(side.make(max_file_bytes=50).read(["big.json"], 10)))
    assert "over the INBOUND_MAX_FILE_BYTES limit of 50" in page.files[0].error


# -- SFTP host keys and logins ----------------------------------------------------------------
def _sftp_client(server: SshServer, tmp_path: Path, key_file: str | None = None, known_hosts: str | None = None,
                 user: str | None = None) -> RemoteFolders:
    user = user or server.user
    url = f"sftp://{user}@127.0.0.1:{server.port}{server.folder('keys')}"
    return RemoteFolders(url, url + "-out", sftp_key_file=key_file or server.key_file,
                         sftp_known_hosts=known_hosts or server.known_hosts, retry=no_wait_retry())


def test_an_unknown_host_key_is_refused_and_never_added(sshd: SshServer, tmp_path: Path) -> None:
    other = tmp_path / "other_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    wrong = tmp_path / "known_hosts_wrong"
    wrong.write_text(f"[127.0.0.1]:{sshd.port} {' '.join(Path(str(other) + '.pub').read_text().split()[:2])}\n")
    unknown = tmp_path / "known_hosts_empty"
    unknown.write_text("")
    for known_hosts, says in ((wrong, "BadHostKeyException"), (unknown, "not in known_hosts")):
        with pytest.raises(RemoteFolderError) as refused:
            _sftp_client(sshd, tmp_path, known_hosts=str(known_hosts)).list_inbound()
        message = str(refused.value)
        assert says in message and f"sftp://127.0.0.1:{sshd.port}" in message and "\n" not in message
        assert f"{sshd.user}@" not in message
    assert unknown.read_text() == ""  # never trusted on first use


def test_a_missing_known_hosts_file_is_refused_before_connecting(sshd: SshServer, tmp_path: Path) -> None:
    with pytest.raises(RemoteFolderError, match="no known_hosts file at .*SFTP_KNOWN_HOSTS"):
        _sftp_client(sshd, tmp_path, known_hosts=str(tmp_path / "absent")).list_inbound()


def test_a_wrong_key_is_refused_in_one_line_naming_the_host_and_no_secret(sshd: SshServer, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(wrong)], check=True)
    with pytest.raises(RemoteFolderError) as refused:
        _sftp_client(sshd, tmp_path, key_file=str(wrong), user="secret-user").list_inbound()
    message = str(refused.value)
    assert message.count("\n") == 0 and f"127.0.0.1:{sshd.port}" in message and "Authentication" in message
    assert "secret-user" not in message
    key_text = wrong.read_text()
    assert not any(line in message for line in key_text.splitlines()[1:-1])


def test_a_url_is_shown_without_its_user_name() -> None:
    assert parse_folder_url("sftp://p%40ss-user@files.example.com:2222/in").shown == "sftp://files.example.com:2222/in"
    with pytest.raises(RemoteFolderError) as refused:
        parse_folder_url("sftp://user:hunter2@files.example.com/in")
    assert "hunter2" not in str(refused.value) and "user:" not in str(refused.value)


# -- faults ------------------------------------------------------------------------------------
def test_an_unreachable_server_fails_in_one_line_naming_the_host_and_moves_nothing(
        remote: Side, monkeypatch: pytest.MonkeyPatch) -> None:
    remote.put("a.json", GOOD, OLD)
    client = remote.client
    files, _ = read_all(client)
    from tracos_integration_tests.remote_servers import free_port

    port = free_port()  # nothing listens there
    if remote.transport == "sftp":
        server = remote.extra["server"]
        url = f"sftp://secret-user@127.0.0.1:{port}{remote.extra['inbound']}"
        dead = RemoteFolders(url, url + "x", sftp_key_file=server.key_file, sftp_known_hosts=server.known_hosts,
                             retry=no_wait_retry())
        where = f"sftp://127.0.0.1:{port}"
    else:
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
        dead = remote.make()
        where = f"s3://{remote.extra['bucket']}/in"
    with pytest.raises(RemoteFolderError) as unreachable:
        dead.archive(files, {})
    message = str(unreachable.value)
    assert "still unreachable after" in message and where in message and "\n" not in message
    assert "secret-user" not in message and "s3cr3t-never-shown" not in message
    assert remote.names("") == ["a.json"] and remote.names("processed") == []


def test_a_connection_dropped_between_pages_is_reopened_and_every_file_is_read(remote: Side) -> None:
    for number in range(6):
        remote.put(f"{number}.json", GOOD, OLD)
    server = remote.extra["server"]
    restarted = []
    warnings: list[str] = []
    client = remote.make(retry=no_wait_retry(on_sleep=lambda delay: restarted or (server.start(), restarted.append(1)),
                                             on_retry=warnings.append))
    names, _ = client.list_inbound()
    pages = client.read(names, 2)
    read = [f.name for f in next(pages).files]
    if remote.transport == "sftp":
        assert server.drop_sessions() > 0  # the server keeps listening: the retry reconnects
    else:
        server.stop()  # moto's server gone; the retry's backoff starts it again
    for page in pages:
        read += [f.name for f in page.files]
    assert read == names and len(names) == 6
    shown = client.urls["inbound"].shown
    assert warnings and all(shown in warning and "retrying in" in warning for warning in warnings)  # never silent
    if remote.transport == "s3":
        assert restarted == [1]


def test_a_server_restarted_mid_run_is_reconnected_and_the_archive_completes(remote: Side) -> None:
    for number in range(3):
        remote.put(f"{number}.json", GOOD, OLD)
    server, restarted = remote.extra["server"], []
    client = remote.make(retry=no_wait_retry(on_sleep=lambda delay: restarted or (server.start(), restarted.append(1))))
    files, _ = read_all(client)
    server.stop()  # between reading and archiving: the first call of archive finds it gone
    archived = client.archive(files, {})
    assert restarted == [1] and archived.processed == 3
    assert remote.names("processed") == ["0.json", "1.json", "2.json"] and remote.names("") == ["processed"]


@contextlib.contextmanager
def processed_denied(remote: Side, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Writing into processed/ refused by the server itself. SFTP: the folder made read-only
    for the (unprivileged) SFTP user. S3: moto's IAM check turned on, with credentials of a
    user whose policy denies s3:PutObject (which CopyObject needs) under in/processed/."""
    if remote.transport == "sftp":
        if os.geteuid() == 0 and remote.extra["server"].user == "root":
            pytest.skip("the SFTP user is root, whom no folder refuses")
        processed = remote.extra["inbound"] / "processed"
        processed.mkdir()
        remote.extra["server"].own(processed)
        processed.chmod(0o555)
        try:
            yield
        finally:
            processed.chmod(0o755)
        return
    from moto.core.authorization import enable_iam_authentication

    server, bucket = remote.extra["server"], remote.extra["bucket"]
    import boto3

    iam = boto3.client("iam", endpoint_url=server.endpoint, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    user = f"archiver-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="no-processed", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/in/processed/*"}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    with enable_iam_authentication():
        yield


def test_permission_denied_on_processed_leaves_the_files_in_place_with_the_reason(
        remote: Side, monkeypatch: pytest.MonkeyPatch) -> None:
    remote.put("a.json", GOOD, OLD)
    with processed_denied(remote, monkeypatch):
        client = remote.client
        files, _ = read_all(client)
        archived = client.archive(files, {})
    assert archived.processed == 0 and "a.json" in archived.not_moved
    why = archived.not_moved["a.json"]
    assert ("ermission denied" in why or "AccessDenied" in why or "Access Denied" in why), why
    assert "nobody@" not in why and "\n" not in why
    assert remote.names("") in (["a.json"], ["a.json", "processed"]) and remote.names("processed") == []


# -- the factory and the scan's scale ------------------------------------------------------------
def test_the_client_folder_resource_picks_its_transport_by_scheme(tmp_path: Path) -> None:
    local = ClientFolder(inbound_dir=str(tmp_path / "in"), outbound_dir=str(tmp_path / "out"))
    assert local.side() is local
    assert isinstance(ClientFolder(inbound_dir="s3://b/in", outbound_dir="s3://b/out").side(), RemoteFolders)
    with pytest.raises(SettingError, match="both be remote"):
        ClientFolder(inbound_dir="s3://b/in", outbound_dir=str(tmp_path / "out")).side()

def test_scan_pages_through_ten_thousand_files(remote: Side) -> None:
    """10,000 files in one folder (S3: under one prefix), listed a page at a time (S3: 1,000
    keys a ListObjectsV2 page; SFTP: a batch of READDIR replies); the time is printed."""
    names = [f"{n:05}.json" for n in range(10_000)]
    if remote.transport == "s3":
        remote.extra["server"].seed(remote.extra["bucket"], (f"in/{name}" for name in names))
    else:
        for name in names:
            (remote.extra["inbound"] / name).write_bytes(b"[]")
            os.utime(remote.extra["inbound"] / name, (time.time() - OLD,) * 2)
    client = remote.client
    started = time.perf_counter()
    scan = client.scan()
    elapsed = time.perf_counter() - started
    print(f"\nscan of 10,000 {remote.transport} files: {elapsed:.2f} s")
    assert len(scan.ready) == 10_000 and scan.being_written == 0


def test_a_write_cut_by_a_dropped_connection_leaves_no_temporary_file(
        sshd: SshServer, monkeypatch: pytest.MonkeyPatch) -> None:
    import paramiko

    remote, original, dropped = _sftp(sshd), paramiko.SFTPClient.posix_rename, []

    def cut_then_rename(self: paramiko.SFTPClient, old: str, new: str) -> None:
        if not dropped:  # the temp file is written; the connection dies before the rename
            dropped.append(sshd.drop_sessions())
        original(self, old, new)

    monkeypatch.setattr(paramiko.SFTPClient, "posix_rename", cut_then_rename)
    assert remote.client.write_files("outbound", [("7.json", b"{}")]) == ["7.json"]
    assert dropped[0] > 0 and remote.names("out") == ["7.json"]


def test_a_missing_folder_or_bucket_fails_at_once_saying_what_to_fix(remote: Side) -> None:
    if remote.transport == "sftp":
        server = remote.extra["server"]
        url = f"sftp://{server.user}@127.0.0.1:{server.port}/no/such/folder"
        missing = RemoteFolders(url, url + "-out", sftp_key_file=server.key_file,
                                sftp_known_hosts=server.known_hosts, retry=no_wait_retry())
        says = f"the folder sftp://127.0.0.1:{server.port}/no/such/folder does not exist"
    else:
        missing = RemoteFolders("s3://no-such-bucket/in", "s3://no-such-bucket/out", retry=no_wait_retry())
        says = "the bucket of s3://no-such-bucket/in does not exist"
    for call in (lambda: missing.require("inbound"), missing.list_inbound, missing.scan):
        with pytest.raises(ClientFolderError, match=says) as failed:
            call()
        assert "@" not in str(failed.value) and "\n" not in str(failed.value)


def test_s3_a_name_taken_after_the_look_is_still_never_overwritten(
        s3_env: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another writer takes processed/a.json between the HEAD that found it free and the copy:
    CopyObject's If-None-Match refuses, and the file takes the next name."""
    from tracos_integration.client.s3_store import S3Store

    remote = _s3(s3_env)
    s3, bucket = remote.extra["s3"], remote.extra["bucket"]
    remote.put("a.json", GOOD, OLD)
    s3.put_object(Bucket=bucket, Key="in/processed/a.json", Body=b"earlier")
    monkeypatch.setattr(S3Store, "exists", lambda self, name, sub="": False)  # every look misses it
    client = remote.client
    files, _ = read_all(client)
    assert client.archive(files, {}).processed == 1
    assert remote.names("processed") == ["a.1.json", "a.json"] and remote.content("processed", "a.json") == b"earlier"


def test_s3_an_object_replaced_after_the_look_is_not_copied(
        s3_env: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """Replaced between the HEAD that found it unchanged and the copy: CopySourceIfMatch
    refuses, and the new version stays for the next run."""
    from tracos_integration.client.s3_store import S3Store

    remote = _s3(s3_env)
    remote.put("a.json", GOOD, OLD)
    client = remote.client
    files, _ = read_all(client)
    store = client.stores["inbound"]
    stale = store._head("a.json")
    remote.put("a.json", GOOD + b" ", OLD)
    real_head = S3Store._head
    monkeypatch.setattr(S3Store, "_head", lambda self, name, sub="": stale if (name, sub) == ("a.json", "")
                        else real_head(self, name, sub))
    archived = client.archive(files, {})
    assert archived.processed == 0 and "ETag differ" in archived.not_moved["a.json"]
    assert remote.names("processed") == [] and remote.content("", "a.json") == GOOD + b" "


def test_s3_an_object_replaced_after_the_copy_is_not_deleted(
        s3_env: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """Replaced between the copy and the delete: the version read is in processed/, the new
    one stays for the next run (DeleteObject If-Match)."""
    from tracos_integration.client.s3_store import S3Store

    remote = _s3(s3_env)
    remote.put("a.json", GOOD, OLD)
    client = remote.client
    files, _ = read_all(client)
    copy = S3Store._copy_new

    def copy_then_replace(self: S3Store, *args: Any) -> None:
        copy(self, *args)
        remote.put("a.json", GOOD + b" ", OLD)

    monkeypatch.setattr(S3Store, "_copy_new", copy_then_replace)
    assert client.archive(files, {}).processed == 1
    assert remote.content("processed", "a.json") == GOOD and remote.content("", "a.json") == GOOD + b" "


def test_both_sync_loops_run_on_every_transport(side: Side, monkeypatch: pytest.MonkeyPatch) -> None:
    """The port is complete: sync/ inbound then outbound, on TracOS in memory, over each
    transport's folders (what the jobs will call once wired)."""
    from datetime import datetime, timezone

    from tracos_integration.sync.inbound import apply_files
    from tracos_integration.sync.outbound import export
    from tracos_integration.tracos.resource import MongoResource
    from tracos_integration_tests.factories import client_order, tracos_document

    monkeypatch.setenv("MONGO_URI", f"mongomock://remote-{uuid.uuid4().hex}")
    tracos = MongoResource().repository()
    MongoResource().get_collection().insert_one(tracos_document(9, _id="nine"))
    side.put("a.json", json.dumps([client_order(1), client_order(2)]).encode(), OLD)
    side.put("b.json", json.dumps([{"orderNo": "x"}]).encode(), OLD)
    client, now = side.client, datetime(2024, 6, 1, 12, tzinfo=timezone.utc)
    run = apply_files(tracos, client, page_size=1, dry_run=False, now=now, client_timezone="UTC")
    archived = client.archive(run.report.files, run.report.failed)
    assert (run.report.counts["inserted"], run.report.counts["rejected"]) == (2, 1)
    assert (archived.processed, archived.failed) == (1, ["b.json"])
    report = export(tracos, client, page_size=10, dry_run=False, timezone="UTC", now=lambda: now)
    assert report.summary["marked_synced"] == 1 and side.names("out") == ["9.json"]
    assert json.loads(side.content("out", "9.json"))["orderNo"] == 9


def test_a_listing_cut_midway_is_listed_again_whole(remote: Side, monkeypatch: pytest.MonkeyPatch) -> None:
    """The connection dies in the middle of a listing (S3: between two ListObjectsV2 pages;
    SFTP: between READDIR batches): the retry lists again from the start, nothing twice."""
    from tracos_integration.client.s3_store import S3Store
    from tracos_integration.client.sftp_store import SftpStore

    names = [f"{n:04}.json" for n in range(2500)]
    server, restarted = remote.extra["server"], []
    if remote.transport == "s3":
        server.seed(remote.extra["bucket"], (f"in/{name}" for name in names))
        store_class = S3Store
    else:
        for name in names:
            (remote.extra["inbound"] / name).write_bytes(b"[]")
            os.utime(remote.extra["inbound"] / name, (time.time() - OLD,) * 2)
        store_class = SftpStore
    entries = store_class.entries

    def cut_after_1200(self: Any) -> Iterator[Any]:
        for count, entry in enumerate(entries(self)):
            if count == 1200 and not restarted:
                server.drop_sessions() if remote.transport == "sftp" else server.stop()
            yield entry

    monkeypatch.setattr(store_class, "entries", cut_after_1200)
    client = remote.make(retry=no_wait_retry(on_sleep=lambda delay: restarted or (server.start(), restarted.append(1))))
    scan = client.scan()
    assert restarted == [1] and sorted(entry.split("\0")[0] for entry in scan.ready) == names


@pytest.mark.parametrize("transport", ["local", "sftp"])  # S3 keys are always UTF-8
def test_a_name_that_is_not_utf8_is_read_and_archived_with_its_report(
        transport: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    side = _local(tmp_path) if transport == "local" else _sftp(request.getfixturevalue("sshd"))
    folder = side.extra["inbound"]
    raw = os.path.join(os.fsencode(folder), b"caf\xe9.json")
    with open(raw, "wb") as handle:
        handle.write(b"not json")
    os.utime(raw, (time.time() - OLD,) * 2)
    if transport == "sftp":
        side.extra["server"].own(Path(os.fsdecode(raw)))
    side.put("ok.json", GOOD, OLD)
    client = side.client
    files, pages = read_all(client)
    name = os.fsdecode(b"caf\xe9.json")
    assert sorted(files) == sorted([name, "ok.json"])
    error = next(f.error for page in pages for f in page.files if f.name == name)
    archived = client.archive(files, {name: errors_of(error)})
    assert archived.failed == [name] and archived.processed == 1
    assert os.listdir(os.path.join(os.fsencode(folder), b"failed")).count(b"caf\xe9.json") == 1
    assert json.loads(side.content("failed", name + ".error.json"))["file"] == "caf\\xe9.json"


def test_sftp_a_request_that_cannot_be_sent_is_not_the_end_of_the_listing(
        sshd: SshServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """paramiko raises a bare EOFError when it cannot send on a closed channel, as it does for
    the server's "end of folder" (with its text): a listing cut that way is listed again whole,
    never taken as complete."""
    import paramiko
    from paramiko.sftp import CMD_READDIR

    remote = _sftp(sshd)
    names = [f"{n:04}.json" for n in range(500)]
    for name in names:
        remote.put(name, b"[]", OLD)
    request, calls = paramiko.SFTPClient._request, []

    def cut_third_readdir(self: paramiko.SFTPClient, kind: int, *args: Any) -> Any:
        if kind == CMD_READDIR:
            calls.append(1)
            if len(calls) == 3:
                self.get_channel().close()
                raise EOFError()  # what SFTPClient._write_all raises when the channel is gone
        return request(self, kind, *args)

    monkeypatch.setattr(paramiko.SFTPClient, "_request", cut_third_readdir)
    retried: list[str] = []
    scan = remote.make(retry=no_wait_retry(on_retry=retried.append)).scan()
    assert retried and sorted(entry.split("\0")[0] for entry in scan.ready) == names


def test_sftp_costs_the_plain_scripts_requests_plus_only_the_rules_looks(
        sshd: SshServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Per file, as the remote benchmark's paramiko floor (open, read, read to EOF, close;
    open, write, close, posix-rename) plus only the looks a rule needs: an lstat before
    reading (links are not read; its size and time are the identity) and one before and
    after the move (changed since read). No fstat, no chmod."""
    import paramiko

    remote, sent = _sftp(sshd), Counter()
    request = paramiko.SFTPClient._async_request

    def counted(self, fileobj, kind, *args):
        sent[kind] += 1
        return request(self, fileobj, kind, *args)

    monkeypatch.setattr(paramiko.SFTPClient, "_async_request", counted)
    for number in range(10):
        remote.put(f"{number}.json", GOOD, OLD)
    client = remote.client
    client.require("inbound")
    names, _ = client.list_inbound()
    sent.clear()
    pages = list(client.read(names, 100))
    assert sum(sent.values()) == 5 * 10  # lstat, open, read, read (EOF), close
    files = {f.name: f.identity.packed() for page in pages for f in page.files}
    client.stores["inbound"].ensure_folder("processed")  # made before: its one-off mkdir apart
    sent.clear()
    assert client.archive(files, {}).processed == 10
    assert sum(sent.values()) - 3 == 3 * 10  # lstat, rename, lstat (+ once: processed/'s lstat, the folder's stat and realpath)
    client.require("outbound")
    sent.clear()
    client.write_files("outbound", [(f"{number}.json", GOOD) for number in range(10)])
    assert sum(sent.values()) - 2 == 4 * 10  # open, write, close, posix-rename (+ once: the folder's stat and realpath)


def test_sftp_outbound_files_get_the_mode_the_servers_umask_gives(sshd: SshServer) -> None:
    """No chmod: as the local folder's os.open(0o644), the server's umask decides; under
    OpenSSH's usual 022, every user can read the file (0644)."""
    remote = _sftp(sshd)
    umask = os.umask(0)
    os.umask(umask)  # sshd was started by this process: it has this umask
    remote.client.write_files("outbound", [("7.json", GOOD)])
    mode = os.stat(remote.extra["inbound"].parent / "out" / "7.json").st_mode & 0o777
    assert mode == 0o666 & ~umask
