"""Run metadata helpers: counts and tables a person reads in the UI."""


import itertools
from typing import Any, Iterable, Mapping, Sequence

import dagster as dg

from tracos_integration.client.reading import shown_name
from tracos_integration.core.text import one_line

MAX_TABLE_ROWS = 500  # the full list is always in the failed/ reports

# Run tags that make a run with rejects stand out in the Runs list (and that the outbound
# sensor reads to learn what the last run could not export).
REJECTED_TAG = "tracos/rejected"
SKIPPED_TAG = "tracos/skipped"
# One word per run in the Runs list: `ok`, or what it could not apply (`rejected 3`,
# `skipped 2`; a sync_job run lists both).
RESULT_TAG = "tracos/result"
MAX_FILES_NAMED = 20  # in a run's summary; the table holds up to MAX_TABLE_ROWS


def tag_counts(context: dg.OpExecutionContext, tag: str, word: str, count: int) -> None:
    """`tag: count` when count > 0, and RESULT_TAG: `ok` until a step reports `<word> <count>`
    (the words add up). One write to the run storage, none when nothing changes."""
    current = context.instance.get_run_by_id(context.run_id).tags
    result = current.get(RESULT_TAG)
    parts = [] if result in (None, "ok") else result.split(", ")
    if count:
        parts.append(f"{word} {count}")
    tags = {RESULT_TAG: ", ".join(parts) or "ok", **({tag: str(count)} if count else {})}
    if any(current.get(key) != value for key, value in tags.items()):
        context.instance.add_run_tags(context.run_id, tags)


def failed_files_table(failed: Mapping[str, Any]) -> dg.TableMetadataValue:
    """The files that went to failed/: name, how many errors, the first reason (their
    `<name>.error.json` report lists more)."""
    return table(
        [("file", "string"), ("errors_total", "int"), ("first_reason", "string")],
        ({"file": f"failed/{shown_name(name)}", "errors_total": errors.total,
          "first_reason": _first_reason(errors)} for name, errors in failed.items()),
    )


def failed_files_lines(failed: Mapping[str, Any]) -> list[str]:
    """The first MAX_FILES_NAMED failed files, a Markdown line each, for a run's summary."""
    lines = [f"- `failed/{shown_name(name)}` ({errors.total} error(s)): {_first_reason(errors)}"
             for name, errors in list(failed.items())[:MAX_FILES_NAMED]]
    if len(failed) > MAX_FILES_NAMED:
        lines.append(f"- ... and {len(failed) - MAX_FILES_NAMED} more (see the failed_files table)")
    return lines


def _first_reason(errors: Any) -> str:
    if not errors.listed:
        return ""
    first = errors.listed[0]
    where = "" if first.index is None else f"record {first.index}: "
    return where + one_line(first.reason)


def table(columns: Sequence[tuple[str, str]], rows: Iterable[dict[str, Any]]) -> dg.TableMetadataValue:
    schema = dg.TableSchema(columns=[dg.TableColumn(name, kind) for name, kind in columns])
    records = [dg.TableRecord(dict(row)) for row in itertools.islice(rows, MAX_TABLE_ROWS)]
    return dg.MetadataValue.table(records=records, schema=schema)
