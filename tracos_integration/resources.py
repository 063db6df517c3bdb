"""The resources a run uses (CONTRACT section 1 names this module)."""

from tracos_integration.tracos.resource import MongoResource

__all__ = ["MongoResource"]
