"""Retries with exponential backoff and full jitter, for idempotent MongoDB calls only.

What is worth retrying is decided in one pure function, `is_transient`, so a Dagster
RetryPolicy (or anything else) can ask the same question."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, TypeVar

import dagster as dg
from pymongo.errors import (
    BulkWriteError,
    ConfigurationError,
    ConnectionFailure,
    DuplicateKeyError,
    NetworkTimeout,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)

from tracos_integration.core.text import short
from tracos_integration.tracos.uris import redact

T = TypeVar("T")

# The retryable error codes of MongoDB's Retryable Writes specification ("Determining
# Retryable Errors") and Retryable Reads specification (which adds 134):
# https://github.com/mongodb/specifications/blob/master/source/retryable-writes/retryable-writes.md
# https://github.com/mongodb/specifications/blob/master/source/retryable-reads/retryable-reads.md
RETRYABLE_CODES = {
    6: "HostUnreachable",
    7: "HostNotFound",
    89: "NetworkTimeout",
    91: "ShutdownInProgress",
    134: "ReadConcernMajorityNotAvailableYet",
    189: "PrimarySteppedDown",
    262: "ExceededTimeLimit",
    9001: "SocketException",
    10107: "NotWritablePrimary",
    11600: "InterruptedAtShutdown",
    11602: "InterruptedDueToReplStateChange",
    13435: "NotPrimaryNoSecondaryOk",
    13436: "NotPrimaryOrSecondary",
}
# Never retried, whatever else they carry: the same call fails the same way every time.
AUTHENTICATION_FAILED = 18
NEVER_RETRIED_CODES = {
    2: "BadValue",
    9: "FailedToParse",
    13: "Unauthorized",
    AUTHENTICATION_FAILED: "AuthenticationFailed",
    11000: "DuplicateKey",
    11001: "DuplicateKey",
}
# The server stopped an operation that ran past its maxTimeMS (or the client's own
# timeout, pymongo.timeout): retrying it whole would only repeat the wait.
MAX_TIME_MS_EXPIRED = 50
# Labels the server or pymongo put on an error that is safe to retry: RetryableWriteError
# (retryable writes spec), RetryableError (pymongo, with SystemOverloadedError, when a
# server sheds load).
RETRYABLE_LABELS = ("RetryableWriteError", "RetryableError")


def is_transient(error: BaseException) -> bool:
    """True when the same idempotent call may succeed if tried again: the network, a
    primary stepping down, a server shutting down or overloaded, a DNS lookup of
    mongodb+srv timing out. False for authentication failures, bad queries, duplicate
    keys and everything this function does not know."""
    if _is_authentication_failure(error):
        return False
    if isinstance(error, BulkWriteError):
        # The bulks are idempotent, so one is sent again whole when any write error is
        # transient (a write that keeps failing for good comes back as that error alone), or
        # when a write-concern error with a retryable code is the only problem.
        details = error.details or {}
        writes = details.get("writeErrors") or []
        concern = details.get("writeConcernErrors") or []
        if any(_retryable_entry(e) for e in writes):
            return True
        return not writes and bool(concern) and all(_retryable_entry(e) for e in concern)
    if isinstance(error, DuplicateKeyError) or getattr(error, "code", None) in NEVER_RETRIED_CODES:
        return False
    if isinstance(error, PyMongoError) and any(error.has_error_label(label) for label in RETRYABLE_LABELS):
        return True
    if isinstance(error, ConnectionFailure):  # AutoReconnect: NotPrimaryError, NetworkTimeout, ...
        return True
    if isinstance(error, OperationFailure):
        return error.code in RETRYABLE_CODES
    if isinstance(error, ConfigurationError):
        return _is_dns_timeout(error)
    return False


def _retryable_entry(entry: dict) -> bool:
    """One write error or write-concern error of a bulk's reply."""
    labels = entry.get("errorLabels") or []
    return entry.get("code") in RETRYABLE_CODES or any(label in labels for label in RETRYABLE_LABELS)


def is_timeout(error: BaseException) -> bool:
    """The server was reached but the operation ran out of time: maxTimeMS expired on the
    server (code 50), or the socket timed out waiting for its answer. Not "unreachable"."""
    if isinstance(error, OperationFailure):
        return error.code == MAX_TIME_MS_EXPIRED
    return isinstance(error, NetworkTimeout) and not isinstance(error, ServerSelectionTimeoutError)


def _is_authentication_failure(error: BaseException) -> bool:
    code = getattr(error, "code", None)
    return code == AUTHENTICATION_FAILED or (
        isinstance(error, (OperationFailure, ConfigurationError)) and "authentication failed" in str(error).lower()
    )


def _is_dns_timeout(error: ConfigurationError) -> bool:
    """pymongo wraps the resolver's errors for mongodb+srv in ConfigurationError(str(exc))
    from exc (pymongo/synchronous/srv_resolver.py); a timeout there is dns.exception.Timeout
    (LifetimeTimeout: "The resolution lifetime expired ..."). NXDOMAIN and a bad host stay
    configuration errors."""
    try:
        from dns.exception import Timeout as DnsTimeout
    except ImportError:  # dnspython is only needed for mongodb+srv
        DnsTimeout = ()  # type: ignore[assignment]  # noqa: N806
    cause = error.__cause__
    if DnsTimeout and isinstance(cause, DnsTimeout):
        return True
    message = str(error).lower()
    return "lifetime expired" in message or "dns operation timed out" in message


def describe(error: BaseException) -> str:
    """The cause in one short line, without credentials:
    "NotWritablePrimary (code 10107): not primary"."""
    code = getattr(error, "code", None)
    if isinstance(error, BulkWriteError) and (error.details or {}).get("writeErrors"):
        first = error.details["writeErrors"][0]  # "batch op errors occurred" says nothing
        error = OperationFailure(first.get("errmsg", ""), first.get("code"), first)
        code = error.code
    if isinstance(error, OperationFailure) and code is not None:
        details = error.details if isinstance(error.details, dict) else {}
        known = RETRYABLE_CODES.get(code) or NEVER_RETRIED_CODES.get(code)
        name = details.get("codeName") or known or type(error).__name__
        message = details.get("errmsg") or str(error)
        text = f"{name} (code {code}): {message}"
    else:
        message = str(error)
        if isinstance(error, ServerSelectionTimeoutError):  # the topology dump after it is noise here
            message = message.split(", Timeout:")[0]
        text = f"{type(error).__name__}: {message}" if message else type(error).__name__
    return short(redact(" ".join(text.split())), 300)


class TracosUnavailable(RuntimeError):
    """MongoDB stayed unreachable (or kept timing out) for the whole retry budget."""


class TracosTimedOut(TracosUnavailable):
    """The server answered too slowly: the operation ran out of its time budget."""


@dataclass
class Retrier:
    """Retries errors `is_transient` accepts until `budget_seconds` is spent. Clock and sleep
    are injectable so tests can simulate long outages without waiting.

    `call(..., budget_seconds=...)` gives one long operation (an index build) its own
    budget, `long_operation_budget_seconds` as configured. No deadline goes to the server
    with it (pymongo.timeout would send maxTimeMS, and an interrupted createIndexes aborts
    its build): each attempt waits at most the client's socket timeout, and a retry of an
    index build joins the build already running."""

    budget_seconds: float = 60.0
    base_delay: float = 0.5
    max_delay: float = 8.0
    server: str = "TracOS MongoDB"
    long_operation_budget_seconds: float = 600.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    rng: random.Random = field(default_factory=random.Random)

    def call(self, operation: Callable[[], T], what: str, budget_seconds: Optional[float] = None) -> T:
        budget = self.budget_seconds if budget_seconds is None else budget_seconds
        started = self.clock()
        attempt = 0
        while True:
            attempt += 1
            try:
                return operation()
            except Exception as error:
                elapsed = self.clock() - started
                if not is_transient(error):
                    if is_timeout(error):
                        raise self._timed_out(attempt, elapsed, what, error) from None
                    _scrub_message(error)
                    raise
                delay = self.rng.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))
                if elapsed + delay > budget:
                    if is_timeout(error):
                        raise self._timed_out(attempt, elapsed, what, error) from None
                    raise TracosUnavailable(
                        f"{self.server} still unreachable after {attempt} attempt{'s' * (attempt != 1)} "
                        f"over {elapsed:.1f}s while trying to {what}: {describe(error)}"
                    ) from None
                dg.get_dagster_logger().warning(
                    f"{self.server}: {describe(error)} while trying to {what}; "
                    f"attempt {attempt} failed, retrying in {delay:.1f}s"
                )
                self.sleep(delay)

    def _timed_out(self, attempt: int, elapsed: float, what: str, error: BaseException) -> TracosTimedOut:
        return TracosTimedOut(
            f"{self.server} timed out after {elapsed:.1f}s ({attempt} attempt{'s' * (attempt != 1)}) "
            f"while trying to {what}: {describe(error)}"
        )


def _scrub_message(error: BaseException) -> None:
    """An error that is not retried goes up as it is (callers catch its type), but never
    with credentials in its message."""
    text = str(error)
    clean = redact(text)
    if clean != text:
        error.args = (clean, *error.args[1:])
        if isinstance(error, PyMongoError):
            error._message = clean
