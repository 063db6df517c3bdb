"""One configuration seam (scope.py): a run reads the environment and the customers file
once, when it starts, and every step uses what it read; settings.py alone touches the
environment."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tracos_integration import scope as scope_module
from tracos_integration import settings as settings_module
from tracos_integration_tests.factories import client_order, drop, tracos_document
from tracos_integration_tests.test_customer_runs import deployment  # noqa: F401 (fixture)

PACKAGE = Path(__file__).resolve().parents[1] / "tracos_integration"


def test_only_the_settings_module_reads_the_environment():
    readers = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""
            if name in ("environ", "getenv", "EnvVar"):
                readers.append(path.relative_to(PACKAGE).as_posix())
    assert sorted(set(readers)) == ["settings.py"]


@pytest.fixture
def counted(monkeypatch):
    """How many times the settings are read from the environment, and the customers file loaded."""
    counts = {"settings": 0, "customers_file": 0}
    read_settings, load_customers = settings_module.Settings.from_env.__func__, scope_module.load_customers

    def counting_settings(cls, *fields, **kwargs):
        counts["settings"] += 1
        return read_settings(cls, *fields, **kwargs)

    def counting_customers(*args, **kwargs):
        counts["customers_file"] += 1
        return load_customers(*args, **kwargs)

    monkeypatch.setattr(settings_module.Settings, "from_env", classmethod(counting_settings))
    monkeypatch.setattr(scope_module, "load_customers", counting_customers)
    return counts


def test_one_sync_run_for_a_customer_reads_the_settings_and_the_customers_file_once(deployment, counted):
    defs, root, _, collections, _ = deployment
    drop(root / "acme" / "inbound", "a.json", [client_order(1), client_order(2)])
    collections["acme"].insert_many([tracos_document(n) for n in (3, 4)])
    counted.update(settings=0, customers_file=0)

    result = defs.get_job_def("sync_job").execute_in_process(partition_key="acme")

    assert result.success
    assert sorted(p.name for p in (root / "acme" / "inbound" / "processed").iterdir()) == ["a.json"]
    assert sorted(p.name for p in (root / "acme" / "outbound").iterdir()) == ["3.json", "4.json"]
    assert counted == {"settings": 1, "customers_file": 1}


def test_one_outbound_run_of_300_documents_reads_the_settings_once(workspace, counted):
    workspace.collection.insert_many([tracos_document(n) for n in range(1, 301)])
    counted.update(settings=0)

    result = workspace.run("outbound_job", {"ops": {"export_unsynced": {"config": {"page_size": 50}}}})

    assert result.success and counted["settings"] == 1
    assert len(workspace.outbound_files()) == 300


def test_a_run_sees_the_environment_it_starts_in(workspace, monkeypatch, tmp_path):
    """Read when the run starts, not frozen when the definitions were imported (CONTRACT 2)."""
    later = tmp_path / "later-outbound"
    later.mkdir()
    monkeypatch.setenv("DATA_OUTBOUND_DIR", str(later))
    workspace.collection.insert_one(tracos_document(5))

    assert workspace.run("outbound_job").success
    assert [p.name for p in later.iterdir()] == ["5.json"]
