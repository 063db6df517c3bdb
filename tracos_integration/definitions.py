"""The Dagster definitions: jobs, sensors, schedule and resources."""

import dagster as dg

from tracos_integration.client.io_manager import ClientFolderIOManager
from tracos_integration.jobs import inbound_job, outbound_job, samples_job, sync_job
from tracos_integration.tracos.resource import MongoResource

defs = dg.Definitions(
    jobs=[inbound_job, outbound_job, sync_job, samples_job],
    resources={"mongo": MongoResource(), "client_folder": ClientFolderIOManager()},
)
