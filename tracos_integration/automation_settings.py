"""Sensor and schedule settings: fixed when Dagster loads the code (CONTRACT section 2)."""

import os

DEFAULT_SYNC_INTERVAL_SECONDS = 60
DEFAULT_OUTBOUND_CRON = "* * * * *"


def sync_interval_seconds() -> int:
    raw = os.environ.get("SYNC_INTERVAL_SECONDS", "").strip()
    if not raw:
        return DEFAULT_SYNC_INTERVAL_SECONDS
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"SYNC_INTERVAL_SECONDS={raw!r} is not a whole number of seconds") from None
    if value < 1:
        raise ValueError(f"SYNC_INTERVAL_SECONDS={raw!r} must be at least 1")
    return value


def outbound_cron() -> str:
    return os.environ.get("OUTBOUND_CRON", "").strip() or DEFAULT_OUTBOUND_CRON
