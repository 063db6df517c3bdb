"""Retries with exponential backoff and full jitter, for idempotent MongoDB calls only."""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from typing import Callable, TypeVar

from pymongo.errors import AutoReconnect

T = TypeVar("T")
logger = logging.getLogger("tracos_integration.tracos")


class TracosUnavailable(RuntimeError):
    """MongoDB stayed unreachable for the whole retry budget."""


@dataclass
class Retrier:
    """Retries the AutoReconnect family (includes NotPrimaryError, NetworkTimeout and
    ServerSelectionTimeoutError) until `budget_seconds` is spent. Clock and sleep are
    injectable so tests can simulate long outages without waiting."""

    budget_seconds: float = 60.0
    base_delay: float = 0.5
    max_delay: float = 8.0
    server: str = "TracOS MongoDB"
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    rng: random.Random = field(default_factory=random.Random)

    def call(self, operation: Callable[[], T], what: str) -> T:
        started = self.clock()
        attempt = 0
        while True:
            attempt += 1
            try:
                return operation()
            except AutoReconnect as error:
                elapsed = self.clock() - started
                delay = self.rng.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))
                if elapsed + delay > self.budget_seconds:
                    raise TracosUnavailable(
                        f"{self.server} still unreachable after {attempt} attempts over {elapsed:.1f}s "
                        f"while trying to {what}: {type(error).__name__}"
                    ) from None
                logger.warning(
                    "%s: %s while trying to %s; attempt %d failed, retrying in %.1fs",
                    self.server, type(error).__name__, what, attempt, delay,
                )
                self.sleep(delay)
