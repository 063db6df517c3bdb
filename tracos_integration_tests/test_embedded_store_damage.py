"""A damaged embedded store file (CONTRACT 2, 5.8): runs and sensor ticks name the file and
say what to do, in one readable line, and move no client file."""

from pathlib import Path
from typing import Iterator

import dagster as dg
import pytest

from tracos_integration.sensors import outbound_pending_sensor
from tracos_integration.tracos.stores import embedded
from tracos_integration.tracos.resource import MongoResource
from tracos_integration_tests.factories import client_order, drop


@pytest.fixture
def damaged_store(workspace, tmp_path, monkeypatch) -> Iterator[Path]:
    """An embedded store whose collection file was overwritten with text."""
    monkeypatch.setenv("MONGO_URI", f"embedded://{tmp_path / 'tracos.json'}")
    embedded._STORES.clear()
    # Written by no connection of this process: one still open could checkpoint over it.
    store_file = tmp_path / "tracos" / "tractian" / "workorders"
    store_file.parent.mkdir(parents=True)
    store_file.write_bytes(b"this is not an SQLite database\n" * 100)
    yield store_file
    embedded._STORES.clear()


def failure_description(result: dg.ExecuteInProcessResult) -> str:
    [failure] = [event for event in result.all_events if event.event_type_value == "STEP_FAILURE"]
    return failure.event_specific_data.user_failure_data.description


@pytest.mark.parametrize("job", ["inbound_job", "outbound_job"])
def test_a_run_on_a_damaged_store_file_names_it_and_says_what_to_do(workspace, damaged_store, job):
    drop(workspace.inbound, "a.json", [client_order(2)])
    result = workspace.run(job)
    assert not result.success
    description = failure_description(result)  # a dg.Failure: its description, no stack trace
    assert str(damaged_store) in description and "file is not a database" in description
    assert "move it aside" in description and "restore it from a backup" in description
    assert (workspace.inbound / "a.json").exists() and workspace.processed() == [] and workspace.failed() == []


def test_a_sensor_tick_on_a_damaged_store_file_names_it(workspace, damaged_store):
    with dg.instance_for_test() as instance:
        with dg.build_sensor_context(instance=instance, resources={"mongo": MongoResource()}) as context:
            with pytest.raises(Exception) as caught:
                outbound_pending_sensor.evaluate_tick(context)
    message = str(caught.value)
    assert str(damaged_store) in message and "move it aside" in message
    assert "sqlite3" not in message


