"""ClientFolderIOManager: stores op outputs as JSON files in a client folder, and reads
them back. An output names its folder in its metadata: `{"client_folder": "inbound"}` or
`"outbound"`; the output itself is a mapping of file name to JSON document."""


import json
from typing import Any, Mapping

import dagster as dg

from tracos_integration.client.folder import ClientFolder, clear_failure
from tracos_integration.client.formats import format_for

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
        which = _which(context.definition_metadata)
        with clear_failure(f"Nothing more was written to the {which} folder."):
            written = self.folder.write(which, obj.items())
        context.add_output_metadata({"files_written": len(written), "folder": which})

    def load_input(self, context: dg.InputContext) -> dict[str, Any]:
        """The JSON files now in the folder the upstream output wrote to, by name."""
        which = _which(context.upstream_output.definition_metadata)
        folder = self.folder.inbound_path if which == "inbound" else self.folder.outbound_path
        return {
            path.name: json.loads(path.read_text(encoding="utf-8"))
            for path in sorted(folder.iterdir()) if path.is_file() and format_for("json").is_candidate(path.name)
        }
