"""Chunked fan-out: inbound and outbound split into chunks with DynamicOut, so an
executor that runs steps in parallel (multiprocess here, k8s or celery on a cluster)
processes chunks in parallel."""

import os
from datetime import datetime, timezone

import dagster as dg
import pytest

from tracos_integration.client.batches import InboundBatch
from tracos_integration.client.io_manager import ClientFolderIOManager
from tracos_integration.jobs import inbound_job
from tracos_integration.ops.inbound import InboundChunkPlan, apply_inbound_chunk
from tracos_integration.tracos.resource import MongoResource
from tracos_integration_tests.conftest import output_metadata
from tracos_integration_tests.factories import client_order, drop

UTC = timezone.utc


def test_inbound_fans_out_one_step_per_chunk(workspace):
    for n in range(1, 6):
        drop(workspace.inbound, f"f{n}.json", [client_order(n)])
    result = workspace.run("inbound_job", {"ops": {"plan_inbound_chunks": {"config": {"batch_size": 2}}}})
    assert result.success
    chunk_steps = sorted({e.step_key for e in result.all_events if e.step_key and e.step_key.startswith("apply_inbound_chunk[")})
    assert chunk_steps == ["apply_inbound_chunk[chunk_00000]", "apply_inbound_chunk[chunk_00001]", "apply_inbound_chunk[chunk_00002]"]
    assert [output_metadata(result, step)["inserted"] for step in chunk_steps] == [2, 2, 1]
    assert output_metadata(result, "settle_inbound_files")["inserted"] == 5
    assert workspace.collection.count_documents({}) == 5


def test_chunked_op_applies_its_chunk_against_mongomock(workspace):
    """The op alone, as a worker on a cluster runs it: each chunk needs only its plan."""
    for n in range(1, 5):
        drop(workspace.inbound, f"f{n}.json", [client_order(n)])
    now = datetime(2025, 1, 1, tzinfo=UTC)
    base = dict(folder=str(workspace.inbound), client_timezone="UTC", settle_seconds=0, max_file_bytes=10_000)
    plans = [InboundChunkPlan(InboundBatch(names=names, **base), now, [], 100, False)
             for names in (["f1.json", "f2.json"], ["f3.json", "f4.json"])]
    mongo = MongoResource(uri=workspace.mongo_uri)
    reports = []
    for plan in plans:
        with dg.build_op_context(resources={"mongo": mongo}) as context:
            reports.append(apply_inbound_chunk(context, plan=plan))
    assert [r.counts["inserted"] for r in reports] == [2, 2]
    assert [r.outcome.processed for r in reports] == [["f1.json", "f2.json"], ["f3.json", "f4.json"]]
    assert workspace.collection.count_documents({"syncedAt": now}) == 4


def multiprocess_inbound_job():
    return inbound_job.graph.to_job(
        name="inbound_job_multiprocess",
        executor_def=dg.multiprocess_executor.configured({"max_concurrent": 2}),
        resource_defs={"mongo": MongoResource(), "client_folder": ClientFolderIOManager()},
    )


@pytest.mark.slow
def test_inbound_chunks_run_in_separate_processes_under_the_multiprocess_executor(tmp_path, monkeypatch):
    inbound, outbound = tmp_path / "inbound", tmp_path / "outbound"
    inbound.mkdir()
    outbound.mkdir()
    uri = f"embedded://{tmp_path / 'tracos.json'}"  # shared between processes, unlike mongomock://
    for name, value in dict(MONGO_URI=uri, DATA_INBOUND_DIR=str(inbound), DATA_OUTBOUND_DIR=str(outbound),
                            INBOUND_SETTLE_SECONDS="0").items():
        monkeypatch.setenv(name, value)
    for n in range(1, 7):
        drop(inbound, f"f{n}.json", [client_order(n)])
    with dg.instance_for_test() as instance:
        job = dg.reconstructable(multiprocess_inbound_job)
        config = {"ops": {"plan_inbound_chunks": {"config": {"batch_size": 2}}}}
        with dg.execute_job(job, instance=instance, run_config=config) as result:
            assert result.success
            pids = {
                e.step_key: e.pid for e in result.all_events
                if e.event_type_value == "STEP_START" and e.step_key.startswith("apply_inbound_chunk")
            }
    assert len(pids) == 3 and len(set(pids.values())) == 3 and os.getpid() not in pids.values()
    assert MongoResource(uri=uri).get_collection().count_documents({}) == 6
    assert sorted(p.name for p in (inbound / "processed").iterdir()) == [f"f{n}.json" for n in range(1, 7)]
