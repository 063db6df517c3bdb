"""`make reliability`: run the reliability scenarios and print their table.

    python -m tracos_integration_tests.reliability [--markdown docs/reliability.md] [pytest args]

The last line is `reliability: <N> scenarios passed, <M> failed, <L> records lost, <D> duplicated`;
the exit code is non-zero if any scenario failed or lost or duplicated a record.
"""

from __future__ import annotations

import argparse
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tracos_integration_tests.reliability.harness import FIGURES

HERE = Path(__file__).resolve().parent
COLUMNS = ("scenario", "outcome", "records in", "applied", "rejected", "lost", "duplicated", "outbound")


class Outcomes:
    def __init__(self) -> None:
        self.by_node: dict[str, str] = {}

    def pytest_runtest_logreport(self, report) -> None:
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            self.by_node[report.nodeid] = report.outcome


def scenario_name(nodeid: str) -> str:
    module, _, test = nodeid.partition("::")
    area = Path(module).stem.removeprefix("test_").replace("_", " ")
    return f"{area}: {test.removeprefix('test_').replace('_', ' ')}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", type=Path, help="also write the table to this Markdown file")
    options, pytest_args = parser.parse_known_args(argv)
    outcomes = Outcomes()
    pytest.main([str(HERE), "-q", "-p", "no:cacheprovider", *pytest_args], plugins=[outcomes])

    rows = []
    for nodeid, outcome in outcomes.by_node.items():
        values = FIGURES.get(nodeid, {})
        rows.append([scenario_name(nodeid), outcome, *(str(values.get(k, "-")) for k in
                     ("records_in", "applied", "rejected", "lost", "duplicated", "outbound"))])
    passed = sum(1 for r in rows if r[1] == "passed")
    failed = sum(1 for r in rows if r[1] == "failed")
    lost = sum(FIGURES.get(n, {}).get("lost", 0) for n in outcomes.by_node)
    duplicated = sum(FIGURES.get(n, {}).get("duplicated", 0) for n in outcomes.by_node)

    widths = [max(len(COLUMNS[i]), *(len(r[i]) for r in rows)) if rows else len(COLUMNS[i]) for i in range(len(COLUMNS))]
    line = lambda cells: "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(cells))  # noqa: E731
    print()
    print(line(COLUMNS))
    print(line(["-" * w for w in widths]))
    for row in rows:
        print(line(row))
    summary = f"reliability: {passed} scenarios passed, {failed} failed, {lost} records lost, {duplicated} duplicated"
    if options.markdown:
        table = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        table += ["| " + " | ".join(row) + " |" for row in rows]
        options.markdown.write_text(
            "# Reliability report\n\n"
            f"Written by `make reliability` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC "
            f"({platform.system()} {platform.machine()}, Python {platform.python_version()}, mongomock).\n"
            "Each row is a test in `tracos_integration_tests/reliability/`; *lost* counts records that should\n"
            "be in TracOS (or on disk) and are not, *duplicated* extra copies of a record. *outbound* is the check\n"
            "run after every scenario on a workspace: each document the sync marked synced has its content in its\n"
            "file (for duplicates, the latest), and a clean outbound run then exports or reports every unsynced one.\n\n"
            + "\n".join(table) + f"\n\n`{summary}`\n"
        )
    print(summary)
    return 0 if rows and failed == 0 and lost == 0 and duplicated == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
