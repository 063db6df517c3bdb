"""The one-op floor with tracos_integration's gc.freeze (once loaded, and at exit: see
tracos_integration/__init__.py): beside it, sync_job's overhead is what sync_job does."""

import atexit
import gc

from tracos_integration_tests.benchmarks.noop_job import defs, noop_job

gc.freeze()
atexit.register(gc.freeze)

__all__ = ["defs", "noop_job"]
