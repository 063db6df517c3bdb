"""The remote client folders' benchmark: `python -m tracos_integration_tests.benchmarks.remote
[--files 2000] [--repeats 3] [--json PATH]`.

Starts an OpenSSH sshd and a moto S3 server on 127.0.0.1 (remote_servers.py; moto in a child
process, so the server's work is not counted in ours), then, over SFTP and over S3:
- inbound: N client files in the remote inbound folder; what inbound_job does without Dagster
  (worker.inbound: sync/inbound.apply_files on the counting double, then archive to processed/) through RemoteFolders, beside a plain paramiko / boto3 script doing the
  same reads and moves;
- outbound: N unsynced documents; worker.outbound (sync/outbound.export: translate, write
  through RemoteFolders, mark), beside a plain paramiko / boto3 script writing the same bytes.
Both sides include connecting. Each pair runs back to back on fresh folders; the figure is the
pair with the median ratio. A ratio over its target is followed by the top functions of a
cProfile of ours.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import platform
import posixpath
import pstats
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from collections import Counter
from typing import Callable, Iterator

from tracos_integration_tests.benchmarks.__main__ import figure, print_table
from tracos_integration_tests.benchmarks.worker import inbound, outbound, tracos_documents

TARGET = 1.5  # ours / floor
PROCESSED = "processed"
MAX_FILE_BYTES = 16 * 2**20
REQUESTS: Counter = Counter()  # SFTP requests and S3 API calls sent by this process, by kind (count_requests)


def client_file(number: int) -> bytes:
    return json.dumps({"orderNo": number, "summary": f"Work order {number}", "creationDate": "2024-01-01T00:00:00Z",
                       "lastUpdateDate": "2024-01-02T00:00:00.000Z", "isActive": True}).encode()


def file_name(number: int) -> str:
    return f"wo_{number:08d}.json"


def outbound_payloads(count: int) -> list[tuple[str, bytes]]:
    """The bytes outbound writes, made before the floor's clock starts (as the local floor)."""
    from tracos_integration.core.tracos import parse_tracos_document
    from tracos_integration.core.translation import to_client_record

    records = [to_client_record(parse_tracos_document(d)) for d in tracos_documents(count)]
    return [(f"{r['orderNo']}.json", (json.dumps(r, ensure_ascii=False, indent=2) + "\n").encode()) for r in records]


def count_requests() -> None:
    """Count every SFTP request (paramiko) and S3 API call (botocore, aiobotocore) in REQUESTS."""
    import aiobotocore.client
    import botocore.client
    import paramiko
    from paramiko import sftp

    commands = {value: key[4:].lower() for key, value in vars(sftp).items() if key.startswith("CMD_")
                and isinstance(value, int)}
    sftp_request = paramiko.SFTPClient._async_request

    def counted_sftp(self, fileobj, kind, *args):
        extension = args[0] if kind == sftp.CMD_EXTENDED and args else ""
        REQUESTS[str(extension).split("@")[0] or commands.get(kind, kind)] += 1
        return sftp_request(self, fileobj, kind, *args)

    boto_call = botocore.client.BaseClient._make_api_call

    def counted_boto(self, operation, *args, **kwargs):
        REQUESTS[operation] += 1
        return boto_call(self, operation, *args, **kwargs)

    aio_call = aiobotocore.client.AioBaseClient._make_api_call

    async def counted_aio(self, operation, *args, **kwargs):
        REQUESTS[operation] += 1
        return await aio_call(self, operation, *args, **kwargs)

    paramiko.SFTPClient._async_request = counted_sftp
    botocore.client.BaseClient._make_api_call = counted_boto
    aiobotocore.client.AioBaseClient._make_api_call = counted_aio


class Sftp:
    """One sshd; each folder pair a fresh base folder under its root."""

    name = "sftp"

    def __init__(self, server) -> None:
        self.server = server

    def fresh(self) -> str:
        base = uuid.uuid4().hex[:8]
        self.server.folder(base, "in")
        self.server.folder(base, "out")
        return base

    def seed(self, base: str, count: int) -> None:
        inbound_dir = self.server.root / base / "in"
        for number in range(1, count + 1):
            path = inbound_dir / file_name(number)
            path.write_bytes(client_file(number))
            self.server.own(path)

    def ours(self, base: str):
        from tracos_integration.client.remote import RemoteFolders

        return RemoteFolders(self.server.url(base, "in"), self.server.url(base, "out"),
                             sftp_key_file=self.server.key_file, sftp_known_hosts=self.server.known_hosts,
                             settle_seconds=0, max_file_bytes=MAX_FILE_BYTES)

    @contextlib.contextmanager
    def plain(self) -> Iterator:
        import paramiko

        client = paramiko.SSHClient()
        client.load_host_keys(self.server.known_hosts)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect("127.0.0.1", port=self.server.port, username=self.server.user, key_filename=self.server.key_file,
                       look_for_keys=False, allow_agent=False)
        try:
            yield client.open_sftp()
        finally:
            client.close()

    def inbound_floor(self, base: str) -> int:
        """paramiko's SFTPClient: listdir, open + read + json.loads, posix_rename into processed/."""
        folder = str(self.server.root / base / "in")
        with self.plain() as sftp:
            names = sorted(name for name in sftp.listdir(folder) if name.endswith(".json"))
            sftp.mkdir(posixpath.join(folder, PROCESSED))
            for name in names:
                with sftp.open(posixpath.join(folder, name), "rb") as handle:
                    json.loads(handle.read())
                sftp.posix_rename(posixpath.join(folder, name), posixpath.join(folder, PROCESSED, name))
        return len(names)

    def outbound_floor(self, base: str, payloads: list[tuple[str, bytes]]) -> int:
        """paramiko's SFTPClient: a hidden temporary file, then posix_rename over the name."""
        folder = str(self.server.root / base / "out")
        with self.plain() as sftp:
            for name, data in payloads:
                temp = posixpath.join(folder, f".{name}.tmp")
                with sftp.open(temp, "wb") as handle:
                    handle.write(data)
                sftp.posix_rename(temp, posixpath.join(folder, name))
        return len(payloads)

    def processed(self, base: str) -> int:
        return len(os.listdir(self.server.root / base / "in" / PROCESSED))

    def written(self, base: str) -> int:
        return sum(1 for name in os.listdir(self.server.root / base / "out") if not name.startswith("."))


class S3:
    """moto's S3 server; each folder pair a fresh bucket with in/ and out/."""

    name = "s3"

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint)

    def fresh(self) -> str:
        bucket = f"bench-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=bucket)
        return bucket

    def seed(self, bucket: str, count: int) -> None:
        s3 = self.client()
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda n: s3.put_object(Bucket=bucket, Key=f"in/{file_name(n)}", Body=client_file(n)),
                          range(1, count + 1)))

    def ours(self, bucket: str):
        from tracos_integration.client.remote import RemoteFolders

        return RemoteFolders(f"s3://{bucket}/in", f"s3://{bucket}/out", settle_seconds=0, max_file_bytes=MAX_FILE_BYTES)

    def inbound_floor(self, bucket: str) -> int:
        """boto3: list_objects_v2 paged, get_object + json.loads, copy_object + delete_object."""
        s3, count = self.client(), 0
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="in/", Delimiter="/")
        keys = sorted(item["Key"] for page in pages for item in page.get("Contents", ())
                      if item["Key"].endswith(".json"))
        for key in keys:
            json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            s3.copy_object(Bucket=bucket, Key=f"in/{PROCESSED}/{key[3:]}", CopySource={"Bucket": bucket, "Key": key})
            s3.delete_object(Bucket=bucket, Key=key)
            count += 1
        return count

    def outbound_floor(self, bucket: str, payloads: list[tuple[str, bytes]]) -> int:
        """boto3: one put_object per file."""
        s3 = self.client()
        for name, data in payloads:
            s3.put_object(Bucket=bucket, Key=f"out/{name}", Body=data)
        return len(payloads)

    def _count(self, bucket: str, prefix: str) -> int:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/")
        return sum(len(page.get("Contents", ())) for page in pages)

    def processed(self, bucket: str) -> int:
        return self._count(bucket, f"in/{PROCESSED}/")

    def written(self, bucket: str) -> int:
        return self._count(bucket, "out/")


def timed(work: Callable[[], int]) -> dict:
    REQUESTS.clear()
    started, cpu = time.perf_counter(), time.process_time()
    done = work()
    return {"seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu, "orders": done,
            "requests": dict(REQUESTS)}


def ours_inbound(transport, where: str) -> int:
    client = transport.ours(where)
    try:
        return inbound(Path(where), client=client)[0]
    finally:
        client.close()


def ours_outbound(transport, where: str, count: int) -> dict:
    """worker.outbound's own clock: from its first query to its last mark (inserts excluded)."""
    client = transport.ours(where)
    REQUESTS.clear()
    cpu = time.process_time()  # includes the inserts, a few ms
    try:
        exported, _, seconds = outbound(Path(where), count, client=client)
    finally:
        client.close()
    return {"seconds": seconds, "cpu": time.process_time() - cpu, "orders": exported, "requests": dict(REQUESTS)}


def measure(transport, n: int, repeats: int) -> tuple[list, list]:
    pairs_in, pairs_out = [], []
    payloads = outbound_payloads(n)
    for _ in range(repeats):
        ours, floor = transport.fresh(), transport.fresh()
        transport.seed(ours, n)
        transport.seed(floor, n)
        pair = timed(lambda: ours_inbound(transport, ours)), timed(lambda: transport.inbound_floor(floor))
        assert transport.processed(ours) == transport.processed(floor) == n, (transport.name, pair)
        pairs_in.append(pair)
        ours, floor = transport.fresh(), transport.fresh()
        pair = ours_outbound(transport, ours, n), timed(lambda: transport.outbound_floor(floor, payloads))
        assert transport.written(ours) == transport.written(floor) == n, (transport.name, pair)
        pairs_out.append(pair)
    return pairs_in, pairs_out


def per_file(requests: dict, n: int) -> str:
    """Requests per file by kind, the most frequent first ("lstat 3, read 2, ...")."""
    kinds = sorted(((count / n, kind) for kind, count in requests.items() if count / n >= 0.05), reverse=True)
    return ", ".join(f"{kind} {share:.2g}" for share, kind in kinds)


STEPS = {("remote", "list_inbound"), ("remote", "read"), ("inbound", "apply"), ("remote", "archive"),
         ("queries", "iter_unsynced"), ("outbound", "translate_page"), ("remote", "write_files"),
         ("queries", "mark_synced")}


def where_time_goes(run: Callable[[], object]) -> str:
    """The share of ours each step of the loop takes (cProfile, cumulative), in one line."""
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.runcall(run)
    total = time.perf_counter() - started
    stats = pstats.Stats(profile, stream=io.StringIO()).stats
    steps = [(cumulative, function) for (path, _, function), (_, _, _, cumulative, _) in stats.items()
             if "/tracos_integration/" in path and (Path(path).stem, function) in STEPS]
    return ", ".join(f"{name} {cumulative / total:.0%}" for cumulative, name in sorted(steps, reverse=True))


def figures_for(transport, n: int, repeats: int) -> list[dict]:
    from tracos_integration_tests.benchmarks.__main__ import median_pair

    pairs_in, pairs_out = measure(transport, n, repeats)
    name, results, notes = transport.name, [], []
    for direction, pairs, floor_does in (
            ("inbound", pairs_in, transport.inbound_floor.__doc__.split(":")[1].strip(" .")),
            ("outbound", pairs_out, transport.outbound_floor.__doc__.split(":")[1].strip(" ."))):
        ours, floor = median_pair(pairs)
        ratio = ours["seconds"] / floor["seconds"]
        results += [
            figure(f"{name} {direction} throughput", n / ours["seconds"], "files/s", None, None),
            figure(f"{name} {direction} floor throughput ({floor_does})", n / floor["seconds"], "files/s", None, None),
            figure(f"{name} {direction} requests per file", sum(ours["requests"].values()) / n, "per file", None, None),
            figure(f"{name} {direction} floor requests per file", sum(floor["requests"].values()) / n, "per file",
                   None, None),
            figure(f"{name} {direction} client CPU / floor's (this process)", ours["cpu"] / floor["cpu"], "x",
                   None, None),
            figure(f"{name} {direction} time / floor", ratio, "x", f"<= {TARGET:g}", ratio <= TARGET),
        ]
        if ratio > TARGET:
            where = transport.fresh()
            if direction == "inbound":
                transport.seed(where, n)
                line = where_time_goes(lambda: ours_inbound(transport, where))
            else:
                line = where_time_goes(lambda: ours_outbound(transport, where, n))
            notes.append(f"{name} {direction} {ratio:.2f}x the floor: requests per file "
                         f"{per_file(ours['requests'], n)} "
                         f"(floor: {per_file(floor['requests'], n)}); time per step (cProfile) {line}")
    for note in notes:
        print(note, flush=True)
    return results


@contextlib.contextmanager
def s3_server() -> Iterator[str]:
    """moto's S3 server (remote_servers.start_s3) in a child process, until its stdin closes."""
    from tracos_integration_tests.remote_servers import ServerMissing, free_port, moto_missing

    if moto_missing():
        raise ServerMissing(moto_missing())
    port = free_port()
    code = ("import sys\nfrom tracos_integration_tests.remote_servers import start_s3\n"
            f"server = start_s3({port})\nprint('ready', flush=True)\nsys.stdin.read()\nserver.stop()\n")
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError(f"moto's S3 server did not start (exit code {child.wait(10)})")
        yield f"http://127.0.0.1:{port}"
    finally:
        child.stdin.close()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="tracos-integration benchmark of the remote client folders")
    parser.add_argument("--files", type=int, default=2000, help="files inbound and documents outbound, per run")
    parser.add_argument("--repeats", type=int, default=3, help="paired runs of ours and the floor")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    parser.add_argument("--transports", default="sftp,s3", help="which to measure, comma-separated")
    options = parser.parse_args(argv)
    from tracos_integration_tests.remote_servers import start_sshd, stop_sshd

    n = options.files
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        os.environ.pop(variable, None)
    print(f"tracos-integration remote benchmark, N={n} files: {platform.system()} {platform.machine()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}; servers on 127.0.0.1 (OpenSSH sshd, moto S3 "
          "in a child process); TracOS side: the counting in-memory double\n", flush=True)
    count_requests()
    results = []
    transports = options.transports.split(",")
    if "sftp" in transports:
        sshd = start_sshd()
        try:
            results += figures_for(Sftp(sshd), n, options.repeats)
        finally:
            stop_sshd(sshd)
    if "s3" in transports:
        with s3_server() as endpoint:
            os.environ["AWS_ENDPOINT_URL"] = endpoint
            results += figures_for(S3(endpoint), n, options.repeats)
    print()
    print_table(results)
    if options.json:
        options.json.write_text(json.dumps(results, indent=2) + "\n")
    failed = [r for r in results if r["pass"] is False]
    print(f"\nremote benchmark: {sum(1 for r in results if r['pass'])} targets passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
