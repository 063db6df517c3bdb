"""The IO managers a run uses."""

from tracos_integration.client.io_manager import ClientFolderIOManager

__all__ = ["ClientFolderIOManager"]
