"""A real `dagster dev` (webserver + daemon) on a free port, for the live and browser tests."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

ROOT = Path(__file__).resolve().parents[1]
DAGSTER = str(Path(sys.executable).with_name("dagster"))
T = TypeVar("T")


@dataclass
class LiveDagster:
    url: str
    home: Path
    inbound: Path
    outbound: Path
    mongo_uri: str
    process: subprocess.Popen
    log_path: Path

    def instance(self):
        import dagster as dg

        return dg.DagsterInstance.from_config(str(self.home))

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition: Callable[[], T], timeout: float, what: str, interval: float = 1.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def start_dagster_dev(base: Path, **extra_env: str) -> LiveDagster:
    home, inbound, outbound = base / "dagster_home", base / "inbound", base / "outbound"
    for folder in (home, inbound, outbound):
        folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    port = free_port()
    mongo_uri = f"embedded://{base / 'tracos.json'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGO_", "DATA_", "DAGSTER_"))}
    env.update({
        "DAGSTER_HOME": str(home),
        "MONGO_URI": mongo_uri,
        "DATA_INBOUND_DIR": str(inbound),
        "DATA_OUTBOUND_DIR": str(outbound),
        "INBOUND_SETTLE_SECONDS": "0",
        "SYNC_INTERVAL_SECONDS": "2",
        **extra_env,
    })
    log_path = base / "dagster_dev.log"
    log = open(log_path, "w")
    process = subprocess.Popen(
        [DAGSTER, "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    live = LiveDagster(f"http://127.0.0.1:{port}", home, inbound, outbound, mongo_uri, process, log_path)

    def webserver_up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"dagster dev exited early:\n{live.log_tail()}")
        try:
            with urllib.request.urlopen(f"{live.url}/server_info", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    try:
        wait_for(webserver_up, 180, "the Dagster webserver")
    except BaseException:
        stop_dagster_dev(live)
        raise
    return live


def stop_dagster_dev(live: LiveDagster) -> None:
    """dagster dev stops on SIGINT (not SIGTERM); kill the group if it lingers."""
    if live.process.poll() is None:
        os.killpg(live.process.pid, signal.SIGINT)
        try:
            live.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(live.process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    live.process.wait(timeout=10)
