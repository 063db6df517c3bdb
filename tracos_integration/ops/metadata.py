"""Run metadata helpers: counts and tables a person reads in the UI."""


import itertools
from typing import Any, Iterable, Sequence

import dagster as dg

MAX_TABLE_ROWS = 500  # the full list is always in the failed/ reports

# Run tags that make a run with rejects stand out in the Runs list (and that the outbound
# sensor reads to learn what the last run could not export).
REJECTED_TAG = "tracos/rejected"
SKIPPED_TAG = "tracos/skipped"


def tag_run(context: dg.OpExecutionContext, tag: str, count: int) -> None:
    """Add `tag: count` to the run when count > 0."""
    if count:
        context.instance.add_run_tags(context.run_id, {tag: str(count)})


def table(columns: Sequence[tuple[str, str]], rows: Iterable[dict[str, Any]]) -> dg.TableMetadataValue:
    schema = dg.TableSchema(columns=[dg.TableColumn(name, kind) for name, kind in columns])
    records = [dg.TableRecord(dict(row)) for row in itertools.islice(rows, MAX_TABLE_ROWS)]
    return dg.MetadataValue.table(records=records, schema=schema)
