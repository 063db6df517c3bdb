"""Test servers on 127.0.0.1 for the remote client folders: an OpenSSH sshd (sftp subsystem
internal-sftp, a throwaway host key and user key, known_hosts written here) and an S3 API
server (moto in server mode). Each fixture skips, saying what is missing, when its server
cannot run here.

Run as root (CI), sshd logs in the unprivileged user `nobody` (never root), so a folder
made read-only on the server really refuses writes. Otherwise it logs in the current user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import pytest

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:g}s")


@dataclass
class SshServer:
    """One sshd on 127.0.0.1:port; `root` is a folder on this machine that the SFTP user owns."""

    home: Path  # config, keys, known_hosts
    root: Path  # what sftp://user@127.0.0.1:port/<root> reaches
    port: int
    user: str
    uid: int
    key_file: str
    known_hosts: str
    process: subprocess.Popen | None = None

    def url(self, *parts: str) -> str:
        return f"sftp://{self.user}@127.0.0.1:{self.port}{self.root.joinpath(*parts)}"

    def folder(self, *parts: str) -> Path:
        """A folder on the server, owned by the SFTP user."""
        path = self.root.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        self.own(path)
        return path

    def own(self, path: Path) -> None:
        if os.geteuid() == 0:
            os.chown(path, self.uid, -1)

    def start(self) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        self.process = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(self.home / "sshd_config")],
            stdout=subprocess.DEVNULL, stderr=open(self.home / "sshd.log", "ab"),
        )
        _wait_for_port(self.port, self.process, "sshd")

    def stop(self) -> None:
        """Stop the server and every session it serves."""
        self.drop_sessions()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None

    def sessions(self) -> list[int]:
        """The pids of the per-connection sshd processes: every descendant of this server (a
        session is a privileged monitor and its unprivileged child, which serves SFTP)."""
        if self.process is None:
            return []
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as stat:
                        parent = int(stat.read().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                children.setdefault(parent, []).append(int(entry))
        found, parents = [], [self.process.pid]
        while parents:
            parents = [child for parent in parents for child in children.get(parent, [])]
            found += parents
        return found

    def drop_sessions(self) -> int:
        """Kill every open SFTP session, as a network cut would; the server keeps listening."""
        dropped = 0
        for pid in self.sessions():
            try:
                os.kill(pid, signal.SIGKILL)
                dropped += 1
            except ProcessLookupError:
                pass
        return dropped


def _sshd_config(home: Path, port: int, user: str) -> str:
    return "\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {home / 'host_key'}",
        f"PidFile {home / 'sshd.pid'}", f"AuthorizedKeysFile {home / 'authorized_keys'}",
        "PasswordAuthentication no", "KbdInteractiveAuthentication no", "PubkeyAuthentication yes",
        "UsePAM no", "StrictModes no", f"AllowUsers {user}", "PermitRootLogin no",
        "Subsystem sftp internal-sftp", "ForceCommand internal-sftp", "LogLevel ERROR",
        "MaxStartups 100", "MaxSessions 100", "",
    ])


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


class ServerMissing(RuntimeError):
    """A test server cannot run here; the message says what to install."""


def sshd_missing() -> str | None:
    if not os.path.exists(SSHD) or not shutil.which("ssh-keygen"):
        return "OpenSSH's sshd is not installed (Debian: apt-get install openssh-server)"
    return None


def start_sshd() -> SshServer:
    """Start an sshd (ServerMissing when it cannot run here); `stop_sshd` ends it."""
    if sshd_missing():
        raise ServerMissing(sshd_missing())
    if os.geteuid() == 0:
        entry = pwd.getpwnam("nobody")
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation folder
    else:
        entry = pwd.getpwuid(os.geteuid())
    home = Path(tempfile.mkdtemp(prefix="tracos-sshd-"))
    home.chmod(0o755)  # sshd reads authorized_keys as the user
    root = home / "srv"
    root.mkdir()
    _keygen(home / "host_key")
    _keygen(home / "user_key")
    shutil.copy(home / "user_key.pub", home / "authorized_keys")
    (home / "authorized_keys").chmod(0o644)
    port = free_port()
    host_public = (home / "host_key.pub").read_text().split()
    (home / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_public[0]} {host_public[1]}\n")
    (home / "sshd_config").write_text(_sshd_config(home, port, entry.pw_name))
    server = SshServer(home, root, port, entry.pw_name, entry.pw_uid, str(home / "user_key"), str(home / "known_hosts"))
    server.own(root)
    server.start()
    return server


def stop_sshd(server: SshServer) -> None:
    server.stop()
    shutil.rmtree(server.home, ignore_errors=True)


@pytest.fixture(scope="session")
def sshd_server() -> Iterator[SshServer]:
    try:
        server = start_sshd()
    except ServerMissing as missing:
        pytest.skip(str(missing))
    try:
        yield server
    finally:
        stop_sshd(server)


@pytest.fixture
def sshd(sshd_server: SshServer) -> Iterator[SshServer]:
    """The session's sshd, running again after a test that stopped it."""
    sshd_server.start()
    yield sshd_server
    sshd_server.start()


@dataclass
class S3Server:
    """moto's S3 API on 127.0.0.1:port, in this process (ThreadedMotoServer)."""

    port: int
    server: object

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def new_bucket(self) -> str:
        name = f"tracos-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def seed(self, bucket: str, keys: Iterable[str], body: bytes = b"[]") -> None:
        """Objects put straight into moto's store (this process serves it): 10,000 in about
        a second, where as many PUTs take over a minute."""
        from moto.backends import get_backend
        from moto.core import DEFAULT_ACCOUNT_ID

        store = get_backend("s3")[DEFAULT_ACCOUNT_ID]["global"]
        for key in keys:
            store.put_object(bucket, key, body)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def start(self) -> None:
        if self.server is not None:
            return
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"moto did not listen on 127.0.0.1:{self.port}")


def honour_copy_conditions() -> None:
    """Make moto's CopyObject honour two conditions as S3 documents them, both answered with
    412 Precondition Failed: `If-None-Match: *` ("copies the object only if the object key
    name at the destination does not already exist") and `x-amz-copy-source-if-match`
    ("copies the object if its entity tag (ETag) matches the specified tag"). moto 5 checks
    neither on a copy."""
    from urllib.parse import unquote, urlparse

    from moto.s3.exceptions import PreconditionFailed
    from moto.s3.responses import S3Response

    copy = S3Response.copy_object
    if getattr(copy, "honours_conditions", False):
        return

    def copy_object(self: S3Response):
        if self.headers.get("If-None-Match") == "*" and \
                self.backend.get_object(self.bucket_name, self.parse_key_name()) is not None:
            raise PreconditionFailed("If-None-Match")
        wanted = self.headers.get("x-amz-copy-source-if-match")
        if wanted is not None:
            bucket, key = unquote(urlparse(self.headers["x-amz-copy-source"]).path).lstrip("/").split("/", 1)
            source = self.backend.get_object(bucket, key)
            if source is None or source.etag.strip('"') != wanted.strip('"'):
                raise PreconditionFailed("x-amz-copy-source-If-Match")
        return copy(self)

    copy_object.honours_conditions = True  # type: ignore[attr-defined]
    S3Response.copy_object = copy_object  # type: ignore[method-assign]


def moto_missing() -> str | None:
    try:
        import moto.server  # noqa: F401
        import flask  # noqa: F401  (moto's server mode)
    except ImportError as missing:
        return f"moto's S3 server is not installed ({missing.name}); pip install 'moto[server]'"
    return None


def start_s3(port: int | None = None) -> S3Server:
    """Start moto's S3 server in this process (ServerMissing when it cannot run here);
    `S3Server.stop` ends it."""
    if moto_missing():
        raise ServerMissing(moto_missing())
    honour_copy_conditions()
    server = S3Server(port or free_port(), None)
    server.start()
    return server


@pytest.fixture(scope="session")
def s3_session_server() -> Iterator[S3Server]:
    try:
        server = start_s3()
    except ServerMissing as missing:
        pytest.skip(str(missing))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_server(s3_session_server: S3Server) -> Iterator[S3Server]:
    """The session's moto server, running again after a test that stopped it."""
    s3_session_server.start()
    yield s3_session_server
    s3_session_server.start()


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """The standard AWS variables pointing at the test server, with throwaway secrets."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t-never-shown")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(variable, raising=False)
    return s3_server
