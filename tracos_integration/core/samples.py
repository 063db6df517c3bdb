"""Sample data with realistic variety, like the original challenge's setup script."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from tracos_integration.core.client import STATUS_FLAGS
from tracos_integration.core.timestamps import UTC, format_timestamp, to_utc_millis
from tracos_integration.core.translation import STATUS_BY_FLAG

SUMMARIES = (
    "Replace worn bearing on conveyor",
    "Inspect hydraulic press seals",
    "Calibrate temperature sensor",
    "Lubricate gearbox",
    "Fix vibration on pump motor",
    "Tighten belt on compressor",
    "Clean air filters in HVAC unit",
    "Check alignment of drive shaft",
)
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def sample_batches(count: int, seed: int = 42) -> list[list[dict[str, Any]]]:
    """`count` client work orders grouped as sample files hold them, in every format: mostly
    one per file, some files of 2 to 5; order numbers 1..count, half of them shared with the
    TracOS samples."""
    rng = random.Random(seed)
    orders = [_client_order(rng, number) for number in range(1, count + 1)]
    batches, position = [], 0
    while position < len(orders):
        size = 1 if rng.random() < 0.7 else rng.randint(2, 5)
        batches.append(orders[position : position + size])
        position += size
    return batches


def sample_client_files(count: int, seed: int = 42) -> dict[str, Any]:
    """The sample batches as JSON files: one object alone, several as an array."""
    return {
        f"sample_{batch[0]['orderNo']:06d}.json": batch[0] if len(batch) == 1 else batch
        for batch in sample_batches(count, seed)
    }


def sample_tracos_documents(count: int, seed: int = 42) -> list[dict[str, Any]]:
    """`count` unsynced TracOS documents numbered from count/2+1, overlapping the client samples."""
    rng = random.Random(seed + 1)
    first = count // 2 + 1
    return [_tracos_document(rng, number) for number in range(first, first + count)]


def _client_order(rng: random.Random, number: int) -> dict[str, Any]:
    created = EPOCH + timedelta(minutes=rng.randint(0, 500_000), milliseconds=rng.randint(0, 999))
    updated = created + timedelta(hours=rng.randint(0, 72), seconds=rng.randint(0, 3599))
    flag = rng.choice((*STATUS_FLAGS, None))
    record: dict[str, Any] = {
        "orderNo": number,
        "summary": rng.choice(SUMMARIES),
        "creationDate": _varied_timestamp(rng, created),
        "lastUpdateDate": _varied_timestamp(rng, updated),
    }
    if flag:
        record[flag] = True
    if rng.random() < 0.1:
        record["isDeleted"] = True
        record["deletedDate"] = format_timestamp(updated)
    return record


def _tracos_document(rng: random.Random, number: int) -> dict[str, Any]:
    created = to_utc_millis(EPOCH + timedelta(minutes=rng.randint(0, 500_000)))
    updated = created + timedelta(hours=rng.randint(0, 72), milliseconds=rng.randint(0, 999))
    deleted = rng.random() < 0.1
    return {
        "number": number,
        "title": rng.choice(SUMMARIES),
        "description": "Generated sample work order",
        "status": rng.choice(list(STATUS_BY_FLAG.values())),
        "createdAt": created,
        "updatedAt": updated,
        "deleted": deleted,
        "deletedAt": updated if deleted else None,
        "isSynced": False,
        "syncedAt": None,
    }


def _varied_timestamp(rng: random.Random, moment: datetime) -> str:
    """Clients write timestamps in several ISO 8601 spellings; all mean the same instant."""
    style = rng.randrange(3)
    if style == 0:
        return format_timestamp(moment)
    if style == 1:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    offset = timedelta(hours=-3)
    return (moment.astimezone(UTC) + offset).replace(tzinfo=None).isoformat(timespec="milliseconds") + "-03:00"
