"""outbound_schedule (CONTRACT section 7): on OUTBOUND_CRON, a run only when work waits
(one per customer with work, with a customers file)."""

from datetime import datetime, timezone

import dagster as dg

from tracos_integration.sensors import outbound_requests
from tracos_integration.settings import load_time_settings
from tracos_integration.tracos.resource import MongoResource


@dg.schedule(
    job_name="outbound_job",
    cron_schedule=load_time_settings().outbound_cron,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Pushes TracOS changes to the client on OUTBOUND_CRON (default every minute), when any wait.",
)
def outbound_schedule(context: dg.ScheduleEvaluationContext, mongo: MongoResource):
    # One run key per customer and tick: Dagster requires one when a tick requests several runs.
    try:
        tick = context.scheduled_execution_time
    except Exception:  # evaluated by hand (build_schedule_context) without a tick time
        tick = None
    tick = tick or datetime.now(timezone.utc)
    requests, skips = outbound_requests(context, mongo, run_key_suffix=tick.strftime("%Y%m%dT%H%M%S"))
    return requests or dg.SkipReason("; ".join(skips))
