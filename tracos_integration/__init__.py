"""tracos-integration: keeps work orders in sync between a customer's ERP files and TracOS."""

import atexit
import gc

from tracos_integration.definitions import defs

# What is loaded by now (Dagster, pymongo, this package: about 140,000 objects) lives as
# long as the process, yet each of Python's full collections walks it again: 0.2 s of an
# inbound run of 20,000 files. Frozen once loaded, collections walk only what runs create.
# At exit, what runs created too: Python would collect and free it all (0.4 to 0.6 s of a
# `dagster job execute`) for the OS to free anyway. Nothing relies on a collection to
# flush: every file, store and connection is closed by the code that opened it, and every
# atexit handler still runs.
gc.freeze()
atexit.register(gc.freeze)

__all__ = ["defs"]
