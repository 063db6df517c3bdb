"""The one-op floor, exiting as tracos_integration does (its objects frozen at exit, see
tracos_integration/__init__.py): beside it, sync_job's overhead is what sync_job does."""

import atexit
import gc

from tracos_integration_tests.benchmarks.noop_job import defs, noop_job

atexit.register(gc.freeze)

__all__ = ["defs", "noop_job"]
