"""The Dagster definitions: the two sides as assets with their checks, jobs, sensors,
the schedule and resources."""

import dagster as dg

from tracos_integration.alerts import failed_check_alert, run_failure_alert
from tracos_integration.assets import ASSET_CHECKS, ASSET_SPECS
from tracos_integration.client.folder import ClientFolder
from tracos_integration.client.io_manager import ClientFolderIOManager
from tracos_integration.jobs import inbound_job, outbound_job, samples_job, sync_job
from tracos_integration.schedules import outbound_schedule
from tracos_integration.sensors import inbound_file_sensor, outbound_pending_sensor
from tracos_integration.tracos.resource import MongoResource

client_folder = ClientFolder()

defs = dg.Definitions(
    assets=ASSET_SPECS,
    asset_checks=ASSET_CHECKS,
    jobs=[inbound_job, outbound_job, sync_job, samples_job],
    sensors=[inbound_file_sensor, outbound_pending_sensor, run_failure_alert, failed_check_alert],
    schedules=[outbound_schedule],
    resources={
        "mongo": MongoResource(),
        "client_folder": client_folder,
        "client_folder_io_manager": ClientFolderIOManager(folder=client_folder),
    },
)
