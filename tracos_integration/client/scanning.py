"""What the inbound folder's look (the sensor's `scan`) finds, on every transport, and the
limits a look and a read share (client/folder.py, client/remote.py)."""

from __future__ import annotations

import hashlib
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from tracos_integration.client.writing import open_folder

if TYPE_CHECKING:
    from tracos_integration.client.formats import ClientFormat

# A modification time further ahead than this is a writer's clock running ahead, not a file
# being written: waiting for this machine's clock to reach it could take forever. The run
# still leaves a file that does not parse yet in place (CONTRACT 5.6).
SKEW_NS = 60 * 1_000_000_000
PAGE_BYTES = 16 * 1024 * 1024  # a page takes no more files once it holds this many bytes (CONTRACT 5.8)


@dataclass
class FolderScan:
    """What the sensor sees: the settled files ("name\0mtime_ns\0size" each) and how many
    files may still be being written (younger than the settle time)."""

    ready: list[str] = field(default_factory=list)
    being_written: int = 0
    oldest_mtime_ns: Optional[int] = None  # of the settled files: how long the oldest has waited
    other_format: list[str] = field(default_factory=list)  # the suffixes of files of another format, one per file

    def other_format_note(self, client_format: ClientFormat) -> str:
        """What the skip reason adds about files of another format, never read ("" when none)."""
        if not self.other_format:
            return ""
        suffixes = ", ".join(f"*{suffix}" for suffix in sorted(set(self.other_format)))
        return (f"; {len(self.other_format)} file(s) of another format ({suffixes}) are not read: this customer's "
                f"format is {client_format.name} (*{client_format.suffix}, case-sensitive); convert or rename them, or "
                "move them to the right customer's folder")

    def oldest_wait_seconds(self, now: Optional[float] = None) -> Optional[float]:
        """How long the oldest settled file has waited; None when none waits."""
        if self.oldest_mtime_ns is None:
            return None
        return (time.time() if now is None else now) - self.oldest_mtime_ns / 1e9

    @property
    def fingerprint(self) -> str:
        """The same settled files (names, sizes, modification times) give the same value.
        One hash over one joined string: a tick on 100,000 files stays near a bare scandir."""
        self.ready.sort()
        return hashlib.sha256("\n".join(self.ready).encode("utf-8", "surrogateescape")).hexdigest()[:24]


def scan_local_folder(folder: Path, suffix: str, reported_suffixes: tuple[str, ...], settle_seconds: float,
                      now: Optional[float] = None) -> FolderScan:
    """The sensor's look at a local folder (no file is opened): a file of `suffix` is settled
    when unchanged for `settle_seconds`; one ending in another of `reported_suffixes` is
    counted as another format's."""
    now_ns = int((time.time() if now is None else now) * 1e9)
    settled_before, ahead = now_ns - int(settle_seconds * 1e9), now_ns + SKEW_NS
    scan = FolderScan()
    # The hot loop (100,000 files a tick): names bound once, the format's test and
    # stat.S_ISREG inlined, and each stat relative to the folder's descriptor (no path
    # walked per file).
    add, being_written, oldest = scan.ready.append, 0, None
    file_type, regular = 0o170000, stat.S_IFREG  # stat.S_IFMT's mask: S_ISREG without a call
    opened = open_folder(folder)
    try:
        with os.scandir(opened) as entries:
            for entry in entries:
                name = entry.name
                if not name.endswith(suffix) or name[0] == ".":
                    # A file of another format, as the run lists them (a folder is none)
                    if (name[0] != "." and name.lower().endswith(reported_suffixes)
                            and not entry.is_dir(follow_symlinks=False)):
                        scan.other_format.append(os.path.splitext(name)[1])
                    continue
                try:
                    info = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if info.st_mode & file_type != regular:
                    continue
                mtime = info.st_mtime_ns
                if settled_before < mtime <= ahead:
                    being_written += 1
                else:  # settled, or stamped "in the future" by a writer whose clock runs ahead
                    add(f"{name}\0{mtime}\0{info.st_size}")
                    if oldest is None or mtime < oldest:
                        oldest = mtime
    finally:
        os.close(opened)
    scan.being_written, scan.oldest_mtime_ns = being_written, oldest
    return scan
