"""The Dagster definitions: the two sides as assets with their checks, jobs, sensors,
the schedule and resources.

Without a customers file, one customer configured by the environment. With one
(TRACOS_CUSTOMERS_FILE), the jobs and assets are partitioned by customer; "Reload
definitions" in the UI reads the file again."""

import dagster as dg

from tracos_integration.alerts import failed_check_alert, run_failure_alert
from tracos_integration.assets import ASSET_CHECKS, asset_specs
from tracos_integration.client.folder import ClientFolder
from tracos_integration.client.io_manager import ClientFolderIOManager
from tracos_integration.health import HEALTH_CHECKS, sync_health_sensor
from tracos_integration.jobs import build_jobs
from tracos_integration.schedules import outbound_schedule
from tracos_integration.scope import read_customers
from tracos_integration.sensors import inbound_file_sensor, outbound_pending_sensor
from tracos_integration.settings import load_time_settings
from tracos_integration.tracos.resource import MongoResource

# A bad file fails the load with one line naming the file and the fix.
customers = read_customers(load_time_settings())
customer_partitions = dg.StaticPartitionsDefinition(list(customers)) if customers else None
client_folder = ClientFolder()

defs = dg.Definitions(
    assets=asset_specs(customer_partitions),
    asset_checks=ASSET_CHECKS + HEALTH_CHECKS,
    jobs=build_jobs(customer_partitions, customers),
    sensors=[inbound_file_sensor, outbound_pending_sensor, sync_health_sensor, run_failure_alert, failed_check_alert],
    schedules=[outbound_schedule],
    resources={
        "mongo": MongoResource(),
        "client_folder": client_folder,
        "client_folder_io_manager": ClientFolderIOManager(folder=client_folder),
    },
)
