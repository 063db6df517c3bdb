"""outbound_schedule (CONTRACT section 7)."""

import dagster as dg

from tracos_integration.automation_settings import outbound_cron
from tracos_integration.jobs import OUTBOUND_CONCURRENCY_TAG, outbound_job
from tracos_integration.sensors import run_in_flight, skip_while_busy


@dg.schedule(
    job=outbound_job,
    cron_schedule=outbound_cron(),
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Pushes TracOS changes to the client on OUTBOUND_CRON (default every minute).",
)
def outbound_schedule(context: dg.ScheduleEvaluationContext):
    busy = run_in_flight(context.instance, OUTBOUND_CONCURRENCY_TAG)
    if busy:
        return skip_while_busy(busy)
    return dg.RunRequest()
