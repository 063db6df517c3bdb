"""Run metadata helpers: counts and tables a person reads in the UI."""


import itertools
from typing import Any, Iterable, Sequence

import dagster as dg

MAX_TABLE_ROWS = 500  # the full list is always in the failed/ reports


def table(columns: Sequence[tuple[str, str]], rows: Iterable[dict[str, Any]]) -> dg.TableMetadataValue:
    schema = dg.TableSchema(columns=[dg.TableColumn(name, kind) for name, kind in columns])
    records = [dg.TableRecord(dict(row)) for row in itertools.islice(rows, MAX_TABLE_ROWS)]
    return dg.MetadataValue.table(records=records, schema=schema)
