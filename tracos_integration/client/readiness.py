"""Which inbound files are ready for a run: a cheap scan for the sensor (no file is opened)."""

from __future__ import annotations

import hashlib
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from tracos_integration.client.folder import is_candidate_name

QUIET_SECONDS = 2.0  # a file unchanged this long is taken to be fully written


@dataclass
class FolderScan:
    ready: list[tuple[str, int, int]] = field(default_factory=list)  # (name, mtime_ns, size)
    changing: int = 0

    @property
    def batch_id(self) -> str:
        """The same ready files (names, sizes, modification times) give the same id."""
        digest = hashlib.sha256()
        for name, mtime_ns, size in sorted(self.ready):
            digest.update(f"{name}\0{mtime_ns}\0{size}\n".encode("utf-8", "surrogateescape"))  # any file name
        return digest.hexdigest()[:24]


def scan_inbound_folder(folder: Path, quiet_seconds: float = QUIET_SECONDS, now: Optional[float] = None) -> FolderScan:
    """Top-level, non-hidden `*.json` regular files (not links) unchanged for `quiet_seconds`."""
    now_ns = int((time.time() if now is None else now) * 1e9)
    quiet_ns = int(quiet_seconds * 1e9)
    scan = FolderScan()
    with os.scandir(folder) as entries:
        for entry in entries:
            if not is_candidate_name(entry.name):
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if not stat.S_ISREG(info.st_mode):
                continue
            if now_ns - info.st_mtime_ns < quiet_ns:
                scan.changing += 1
            else:
                scan.ready.append((entry.name, info.st_mtime_ns, info.st_size))
    return scan
