"""outbound_schedule (CONTRACT section 7): on OUTBOUND_CRON, a run only when work waits."""

import dagster as dg

from tracos_integration.jobs import outbound_job
from tracos_integration.sensors import outbound_request
from tracos_integration.settings import load_time_settings
from tracos_integration.tracos.resource import MongoResource


@dg.schedule(
    job=outbound_job,
    cron_schedule=load_time_settings().outbound_cron,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Pushes TracOS changes to the client on OUTBOUND_CRON (default every minute), when any wait.",
)
def outbound_schedule(context: dg.ScheduleEvaluationContext, mongo: MongoResource):
    return outbound_request(context.instance, mongo)
