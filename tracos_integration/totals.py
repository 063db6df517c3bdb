"""Today's totals: work orders in, out and rejected since midnight UTC, in one place (an
observation on `tracos/work_orders`, plotted on its page), summed from the runs' own
materializations, so two runs finishing together cannot lose each other's counts."""

from __future__ import annotations

from datetime import datetime
from typing import Mapping, Optional

import dagster as dg

from tracos_integration.assets import CLIENT_OUTBOUND, TRACOS_WORK_ORDERS
from tracos_integration.core.timestamps import UTC


def day_start(now: Optional[datetime] = None) -> datetime:
    now = now or datetime.now(UTC)
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _sum_today(instance: dg.DagsterInstance, key: dg.AssetKey, names: Mapping[str, str], partition: Optional[str],
               since: datetime, skip_run: Optional[str]) -> dict[str, int]:
    totals = {total: 0 for total in names.values()}
    cursor = None
    while True:
        page = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None,
                                  after_timestamp=since.timestamp()),
            limit=1000, cursor=cursor,
        )
        for record in page.records:
            if record.run_id == skip_run:
                continue
            metadata = record.asset_materialization.metadata
            for name, total in names.items():
                value = metadata.get(name)
                totals[total] += int(value.value) if value is not None and isinstance(value.value, (int, float)) else 0
        if not page.has_more:
            return totals
        cursor = page.cursor


def daily_totals(instance: dg.DagsterInstance, partition: Optional[str] = None, *, run_id: Optional[str] = None,
                 inbound: Optional[Mapping[str, int]] = None, outbound: Optional[Mapping[str, int]] = None,
                 now: Optional[datetime] = None) -> dg.AssetObservation:
    """Work orders in (records read from client files), rejected (of those) and out (exported)
    since midnight UTC, summed from the runs' materializations. The calling run passes its
    own counts (`inbound`/`outbound`), which may not be stored yet."""
    since = day_start(now)
    totals = {
        **_sum_today(instance, TRACOS_WORK_ORDERS, {"read": "today_in", "rejected": "today_rejected"}, partition,
                     since, run_id if inbound is not None else None),
        **_sum_today(instance, CLIENT_OUTBOUND, {"exported": "today_out"}, partition, since,
                     run_id if outbound is not None else None),
    }
    if inbound is not None:
        totals["today_in"] += inbound.get("read", 0)
        totals["today_rejected"] += inbound.get("rejected", 0)
    if outbound is not None:
        totals["today_out"] += outbound.get("exported", 0)
    day = since.date().isoformat()
    return dg.AssetObservation(
        TRACOS_WORK_ORDERS, partition=partition,
        description=f"today ({day} UTC): {totals['today_in']} in, {totals['today_out']} out, "
                    f"{totals['today_rejected']} rejected",
        metadata={"today_in": totals["today_in"], "today_out": totals["today_out"],
                  "today_rejected": totals["today_rejected"], "day": day},
    )
