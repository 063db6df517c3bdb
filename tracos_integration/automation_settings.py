"""Sensor and schedule settings: fixed when Dagster loads the code (CONTRACT section 2)."""

import os

from tracos_integration.env import number_from_env

DEFAULT_SYNC_INTERVAL_SECONDS = 60
DEFAULT_OUTBOUND_CRON = "* * * * *"


def sync_interval_seconds() -> int:
    return number_from_env("SYNC_INTERVAL_SECONDS", DEFAULT_SYNC_INTERVAL_SECONDS, int, minimum=1)


def outbound_cron() -> str:
    return os.environ.get("OUTBOUND_CRON", "").strip() or DEFAULT_OUTBOUND_CRON
