"""ClientFolderIOManager: stores op outputs as files in a client folder, and reads them
back. An output names its folder in its metadata: `{"client_folder": "inbound"}` or
`"outbound"`; the output itself maps file names to JSON documents (or to bytes already in
the customer's format). In a run for one customer (customers file), that customer's folder."""


from typing import Any, Mapping

import dagster as dg

from tracos_integration.client.folder import ClientFolder, clear_failure
from tracos_integration.client.writing import json_bytes
from tracos_integration.scope import ScopeRefused, run_scope

FOLDER_KEY = "client_folder"


def _which(definition_metadata: Mapping[str, Any]) -> str:
    which = (definition_metadata or {}).get(FOLDER_KEY)
    if which not in ("inbound", "outbound"):
        raise dg.Failure(f"an output stored by the client folder needs metadata {FOLDER_KEY}: 'inbound' or 'outbound'")
    return which


class ClientFolderIOManager(dg.ConfigurableIOManager):
    """Writes atomically through the ClientFolder resource; never moves or deletes a file."""

    folder: dg.ResourceDependency[ClientFolder]

    def handle_output(self, context: dg.OutputContext, obj: Mapping[str, Any]) -> None:
        """JSON documents are encoded; bytes (a file already in its format, e.g. CSV) are written as they are."""
        which = _which(context.definition_metadata)
        folder = self._folder(context)
        files = ((name, value if isinstance(value, bytes) else json_bytes(value)) for name, value in obj.items())
        with clear_failure(f"Nothing more was written to the {which} folder."):
            written = folder.side().write_files(which, files)
        context.add_output_metadata({"files_written": len(written), "folder": which})

    def load_input(self, context: dg.InputContext) -> dict[str, Any]:
        """The JSON files now in the folder the upstream output wrote to, by name."""
        which = _which(context.upstream_output.definition_metadata)
        client_folder = self._folder(context)
        folder = client_folder.inbound_path if which == "inbound" else client_folder.outbound_path
        client_format = client_folder.format
        return {
            path.name: client_format.parse(path.read_bytes())
            for path in sorted(folder.iterdir()) if path.is_file() and client_format.is_candidate(path.name)
        }

    def _folder(self, context: dg.OutputContext | dg.InputContext) -> ClientFolder:
        """The folder of the run's customer, when the run has one (customers file)."""
        try:
            return self.folder.bind(run_scope(context.step_context.dagster_run))
        except ScopeRefused as error:
            raise dg.Failure(description=str(error)) from None
