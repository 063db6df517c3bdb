"""samples: sample work orders on both sides, for demos and tests."""

from typing import Any

import dagster as dg
from pydantic import Field

from tracos_integration.client.formats.csv_writing import sample_csv_files
from tracos_integration.core.samples import sample_client_files, sample_tracos_documents
from tracos_integration.ops.scope import scoped
from tracos_integration.tracos.resource import MongoResource, tracos_failure
from tracos_integration.tracos.uris import EMBEDDED_SCHEME, MEMORY_SCHEME, display_uri


class SamplesConfig(dg.Config):
    count: int = Field(default=20, ge=0, description="Work orders on each side")
    seed: int = Field(default=42, description="Same seed, same samples")
    allow_real_server: bool = Field(
        default=False, description="Also write into a MongoDB server (mongodb://, mongodb+srv://); off: only "
        "mongomock:// and embedded:// get samples (CONTRACT 2)",
    )


@dg.op(out=dg.Out(
    io_manager_key="client_folder_io_manager", metadata={"client_folder": "inbound"},
    description="Sample files, written into the inbound folder",
))
def write_samples(context: dg.OpExecutionContext, config: SamplesConfig, mongo: MongoResource) -> dg.Output[dict[str, Any]]:
    """Unsynced TracOS documents and client files (in the customer's format), with every
    status, deletions, and order numbers that overlap between the two sides."""
    (mongo,) = scoped(context, mongo)
    scope = mongo.scope
    refuse_real_server(mongo, config.allow_real_server)
    with tracos_failure("No sample file was written."):
        written = mongo.repository().insert_documents(sample_tracos_documents(config.count, config.seed))
    if scope.file_format == "csv":
        files: dict[str, Any] = sample_csv_files(config.count, scope.settings.client_timezone, config.seed)
    else:
        files = sample_client_files(config.count, config.seed)
    context.log.info(f"samples: {written} TracOS documents, {len(files)} inbound files")
    return dg.Output(
        files, metadata={"tracos_documents": written, "inbound_files": len(files), "tracos": mongo.server_label}
    )


def refuse_real_server(mongo: MongoResource, allowed: bool) -> None:
    """Samples are demo data: a real server (anything but mongomock:// or embedded://) gets
    them only when the run config asks. Decided from the URI alone, before connecting."""
    uri = mongo.resolved_uri
    if allowed or uri.startswith((MEMORY_SCHEME, EMBEDDED_SCHEME)):
        return
    raise dg.Failure(description=(
        f"samples_job writes sample work orders only into mongomock:// or embedded:// stores, and MONGO_URI names "
        f"{display_uri(uri)}. To write them there, run it with "
        "`ops: {write_samples: {config: {allow_real_server: true}}}`. "
        "Nothing was written."
    ))
