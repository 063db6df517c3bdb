"""Where a client folder lives: a local path, `sftp://user@host[:port]/path` or
`s3://bucket/prefix`; opening the remote ones through fsspec with their credentials, and
retrying their transient network errors within a budget.

Credentials never reach a message: a URL is shown without its user name (`shown`), S3's
come from the standard AWS variables and files (AWS_ACCESS_KEY_ID, AWS_PROFILE,
AWS_ENDPOINT_URL, ...), SFTP's from a private key file. An SFTP server's host key is always
checked against a known_hosts file; an unknown or different key is refused.
"""

from __future__ import annotations

import errno
import os
import random
import socket
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, TypeVar

import paramiko

from tracos_integration.client.locations import (  # noqa: F401 (re-exported)
    SCHEMES,
    FolderURL,
    RemoteFolderError,
    is_remote,
    parse_folder_url,
)

T = TypeVar("T")

CONNECT_TIMEOUT_SECONDS = 15.0
# The longest an SFTP request waits for its answer: past it the call fails (retried on a new
# connection), so a server that stops answering never holds a run forever.
READ_TIMEOUT_SECONDS = 30.0


# -- opening ---------------------------------------------------------------------------------
def open_sftp(url: FolderURL, key_file: Optional[str], known_hosts: Optional[str]):
    """fsspec's SFTP file system on `url`'s server, logged in with the private key, the host
    key checked against `known_hosts` (default ~/.ssh/known_hosts): never auto-added."""
    from fsspec.implementations.sftp import SFTPFileSystem

    known_hosts = os.path.expanduser(known_hosts or "~/.ssh/known_hosts")
    if not os.path.isfile(known_hosts):
        raise RemoteFolderError(
            f"cannot check the host key of {url.shown}: no known_hosts file at {known_hosts}; "
            f"add the server's key there (ssh-keyscan, checked with its owner) or set SFTP_KNOWN_HOSTS"
        )
    if not key_file or not os.path.isfile(os.path.expanduser(key_file)):
        raise RemoteFolderError(
            f"cannot log in to {url.shown}: no private key file{f' at {key_file}' if key_file else ''}; "
            "set SFTP_KEY_FILE "
            "(or the customer's sftp_key_file)"
        )

    key = load_private_key(url, os.path.expanduser(key_file))

    class CheckedSFTP(SFTPFileSystem):
        def _connect(self) -> None:
            self.client = paramiko.SSHClient()
            self.client.load_host_keys(known_hosts)
            self.client.set_missing_host_key_policy(RefuseUnknownHost())
            self.client.connect(self.host, **self.ssh_kwargs)
            self.ftp = self.client.open_sftp()
            self.ftp.get_channel().settimeout(READ_TIMEOUT_SECONDS)  # paramiko's default: wait forever

    return CheckedSFTP(
        url.host, port=url.port or 22, username=url.user, pkey=key,
        look_for_keys=False, allow_agent=False, timeout=CONNECT_TIMEOUT_SECONDS,
        banner_timeout=CONNECT_TIMEOUT_SECONDS, auth_timeout=CONNECT_TIMEOUT_SECONDS, skip_instance_cache=True,
    )


def load_private_key(url: FolderURL, key_file: str) -> paramiko.PKey:
    """The private key, read before connecting: a damaged, encrypted or unreadable key file is
    one line naming the file (never its content), not a network error retried for a minute."""
    try:
        return paramiko.PKey.from_path(key_file)
    except (paramiko.SSHException, OSError, ValueError, TypeError) as error:
        # An encrypted key: paramiko's PasswordRequiredException, or cryptography's TypeError.
        if isinstance(error, paramiko.PasswordRequiredException) or "password" in str(error).lower():
            problem = "is protected by a passphrase; give the service a key without one"
        else:
            why = getattr(error, "strerror", None) or error
            problem = f"cannot be read as a private key ({type(error).__name__}: {why})"
    raise RemoteFolderError(f"cannot log in to {url.shown}: the private key file {key_file} {problem}; "
                            "fix SFTP_KEY_FILE (or the customer's sftp_key_file)")


class UnknownHostKey(paramiko.SSHException):
    """The server's host key is not in known_hosts: never trusted on first use."""


class RefuseUnknownHost(paramiko.MissingHostKeyPolicy):
    """paramiko's RejectPolicy, with an error of our own type (never retried). It replaces
    fsspec's default, paramiko's AutoAddPolicy, which trusts any key on first connection."""

    def missing_host_key(self, client, hostname, key) -> None:
        raise UnknownHostKey(f"the host key of {hostname} ({key.get_name()}) is not in known_hosts; refused")


def open_s3():
    """s3fs on the standard AWS credentials (variables, ~/.aws files, instance roles) and
    endpoint (AWS_ENDPOINT_URL or AWS_ENDPOINT_URL_S3, for any S3-compatible server): botocore
    reads them where its ecosystem keeps them, so this project never reads them itself."""
    import s3fs

    fs = s3fs.S3FileSystem(
        skip_instance_cache=True,
        config_kwargs={"connect_timeout": CONNECT_TIMEOUT_SECONDS, "read_timeout": 60,
                       "retries": {"max_attempts": 1}},
    )
    fs.retries = 1  # RemoteRetry retries, within its budget, on a new client
    return fs


# -- transient errors ------------------------------------------------------------------------
_NETWORK_ERRNOS = {errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE, errno.ETIMEDOUT,
                   errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ENETDOWN, errno.EHOSTDOWN}
_DROPPED = ("socket is closed", "connection dropped", "connection reset", "server connection", "eof",
            "not connected", "session not active", "error reading ssh protocol banner", "timed out",
            "could not connect", "connection refused", "connect timeout", "read timeout")


def is_transient(error: BaseException) -> bool:
    """The network failed, or the server went away: the same call may work on a new connection.
    A refused host key, a refused login, a missing file or a denied permission never is."""
    if isinstance(error, (paramiko.AuthenticationException, paramiko.BadHostKeyException, UnknownHostKey)):
        return False
    if isinstance(error, paramiko.ssh_exception.NoValidConnectionsError):
        return True
    if isinstance(error, paramiko.SSHException):
        return True  # the transport broke (banner, negotiation, dropped session)
    if isinstance(error, (FileNotFoundError, PermissionError, FileExistsError, IsADirectoryError, NotADirectoryError)):
        return False
    if isinstance(error, (EOFError, ConnectionError, socket.timeout, TimeoutError)):
        return True
    if isinstance(error, OSError) and error.errno in _NETWORK_ERRNOS:
        return True
    try:
        from botocore.exceptions import ConnectionError as BotoConnectionError, HTTPClientError
        if isinstance(error, (BotoConnectionError, HTTPClientError)):
            return True
    except ImportError:  # pragma: no cover
        pass
    if type(error).__module__.startswith(("aiohttp", "botocore", "aiobotocore")) or isinstance(error, OSError):
        text = str(error).lower()
        return any(word in text for word in _DROPPED) or "503" in text or "slowdown" in text
    return False


def reason(error: BaseException) -> str:
    """An error in one short line. Messages of these libraries carry hosts and paths, never
    keys or secrets; the user name is cut out all the same by the caller's `scrub`."""
    text = " ".join(str(error).split()) or type(error).__name__
    text = f"{type(error).__name__}: {text}" if type(error).__name__ not in text else text
    return text if len(text) <= 300 else text[:297] + "..."


@dataclass
class RemoteRetry:
    """Retries `is_transient` errors with exponential backoff and full jitter until
    `budget_seconds` is spent (as tracos/retry.py does for MongoDB); `reconnect` runs before
    each new attempt. Clock and sleep are injectable."""

    budget_seconds: float = 60.0
    base_delay: float = 0.5
    max_delay: float = 8.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    rng: random.Random = field(default_factory=random.Random)
    on_retry: Callable[[str], None] = lambda message: None

    def call(self, operation: Callable[[], T], what: str, where: str, reconnect: Callable[[], None],
             scrub: Callable[[str], str] = lambda text: text) -> T:
        started, attempt = self.clock(), 0
        while True:
            attempt += 1
            try:
                return operation()
            except Exception as error:
                if not is_transient(error):
                    raise
                elapsed = self.clock() - started
                delay = self.rng.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))
                if elapsed + delay > self.budget_seconds:
                    raise RemoteFolderError(
                        f"{where} still unreachable after {attempt} attempt{'s' * (attempt != 1)} over {elapsed:.1f}s "
                        f"while trying to {what}: {scrub(reason(error))}"
                    ) from None
                self.on_retry(f"{where}: {scrub(reason(error))} while trying to {what}; attempt {attempt} failed, "
                              f"retrying in {delay:.1f}s")
                self.sleep(delay)
                try:
                    reconnect()
                except Exception as failed:  # the next attempt reports it, or this one's budget ends
                    if not is_transient(failed):
                        raise

