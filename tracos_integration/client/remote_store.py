"""What a remote folder's store (sftp_store.py, s3_store.py) hands to RemoteFolders (remote.py):
listing entries, and "changed since read" with its reason."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from tracos_integration.core.files import FileIdentity


@dataclass(frozen=True, slots=True)
class Entry:
    """One name in a folder listing: "file", "link" or "other" (folders are not listed)."""

    name: str
    kind: str
    size: int
    mtime_ns: int


class ChangedSinceRead(Exception):
    """The file at the name is no longer the one the run read."""


def changed_reason(what: Iterable[str]) -> str:
    return f"changed after this run read it ({', '.join(what)} differ); it stays for the next run to read"


def differences(before: FileIdentity, now: FileIdentity) -> list[str]:
    return [what for what, a, b in (("identity", before.inode, now.inode), ("size", before.size, now.size),
                                    ("modification time", before.mtime_ns, now.mtime_ns)) if a != b]
