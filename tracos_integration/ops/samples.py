"""samples: sample work orders on both sides, for demos and tests."""


import dagster as dg
from pydantic import Field

from tracos_integration.client.batches import ClientFiles
from tracos_integration.core.samples import sample_client_files, sample_tracos_documents
from tracos_integration.tracos.resource import MongoResource


class SamplesConfig(dg.Config):
    count: int = Field(default=20, ge=0, description="Work orders on each side")
    seed: int = Field(default=42, description="Same seed, same samples")


@dg.op(out=dg.Out(ClientFiles, io_manager_key="client_folder", description="Sample files for the inbound folder"))
def write_samples(context: dg.OpExecutionContext, config: SamplesConfig, mongo: MongoResource) -> dg.Output[ClientFiles]:
    """Unsynced TracOS documents and client files, with every status, deletions, and
    order numbers that overlap between the two sides."""
    documents = sample_tracos_documents(config.count, config.seed)
    written = mongo.repository().insert_documents(documents)
    files = sample_client_files(config.count, config.seed)
    context.log.info(f"samples: {written} TracOS documents, {len(files)} inbound files")
    return dg.Output(
        ClientFiles(folder="inbound", documents=files),
        metadata={"tracos_documents": written, "inbound_files": len(files), "tracos": mongo.display_name},
    )
