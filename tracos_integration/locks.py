"""Holding a lock between processes and machines: a `flock` on a hidden file beside what it
guards, with a timeout and a record of who holds it (README "Locks: one per guarantee").

The holder writes who it is (host, pid, Dagster run, since when) into the file; a process
that waits longer than its timeout fails naming that holder. A holder that dies releases
the flock with its process; the record it leaves only names it, it never blocks anyone.
On release the holder removes the file, so the folder it guards keeps nothing of ours.
Linux's NFS client turns a `flock` into a lock the server sees, so runs on different
machines sharing the folder exclude each other too.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import stat
import time
import weakref
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional

LOCK_FILE = ".tracos.lock"  # hidden: the sensor, the inbound scan and the customer's readers skip it
POLL_SECONDS = 0.2


class HeldElsewhere(RuntimeError):
    """Another process still held the lock when the timeout ran out; the message names it."""


class NotALockFile(RuntimeError):
    """Something other than a regular file (a folder, a symlink, a pipe) takes the lock's name."""


@dataclass
class HeldLock:
    path: Path
    fd: int

    def __post_init__(self) -> None:
        # A holder dropped without release (a ClientFolder used outside a run, in a script
        # or a test) lets go when it is collected, as a holder that dies does.
        self._closer = weakref.finalize(self, os.close, self.fd)

    def release(self) -> None:
        """Remove the file (only while it is still ours), then let go of the flock."""
        try:
            if _same_file(self.fd, self.path):
                os.unlink(self.path)
        except OSError:
            pass  # the lock is released all the same when the descriptor closes
        self._closer()


def hold(path: Path, timeout_seconds: float, run_id: Optional[str] = None,
         on_wait: Optional[Callable[[str], None]] = None, timeout_setting: str = "the timeout") -> HeldLock:
    """Hold the lock at `path`, waiting at most `timeout_seconds` for another holder;
    HeldElsewhere naming that holder (and `timeout_setting`) when it does not let go in
    time. `on_wait` is told once who holds it, when the wait starts."""
    deadline = time.monotonic() + timeout_seconds
    told = False
    while True:
        fd = _open(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = describe(_read(fd))
            os.close(fd)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise HeldElsewhere(
                    f"{path} is held by {holder}; gave up after {timeout_seconds:g} s ({timeout_setting}). "
                    "If that run is stuck, terminate it in the UI; a holder that died lets go by itself"
                ) from None
            if on_wait is not None and not told:
                on_wait(holder)
                told = True
            time.sleep(min(POLL_SECONDS, remaining))
            continue
        # The last holder removes the file before letting go: the flock we got may be on a
        # file no longer at `path`, which the next process would not see. Then try again.
        if not _same_file(fd, path):
            os.close(fd)
            continue
        record = {"host": socket.gethostname(), "pid": os.getpid(), "run_id": run_id,
                  "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        return HeldLock(path, fd)


def describe(record: dict) -> str:
    """Who holds a lock, for a person: host, pid, Dagster run and since when."""
    if not record:
        return "a process that has not written its name yet"
    run = f"Dagster run {record['run_id']}" if record.get("run_id") else "no Dagster run"
    return f"host {record.get('host')} pid {record.get('pid')} ({run}) since {record.get('since')}"


def _open(path: Path) -> int:
    # O_NOFOLLOW: a symlink at the lock's name never sends the holder record elsewhere.
    # O_NONBLOCK: a pipe at that name never hangs the open.
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    except OSError as error:
        if error.errno in (errno.ENOTDIR, errno.EISDIR, errno.ELOOP):
            raise NotALockFile(f"{path} is a folder or a symbolic link, not a lock file; remove it") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise NotALockFile(f"{path} is not a regular file, not a lock file; remove it")
    return fd


def _read(fd: int) -> dict:
    try:
        record = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino)
