from __future__ import annotations

import pytest

from tracos_integration_tests.reliability.harness import FIGURES


@pytest.fixture
def figures(request):
    """Record a scenario's figures: records_in, applied, rejected, lost, duplicated."""

    def record(**values):
        FIGURES[request.node.nodeid] = values

    return record


def pytest_collection_modifyitems(items):
    for item in items:
        if "/reliability/" in str(item.fspath):
            item.add_marker(pytest.mark.reliability)
