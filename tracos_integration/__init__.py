"""tracos-integration: keeps work orders in sync between a customer's ERP files and TracOS."""

from tracos_integration.definitions import defs

__all__ = ["defs"]
