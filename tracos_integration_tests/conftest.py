from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from tracos_integration.client.folder import ClientFolder, Page
from tracos_integration.definitions import defs
from tracos_integration.tracos.resource import MongoResource
from tracos_integration.tracos.stores import litemongo_adapter, mongomock_compat

# The stores patch mongomock (and litemongo's copy of its matching) when first opened; many
# tests use mongomock directly (mongomock.MongoClient(), the strict server), so they get the
# same patches here.
mongomock_compat.apply()
mongomock_compat.apply_to(litemongo_adapter.vendored_filtering())


@dataclass
class Workspace:
    """Client folders on a real filesystem and a fresh in-memory TracOS."""

    inbound: Path
    outbound: Path
    mongo_uri: str
    instance: Any = None

    @property
    def collection(self):
        return MongoResource(uri=self.mongo_uri).get_collection()

    def run(self, job_name: str, run_config: dict[str, Any] | None = None, **resources: Any) -> dg.ExecuteInProcessResult:
        job = defs.get_job_def(job_name)
        self.instance = dg.DagsterInstance.ephemeral()
        return job.execute_in_process(
            run_config=run_config or {}, resources=resources or None, raise_on_error=False, instance=self.instance
        )

    def logged(self, result: dg.ExecuteInProcessResult, level: int = logging.WARNING) -> list[str]:
        """What the run logged at `level` or above, as the UI's log shows it."""
        return [
            entry.user_message for entry in self.instance.all_logs(result.run_id)
            if entry.dagster_event is None and entry.level >= level
        ]

    def processed(self) -> list[str]:
        return sorted(p.name for p in (self.inbound / "processed").glob("*")) if (self.inbound / "processed").exists() else []

    def failed(self) -> list[str]:
        return sorted(p.name for p in (self.inbound / "failed").glob("*")) if (self.inbound / "failed").exists() else []

    def outbound_files(self) -> list[str]:
        return sorted(p.name for p in self.outbound.iterdir())


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    inbound, outbound = tmp_path / "inbound", tmp_path / "outbound"
    inbound.mkdir()
    outbound.mkdir()
    uri = f"mongomock://test-{uuid.uuid4().hex}"
    monkeypatch.setenv("MONGO_URI", uri)
    monkeypatch.setenv("DATA_INBOUND_DIR", str(inbound))
    monkeypatch.setenv("DATA_OUTBOUND_DIR", str(outbound))
    monkeypatch.setenv("INBOUND_SETTLE_SECONDS", "0")
    for variable in ("MONGO_DATABASE", "MONGO_COLLECTION", "CLIENT_TIMEZONE", "INBOUND_MAX_FILE_BYTES"):
        monkeypatch.delenv(variable, raising=False)
    return Workspace(inbound=inbound, outbound=outbound, mongo_uri=uri)


def output_metadata(result: dg.ExecuteInProcessResult, step: str) -> dict[str, Any]:
    """The metadata a step reported on its outputs, as plain values."""
    merged: dict[str, Any] = {}
    for event in result.all_events:
        if event.step_key == step and event.event_type_value in ("STEP_OUTPUT", "HANDLED_OUTPUT"):
            for key, value in event.event_specific_data.metadata.items():
                merged[key] = getattr(value, "value", value)
    return merged


def read_inbound(folder: Path, **fields: Any) -> Page:
    """Every ready file in `folder` as the inbound job reads it, in one page."""
    client = ClientFolder(**{"inbound_dir": str(folder), "settle_seconds": 0, "max_file_bytes": 1_000_000, **fields})
    names, _ = client.list_inbound()
    merged = Page()
    for page in client.read(names, files_per_page=len(names) or 1):
        merged.files += page.files
        merged.being_written += page.being_written
        merged.unreadable.update(page.unreadable)
    return merged


def inbound_metadata(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    """What an inbound run reported: its counts and its archive of the files."""
    return {**output_metadata(result, "apply_inbound_files"), **output_metadata(result, "archive_inbound_files")}


def outbound_metadata(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    return output_metadata(result, "export_unsynced")


@pytest.fixture(scope="session")
def live_dagster(tmp_path_factory):
    """One real `dagster dev` for the session's live and browser tests."""
    from tracos_integration_tests.live import start_dagster_dev, stop_dagster_dev

    live = start_dagster_dev(tmp_path_factory.mktemp("live"))
    try:
        yield live
    finally:
        stop_dagster_dev(live)


CUSTOMERS_FILE = """
customers:
  acme:
    inbound_dir: {base}/acme/inbound
    outbound_dir: {base}/acme/outbound
    timezone: UTC
    format: json
    database: tractian
    collection: workorders_acme
  globex:
    inbound_dir: {base}/globex/inbound
    outbound_dir: {base}/globex/outbound
    timezone: Europe/Berlin
    format: csv
    database: tractian
    collection: workorders_globex
"""


@pytest.fixture(scope="session")
def live_customers(tmp_path_factory):
    """A real `dagster dev` on a two-customer file (acme: JSON, globex: CSV)."""
    from tracos_integration_tests.live import start_dagster_dev, stop_dagster_dev

    base = tmp_path_factory.mktemp("customers")
    for slug in ("acme", "globex"):
        for side in ("inbound", "outbound"):
            (base / slug / side).mkdir(parents=True)
    customers_file = base / "customers.yaml"
    customers_file.write_text(CUSTOMERS_FILE.format(base=base))
    live = start_dagster_dev(base, TRACOS_CUSTOMERS_FILE=str(customers_file))
    live.customers = base
    try:
        yield live
    finally:
        stop_dagster_dev(live)


@pytest.fixture
def server(workspace, monkeypatch):
    """Every MongoResource in the test talks to the strict server double over the workspace's store."""
    from tracos_integration_tests.reliability.harness import use_collection
    from tracos_integration_tests.strict_server import StrictCollection

    strict = StrictCollection(MongoResource(uri=workspace.mongo_uri).get_collection())
    use_collection(monkeypatch, strict)
    return strict


# Tests that skip for want of something on the machine: (text of the skip reason, the
# group, how to run it). `make test` names each group that skipped, last, so a run without
# chromium never looks like the whole suite.
SKIPPED_GROUPS = [
    ("chromium", "browser tests of the UI (test_ui_browser.py)",
     "install Debian's chromium (apt-get install chromium)"),
    ("PostgreSQL", "the PostgreSQL-backed instance test", "install Debian's postgresql (apt-get install postgresql)"),
    ("MongoDB", "the real-MongoDB tests (-m real_mongo)",
     "start one (README \"Against a real MongoDB\") and set MONGO_URI to it"),
]


def skipped_groups(reasons: list[str]) -> list[str]:
    """One line per group of tests that skipped: how many, what, and how to run them."""
    lines = []
    for words, group, how in SKIPPED_GROUPS:
        count = sum(words in reason for reason in reasons)
        if count:
            lines.append(f"{count} skipped: {group}; to run them, {how}")
    return lines


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter, exitstatus, config):
    # A wrapper, so these lines come after pytest's own summary, just above the counts.
    yield
    reasons = []
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr
        reasons.append(longrepr[2] if isinstance(longrepr, tuple) else str(longrepr))
    lines = skipped_groups(reasons)
    if lines:
        terminalreporter.write_sep("=", "not run on this machine", yellow=True)
        for line in lines:
            terminalreporter.write_line(line, yellow=True)
