from __future__ import annotations

import os

import pytest

from tracos_integration_tests.reliability.harness import FIGURES, outbound_problems


@pytest.fixture
def figures(request):
    """Record a scenario's figures: records_in, applied, rejected, lost, duplicated."""

    def record(**values):
        FIGURES.setdefault(request.node.nodeid, {}).update(values)

    return record


def pytest_collection_modifyitems(items):
    for item in items:
        if "/reliability/" in str(item.fspath):
            item.add_marker(pytest.mark.reliability)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """After every scenario on a workspace, the outbound side too: every document the sync
    marked synced has its content in its file (for duplicates, the latest); then, with the
    scenario's faults gone, one clean outbound run reaches every unsynced document: each is
    exported, or reported with its reason. A problem fails the scenario."""
    result = yield
    workspace = item.funcargs.get("workspace")
    uri = os.environ.get("MONGO_URI", "")
    if workspace is None or not uri.startswith(("mongomock://", "embedded://")):
        return result
    monkeypatch = item._request.getfixturevalue("monkeypatch")
    monkeypatch.undo()  # the scenario's faults end here; its store and folders stay
    for name, value in {"MONGO_URI": uri, "DATA_INBOUND_DIR": str(workspace.inbound),
                        "DATA_OUTBOUND_DIR": str(workspace.outbound), "INBOUND_SETTLE_SECONDS": "0"}.items():
        monkeypatch.setenv(name, value)
    from tracos_integration.tracos.resource import MongoResource
    from tracos_integration_tests.conftest import outbound_metadata
    from tracos_integration_tests.reliability.harness import use_collection
    from tracos_integration_tests.strict_server import StrictCollection

    collection = StrictCollection(MongoResource(uri=uri).get_collection())  # a server, without faults
    use_collection(monkeypatch, collection)
    problems = outbound_problems(collection, workspace.outbound, workspace.inbound)
    clean = workspace.run("outbound_job")
    assert clean.success, "a clean outbound run after the scenario failed"
    skipped = outbound_metadata(clean)["skipped"]
    left = MongoResource(uri=uri).repository().count_unsynced()
    if left != skipped:
        problems.append(f"{left} document(s) stay unsynced after a clean outbound run, which reported {skipped}")
    problems += [f"after a clean run: {problem}" for problem in outbound_problems(collection, workspace.outbound, workspace.inbound)]
    files = sum(1 for path in workspace.outbound.glob("*.json"))
    FIGURES.setdefault(item.nodeid, {})["outbound"] = "ok" if not problems else f"{len(problems)} wrong"
    FIGURES[item.nodeid]["outbound_files"] = files
    assert not problems, "the outbound side does not hold what TracOS says:\n" + "\n".join(problems)
    return result
