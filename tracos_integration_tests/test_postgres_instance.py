"""A PostgreSQL-backed Dagster instance (deploy/dagster.yaml, dagster-postgres), proven
against a local PostgreSQL from Debian's packages that this test starts itself."""

import glob
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tracos_integration.tracos.resource import MongoResource
from tracos_integration_tests.factories import client_order, drop, tracos_document
from tracos_integration_tests.live import free_port

ROOT = Path(__file__).resolve().parents[1]
DAGSTER = str(Path(sys.executable).with_name("dagster"))
pytestmark = pytest.mark.slow


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


@pytest.fixture(scope="module")
def postgres():
    pytest.importorskip("dagster_postgres")
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (.ci/run installs Debian's postgresql)")
    base = Path(tempfile.mkdtemp(prefix="tracos-pg-"))
    data, sockets, port = base / "data", base / "sockets", free_port()
    sockets.mkdir()
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(base, "postgres")
        shutil.chown(sockets, "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_postgres, str(bin_dir / "initdb"), "-D", str(data), "-U", "dagster", "--auth=trust"],
                   check=True, capture_output=True)
    subprocess.run([*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(base / "postgres.log"), "-w",
                    "-o", f"-p {port} -k {sockets} -h 127.0.0.1", "start"], check=True, capture_output=True)
    try:
        yield port
    finally:
        subprocess.run([*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def test_jobs_run_on_a_postgres_backed_instance(postgres, tmp_path):
    home, inbound, outbound = tmp_path / "home", tmp_path / "inbound", tmp_path / "outbound"
    for folder in (home, inbound, outbound):
        folder.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGO_", "DATA_", "DAGSTER_"))}
    env.update(
        DAGSTER_HOME=str(home), MONGO_URI=f"embedded://{tmp_path / 'tracos.json'}",
        DATA_INBOUND_DIR=str(inbound), DATA_OUTBOUND_DIR=str(outbound), INBOUND_SETTLE_SECONDS="0",
        DAGSTER_POSTGRES_HOST="127.0.0.1", DAGSTER_POSTGRES_PORT=str(postgres),
        DAGSTER_POSTGRES_USER="dagster", DAGSTER_POSTGRES_PASSWORD="unused-with-trust", DAGSTER_POSTGRES_DB="postgres",
    )
    MongoResource(uri=env["MONGO_URI"]).get_collection().insert_one(tracos_document(7))
    drop(inbound, "a.json", [client_order(1)])
    completed = subprocess.run([DAGSTER, "job", "execute", "-m", "tracos_integration", "-j", "sync_job"],
                               cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert (outbound / "7.json").exists() and (inbound / "processed" / "a.json").exists()

    code = (
        "import dagster as dg, os\n"
        "with dg.DagsterInstance.from_config(os.environ['DAGSTER_HOME']) as instance:\n"
        "    runs = instance.get_runs()\n"
        "    print(type(instance.run_storage).__name__, [(r.job_name, r.status.value) for r in runs])\n"
    )
    check = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert "PostgresRunStorage" in check.stdout and "('sync_job', 'SUCCESS')" in check.stdout
