"""tracos-integration: keeps work orders in sync between a customer's ERP files and TracOS."""

import atexit
import gc

from tracos_integration.definitions import defs

# A `dagster job execute` process ends right after its run, and at exit Python would collect
# and free every object it holds (Dagster's, pymongo's, ours: 0.4 to 0.6 s here) for the OS
# to free the memory anyway. Frozen at exit, its last collections skip them. Nothing here
# relies on a collection to flush: every file, store and connection is closed by the code
# that opened it, and every atexit handler still runs.
atexit.register(gc.freeze)

__all__ = ["defs"]
