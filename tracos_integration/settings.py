"""The project's settings: one object, read from the environment (CONTRACT section 2).

This module is the only reader of the environment. Every variable has one default and one
parser here. A run reads the settings once, when it starts, and a sensor tick once per tick
(both in scope.py); the sensors' interval and the schedule's cron are read when Dagster
loads the code. A value that cannot be used fails with one line naming the variable.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict

from tracos_integration.core.names import collection_problem, database_problem


class SettingError(ValueError):
    """An environment variable holds a value the project cannot use."""


def _text(variable: str, raw: str) -> str:
    return raw


def _mongo_name(problem_of: Callable[[str], Optional[str]]) -> Callable[[str, str], str]:
    def parse(variable: str, raw: str) -> str:
        problem = problem_of(raw)
        if problem:
            raise SettingError(f"{variable}={raw[:60]!r} cannot be used: it {problem}")
        return raw

    return parse


def _whole_number(minimum: int) -> Callable[[str, str], int]:
    def parse(variable: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise SettingError(f"{variable}={raw!r} is not a whole number") from None
        if value < minimum:
            raise SettingError(f"{variable}={raw!r} must be at least {minimum}")
        return value

    return parse


def _finite_number(minimum: float) -> Callable[[str, str], float]:
    def parse(variable: str, raw: str) -> float:
        # float() accepts "nan", "inf" and "1e999" (= inf): refused, never compared.
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise SettingError(f"{variable}={raw!r} is not a finite number")
        if value < minimum:
            raise SettingError(f"{variable}={raw!r} must be at least {minimum:g}")
        return value

    return parse


def _folder(variable: str, raw: str) -> str:
    """A local path, or an sftp:// or s3:// URL checked now (never echoing its user name)."""
    if "\x00" in raw and "://" not in raw:  # run config can hold one; every file call would raise on it
        raise SettingError(f"{variable} holds a NUL character; write the folder's own path")
    if "://" in raw:
        from tracos_integration.client.locations import RemoteFolderError, parse_folder_url

        try:
            parse_folder_url(raw, variable)
        except RemoteFolderError as error:
            raise SettingError(str(error)) from None
    return raw


def _time_zone(variable: str, raw: str) -> str:
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder of zones ("America"), a name too long
        raise SettingError(
            f"{variable}={raw!r} is not an IANA time zone; use a name such as UTC or America/Sao_Paulo"
        ) from None
    return raw


def ambiguous_credentials(url: str) -> bool:
    """A `user:password@` holding an unescaped '/', '?' or '#' ends the host early: urlsplit
    then takes part of the password for the host (a DNS query holding it, the credentials
    sent elsewhere). Seen as an '@' after the host when the host part already held one, or
    when the "host" has no dot (a user name). An '@' in a path (Teams webhooks) is fine."""
    parts = urlsplit(url)
    after_host = url.split("://", 1)[-1][len(parts.netloc):]
    if "@" not in after_host:
        return False
    return "@" in parts.netloc or "." not in (parts.hostname or "")


def http_url(variable: str, raw: str) -> str:
    """An http(s) URL with a host (and a numeric port, if any); SettingError, never echoing it."""
    return _http_url(variable, raw)


def _http_url(variable: str, raw: str) -> str:
    # The value is never echoed: a webhook URL carries its secret in the path or its user:password@.
    if re.search(r"[\x00-\x20\x7f]", raw):  # urlsplit drops some; http.client refuses them echoing the path
        raise SettingError(f"{variable} holds a space or a control character: %-escape it (a space is %20)")
    try:
        parts = urlsplit(raw)
    except ValueError:  # "Invalid IPv6 URL": a '[' without its ']'
        raise SettingError(f"{variable} is not a valid URL (a host in [ ] must close its brackets)") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingError(f"{variable} must be an http:// or https:// URL")
    if ambiguous_credentials(raw):
        raise SettingError(
            f"{variable} looks like a user name or password holding an unescaped '/', '?', '#' or '@': "
            "%-escape them (%2F, %3F, %23, %40)"
        )
    try:
        parts.port  # noqa: B018 (raises on a port that is no number)
    except ValueError:
        raise SettingError(f"{variable} has a port that is not a number between 0 and 65535") from None
    if not parts.hostname:
        raise SettingError(f"{variable} names no host")
    if ":" in unquote(parts.username or ""):  # Basic auth splits user:password at the first ':'
        raise SettingError(f"{variable} has a user name holding ':' (%3A), which HTTP Basic auth cannot send")
    return raw.rstrip("/")


@dataclass(frozen=True)
class Variable:
    name: str
    default: Any
    parse: Callable[[str, str], Any]


VARIABLES: dict[str, Variable] = {
    "mongo_uri": Variable("MONGO_URI", "mongodb://localhost:27017/tractian", _text),
    "mongo_database": Variable("MONGO_DATABASE", "tractian", _mongo_name(database_problem)),
    "mongo_collection": Variable("MONGO_COLLECTION", "workorders", _mongo_name(collection_problem)),
    "inbound_dir": Variable("DATA_INBOUND_DIR", "./data/inbound", _folder),
    "outbound_dir": Variable("DATA_OUTBOUND_DIR", "./data/outbound", _folder),
    # sftp:// folders: the private key to log in with, and the host keys the server's must be among.
    "sftp_key_file": Variable("SFTP_KEY_FILE", "", _text),
    "sftp_known_hosts": Variable("SFTP_KNOWN_HOSTS", "~/.ssh/known_hosts", _text),
    "client_timezone": Variable("CLIENT_TIMEZONE", "UTC", _time_zone),
    "inbound_settle_seconds": Variable("INBOUND_SETTLE_SECONDS", 10.0, _finite_number(0.0)),
    "inbound_max_file_bytes": Variable("INBOUND_MAX_FILE_BYTES", 16 * 1024 * 1024, _whole_number(1)),
    "sync_interval_seconds": Variable("SYNC_INTERVAL_SECONDS", 60, _whole_number(1)),
    "outbound_cron": Variable("OUTBOUND_CRON", "* * * * *", _text),
    "freshness_window_seconds": Variable("FRESHNESS_WINDOW_SECONDS", 3600.0, _finite_number(1.0)),
    # How long a run waits for a client folder another run holds, then fails naming the holder.
    "folder_lock_timeout_seconds": Variable("FOLDER_LOCK_TIMEOUT_SECONDS", 600.0, _finite_number(0.0)),
    "customers_file": Variable("TRACOS_CUSTOMERS_FILE", "", _text),  # empty: one customer, this environment's
    "alert_webhook_url": Variable("ALERT_WEBHOOK_URL", "", _http_url),  # empty: no alerts are sent
    "dagster_ui_url": Variable("DAGSTER_UI_URL", "http://localhost:3000", _http_url),  # for links in alerts
}


# Read only by the alert sensors (alerts.py): a broken alert setting fails the alerts, never a
# sync run or its sensors (CONTRACT 10).
ALERT_FIELDS = ("alert_webhook_url", "dagster_ui_url")
RUN_FIELDS = tuple(name for name in VARIABLES if name not in ALERT_FIELDS)


class Settings(BaseModel):
    """What the environment says, parsed. Fields are the keys of VARIABLES."""

    model_config = ConfigDict(frozen=True)

    mongo_uri: str = VARIABLES["mongo_uri"].default
    mongo_database: str = VARIABLES["mongo_database"].default
    mongo_collection: str = VARIABLES["mongo_collection"].default
    inbound_dir: str = VARIABLES["inbound_dir"].default
    outbound_dir: str = VARIABLES["outbound_dir"].default
    sftp_key_file: str = VARIABLES["sftp_key_file"].default
    sftp_known_hosts: str = VARIABLES["sftp_known_hosts"].default
    client_timezone: str = VARIABLES["client_timezone"].default
    inbound_settle_seconds: float = VARIABLES["inbound_settle_seconds"].default
    inbound_max_file_bytes: int = VARIABLES["inbound_max_file_bytes"].default
    sync_interval_seconds: int = VARIABLES["sync_interval_seconds"].default
    outbound_cron: str = VARIABLES["outbound_cron"].default
    freshness_window_seconds: float = VARIABLES["freshness_window_seconds"].default
    folder_lock_timeout_seconds: float = VARIABLES["folder_lock_timeout_seconds"].default
    customers_file: str = VARIABLES["customers_file"].default
    alert_webhook_url: str = VARIABLES["alert_webhook_url"].default
    dagster_ui_url: str = VARIABLES["dagster_ui_url"].default

    @classmethod
    def from_env(cls, *fields: str, environ: Optional[Mapping[str, str]] = None) -> "Settings":
        """The settings from the environment: all but the alert settings (ALERT_FIELDS), or
        only `fields` (the others keep their defaults, so a load-time read never trips over a
        run-time variable, and a sync never trips over an alert setting)."""
        environ = os.environ if environ is None else environ
        values = {}
        for field in fields or RUN_FIELDS:
            variable = VARIABLES[field]
            raw = environ.get(variable.name, "").strip()
            if raw:
                values[field] = variable.parse(variable.name, raw)
        return cls(**values)


def load_time_settings() -> Settings:
    """What Dagster fixes when it loads the code: the sensors' interval, the schedule's cron,
    and the customers file's name (its customers become the partitions)."""
    return Settings.from_env("sync_interval_seconds", "outbound_cron", "customers_file")
