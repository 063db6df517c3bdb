"""Hostile pass on the configuration seam (issue 17, scope.py): run config forged in the
launchpad or given with `-c`, a partition the customers file does not hold, a customers file
that changes under the sensors, and the on-demand checks with a broken customer."""

from __future__ import annotations

import os

import dagster as dg
import pytest

from tracos_integration.assets import asset_specs, inbound_fresh
from tracos_integration.client.folder import ClientFolder
from tracos_integration.client.io_manager import ClientFolderIOManager
from tracos_integration.customers import load_customers
from tracos_integration.jobs import build_jobs
from tracos_integration.tracos.resource import MongoResource
from tracos_integration_tests.factories import client_order, drop
from tracos_integration_tests.test_customer_runs import (  # noqa: F401 (fixture)
    deployment, entry, failure_messages, run_config, write_customers,
)

REFUSED = "Nothing was read or written."


@pytest.fixture
def one_customer(tmp_path, monkeypatch, workspace):
    """A customers file with one customer, acme: no other customer to compare a run with."""
    for side in ("inbound", "outbound"):
        (tmp_path / "acme" / side).mkdir(parents=True)
    customers_file = tmp_path / "customers.yaml"
    write_customers(customers_file, {"acme": entry(tmp_path, "acme")})
    monkeypatch.setenv("TRACOS_CUSTOMERS_FILE", str(customers_file))
    folder = ClientFolder()
    defs = dg.Definitions(
        jobs=build_jobs(dg.StaticPartitionsDefinition(["acme"]), load_customers(customers_file)),
        resources={"mongo": MongoResource(), "client_folder": folder,
                   "client_folder_io_manager": ClientFolderIOManager(folder=folder)},
    )
    return defs, tmp_path, workspace


def acme_config(root, folder=None, mongo=None) -> dict:
    """acme's entry as its partition's run config, with the launchpad's edits on top."""
    config = run_config(entry(root, "acme"))["resources"]
    return {"resources": {
        "client_folder": {"config": {**config["client_folder"]["config"], **(folder or {})}},
        "mongo": {"config": {**config["mongo"]["config"], **(mongo or {})}},
    }}


def tree(folder) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


@pytest.mark.parametrize("folder", [
    {"client_timezone": "Mars/Olympus"}, {"file_format": "xml"}, {"inbound_dir": ""},
], ids=["unknown-zone", "unknown-format", "empty-folder"])
def test_with_one_customer_a_forged_config_is_still_checked_as_its_entry(one_customer, monkeypatch, folder):
    """A run's config must be a valid entry of its customer even when the file holds no other
    customer to compare it with. Before: no check at all; an unknown zone or format failed
    mid-step with a stack trace, and an empty inbound_dir read the current directory."""
    defs, root, _ = one_customer
    drop(root / "acme" / "inbound", "a.json", [client_order(1)])
    cwd = root / "cwd"
    cwd.mkdir()
    drop(cwd, "not-a-client-file.json", [client_order(2)])
    monkeypatch.chdir(cwd)

    result = defs.get_job_def("inbound_job").execute_in_process(
        partition_key="acme", run_config=acme_config(root, folder), raise_on_error=False)

    assert not result.success
    message = failure_messages(result)
    assert REFUSED in message and "Traceback" not in message
    assert tree(root / "acme" / "inbound") == ["a.json"]
    assert tree(cwd) == ["not-a-client-file.json"]


def test_a_config_whose_namespace_is_too_long_for_mongodb_is_refused(deployment):
    """database.collection over 255 bytes: the file's load refuses it (customers.py), a real
    server refuses it at the first write. Before: a config with it passed the seam."""
    defs, root, _, _, _ = deployment
    drop(root / "acme" / "inbound", "a.json", [client_order(1)])
    config = acme_config(root, mongo={"database": "d" * 60, "collection": "c" * 200})

    result = defs.get_job_def("inbound_job").execute_in_process(partition_key="acme", run_config=config,
                                                                raise_on_error=False)

    assert not result.success
    assert "database.collection is 261 bytes" in failure_messages(result) and REFUSED in failure_messages(result)
    assert tree(root / "acme" / "inbound") == ["a.json"]


def test_a_partition_not_in_the_file_never_falls_back_to_the_environments_folders_or_collection(deployment):
    """`dagster job execute --tags '{"dagster/partition": "ghost"}' -c part.yaml`: Dagster does not
    check the tag against the partitions. Before: the values the config did not give came from
    DATA_INBOUND_DIR / MONGO_COLLECTION, so the run read the environment's folder, moved its file
    and wrote into the environment's collection, which a customers deployment never touches."""
    defs, root, _, _, workspace = deployment
    drop(workspace.inbound, "environment.json", [client_order(7)])
    (root / "elsewhere").mkdir()
    partial = {"resources": {"client_folder": {"config": {"outbound_dir": str(root / "elsewhere")}}}}

    result = defs.get_job_def("inbound_job").execute_in_process(
        tags={"dagster/partition": "ghost"}, run_config=partial, raise_on_error=False)

    assert not result.success
    message = failure_messages(result)
    assert "'ghost' is not in the customers file" in message and REFUSED in message
    assert tree(workspace.inbound) == ["environment.json"]
    assert workspace.collection.count_documents({}) == 0


@pytest.mark.parametrize("folder, said", [
    ({"settle_seconds": float("nan")}, "is not a finite number"),
    ({"settle_seconds": float("inf")}, "is not a finite number"),
    ({"max_file_bytes": 0}, "must be at least 1"),
    ({"client_timezone": "America"}, "is not an IANA time zone"),  # a folder of zones: IsADirectoryError before
], ids=["nan", "inf", "zero-bytes", "zone-folder"])
def test_a_number_in_the_run_config_is_checked_as_its_setting_is(deployment, folder, said):
    """CONTRACT 2: a setting that is not a finite number fails clearly. The resource's own fields
    (settle_seconds, max_file_bytes) bypassed the parsers of INBOUND_SETTLE_SECONDS and
    INBOUND_MAX_FILE_BYTES. Before: nan/inf failed mid-step with a stack trace ("cannot convert
    float NaN to integer"), and 0 bytes moved every valid file to failed/ as too large."""
    defs, root, _, _, _ = deployment
    drop(root / "acme" / "inbound", "a.json", [client_order(1)])

    result = defs.get_job_def("inbound_job").execute_in_process(
        partition_key="acme", run_config=acme_config(root, folder), raise_on_error=False)

    assert not result.success
    message = failure_messages(result)
    assert said in message and "Traceback" not in message
    assert tree(root / "acme" / "inbound") == ["a.json"]


def test_the_on_demand_inbound_check_judges_every_customer_when_one_folder_is_missing(deployment):
    """CONTRACT 7: work waiting longer than the window turns the check red, sensors or not."""
    defs, root, _, _, _ = deployment
    (root / "acme" / "inbound").rmdir()
    old = drop(root / "globex" / "inbound", "late.json", [client_order(1)])
    os.utime(old, (1_000_000, 1_000_000))
    checks = dg.Definitions(  # as the UI executes the check on demand: a job selecting it
        assets=asset_specs(), asset_checks=[inbound_fresh], resources={"client_folder": ClientFolder()},
        jobs=[dg.define_asset_job("checks", selection=dg.AssetSelection.checks(inbound_fresh))],
    ).resolve_job_def("checks")
    result = checks.execute_in_process(raise_on_error=False)
    [evaluation] = [event.event_specific_data for event in result.all_events
                    if event.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert not evaluation.passed
    assert "acme: cannot look at the inbound folder" in evaluation.description and "globex" in evaluation.description


def test_a_folder_reaching_another_customer_through_a_link_and_dotdot_is_never_used(deployment):
    """`<acme>/x/..` with x a link into globex's inbound/processed: the check normalised `..`
    before resolving links (as the customers file is read: <acme> itself, nobody else's), but
    the run opened the path as given, which the system resolves link first: globex's inbound.
    Before: acme's run read globex's file, wrote it into acme's collection and moved it into
    globex's processed/ (CONTRACT 9: never another customer's folders)."""
    defs, root, _, collections, _ = deployment
    (root / "globex" / "inbound" / "processed").mkdir()
    (root / "acme" / "x").symlink_to(root / "globex" / "inbound" / "processed")
    (root / "acme-out").mkdir()
    drop(root / "globex" / "inbound", "g.json", [client_order(1)])
    config = acme_config(root, {"inbound_dir": str(root / "acme" / "x") + "/..", "outbound_dir": str(root / "acme-out")})

    defs.get_job_def("inbound_job").execute_in_process(partition_key="acme", run_config=config, raise_on_error=False)

    assert tree(root / "globex" / "inbound") == ["g.json", "processed"]
    assert collections["acme"].count_documents({}) == 0


def test_samples_job_with_a_bad_number_in_its_config_writes_nothing_anywhere(deployment):
    """The number is the client folder's, but samples_job's op binds only TracOS (its files go
    through the IO manager): the run's config is checked when the run resolves its scope, so the
    refusal comes before any sample reaches TracOS and "Nothing was read or written" is true."""
    defs, root, _, collections, _ = deployment

    result = defs.get_job_def("samples_job").execute_in_process(
        partition_key="acme", run_config=acme_config(root, {"settle_seconds": float("nan")}), raise_on_error=False)

    assert not result.success
    assert "is not a finite number" in failure_messages(result)
    assert collections["acme"].count_documents({}) == 0 and tree(root / "acme" / "inbound") == []


@pytest.mark.parametrize("key", ["inbound_dir", "outbound_dir"])
def test_a_folder_holding_nul_in_the_run_config_fails_in_one_line_without_a_customers_file(workspace, key):
    """CONTRACT 2: a folder that cannot be used fails clearly. A run config may hold a NUL (the
    environment cannot): before, the step failed with pathlib's 'embedded null byte' stack trace."""
    from tracos_integration.definitions import defs

    drop(workspace.inbound, "a.json", [client_order(1)])
    result = defs.get_job_def("inbound_job").execute_in_process(
        run_config={"resources": {"client_folder": {"config": {key: f"{workspace.inbound}\x00x"}}}},
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)

    assert not result.success
    message = failure_messages(result)
    assert "NUL" in message and key in message and REFUSED in message and "Traceback" not in message
    assert sorted(path.name for path in workspace.inbound.iterdir()) == ["a.json"]
