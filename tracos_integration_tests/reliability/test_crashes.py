"""Crash points: the process dies at the risky moments, then the next run finishes the work."""

import os

from tracos_integration.client import writing as writing_module
from tracos_integration.client.folder import ClientFolder
from tracos_integration.tracos.queries import WorkOrderRepository
from tracos_integration_tests.factories import client_order, drop, tracos_document
from tracos_integration_tests.reliability.harness import Crash, run_until_crash, tally


def documents(workspace, count):
    workspace.collection.insert_many([tracos_document(n, title=f"order {n}") for n in range(1, count + 1)])
    return {n: f"order {n}" for n in range(1, count + 1)}


def test_crash_between_outbound_write_and_mark_then_rerun(workspace, monkeypatch, figures):
    expected = documents(workspace, 5)

    def crash(*args, **kwargs):
        raise Crash("after the rename, before the mark")

    with monkeypatch.context() as patch:
        patch.setattr(WorkOrderRepository, "mark_synced", crash)
        run_until_crash(workspace, "outbound_job")
    first_bytes = {name: (workspace.outbound / name).read_bytes() for name in workspace.outbound_files()}
    assert len(first_bytes) == 5
    assert workspace.collection.count_documents({"isSynced": True}) == 0

    assert workspace.run("outbound_job").success
    assert {name: (workspace.outbound / name).read_bytes() for name in workspace.outbound_files()} == first_bytes
    assert workspace.collection.count_documents({"isSynced": True}) == 5
    result = tally(workspace.collection, expected)
    figures(records_in=5, applied=len(first_bytes), rejected=0, lost=result["lost"], duplicated=result["duplicated"])


def test_crash_before_the_rename_shows_no_partial_file_and_leaves_no_temp(workspace, monkeypatch, figures):
    documents(workspace, 3)
    real_replace = os.replace

    def crash_on_second(source, target, **folders):  # folders: src_dir_fd/dst_dir_fd, names relative to them
        if str(target).endswith("2.json"):
            raise Crash("temp file written, not yet renamed")
        return real_replace(source, target, **folders)

    with monkeypatch.context() as patch:
        patch.setattr(writing_module.os, "replace", crash_on_second)
        patch.setattr(writing_module, "_unlink_quietly", lambda *args: None)  # a killed process cleans nothing
        run_until_crash(workspace, "outbound_job")
    visible = [name for name in os.listdir(workspace.outbound) if not name.startswith(".")]
    assert visible == ["1.json"]  # the complete file only; 2.json never appears half-written
    assert [name for name in os.listdir(workspace.outbound) if name.startswith(".2.json.")]  # the orphan temp
    assert workspace.collection.count_documents({"isSynced": True}) == 0

    assert workspace.run("outbound_job").success
    assert sorted(os.listdir(workspace.outbound)) == ["1.json", "2.json", "3.json"]  # no temp file left
    assert workspace.collection.count_documents({"isSynced": True}) == 3
    figures(records_in=3, applied=3, rejected=0, lost=0, duplicated=0)


def test_crash_after_the_inbound_upsert_before_the_move_then_rerun(workspace, monkeypatch, figures):
    drop(workspace.inbound, "a.json", [client_order(n, summary=f"client {n}") for n in range(1, 5)])

    def crash(*args, **kwargs):
        raise Crash("upserted, not yet moved")

    with monkeypatch.context() as patch:
        patch.setattr(ClientFolder, "archive", crash)
        run_until_crash(workspace, "inbound_job")
    assert (workspace.inbound / "a.json").exists()
    before = list(workspace.collection.find({}).sort("number"))
    assert len(before) == 4

    rerun = workspace.run("inbound_job")
    assert rerun.success
    assert list(workspace.collection.find({}).sort("number")) == before  # nothing written again
    assert workspace.processed() == ["a.json"]
    from tracos_integration_tests.conftest import inbound_metadata

    metadata = inbound_metadata(rerun)
    assert metadata["unchanged"] == 4 and metadata["inserted"] == 0 and metadata["updated"] == 0
    result = tally(workspace.collection, {n: f"client {n}" for n in range(1, 5)})
    figures(records_in=4, applied=result["applied"], rejected=0, lost=result["lost"], duplicated=result["duplicated"])
