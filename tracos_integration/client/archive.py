"""Archiving read inbound files: processed/ when all their records were valid, failed/
with `<name>.error.json` otherwise (CONTRACT 5.5). Nothing is overwritten or deleted, and a
file that changed after the run read it is not moved."""

from __future__ import annotations

import os
from pathlib import Path

from tracos_integration.client.reading import FileErrors, FileIdentity, shown_name
from tracos_integration.client.rename import rename_without_overwrite
from tracos_integration.core.files import Archived
from tracos_integration.client.writing import (
    ensure_subfolder,
    move_without_overwrite,
    report_name,
    sync_folder,
    write_new_json,
)

PROCESSED = "processed"
FAILED = "failed"


def archive_files(folder: Path, files: dict[str, int], failed: dict[str, FileErrors]) -> Archived:
    """`files`: every file read, by name, with its identity when read (FileIdentity.packed);
    `failed`: the errors of those that go to failed/. Both sub-folders are made ready
    first, so one that cannot be created moves nothing."""
    archived = Archived()
    needed = {FAILED if name in failed else PROCESSED for name in files}
    for subfolder in sorted(needed, reverse=True):  # processed/, then failed/
        ensure_subfolder(folder, subfolder)
    # Paths as text in the loop: a run moves up to 200,000 files, and pathlib's joins cost more
    # than the rename itself.
    inbound, targets = os.fspath(folder), {PROCESSED: os.path.join(folder, PROCESSED), FAILED: os.path.join(folder, FAILED)}
    for name, packed in files.items():
        errors = failed.get(name)
        target = targets[FAILED if errors else PROCESSED]
        try:
            destination = _move_if_unchanged(os.path.join(inbound, name), FileIdentity.unpacked(packed), target,
                                             failed=bool(errors))
        except _ChangedSinceRead as changed:
            archived.not_moved[name] = str(changed)
            continue
        except OSError as error:
            archived.not_moved[name] = f"{type(error).__name__}: {error.strerror or error}"
            continue
        if not errors:
            archived.processed += 1
            continue
        destination = Path(destination)
        try:
            destination = _write_report(destination, name, errors)
        except OSError as error:
            archived.unreported[destination.name] = f"{type(error).__name__}: {error.strerror or error}"
        archived.failed.append(destination.name)
    for subfolder in (PROCESSED, FAILED):
        if (folder / subfolder).is_dir():
            sync_folder(folder / subfolder)
    return archived


class _ChangedSinceRead(Exception):
    """The file at the name is no longer the one the run read."""


def _move_if_unchanged(path: str, identity: FileIdentity, target: str, failed: bool) -> str:
    """Move the file, then check that what moved is the file the run read; if not, put it
    back, so it is left for the next run. One check after the move covers every way a file
    changes: a writer that replaces it (rename over it) changes the inode, one that
    rewrites it in place changes the size or the modification time."""
    destination = move_without_overwrite(path, target, also_free=report_name if failed else None)
    info = os.lstat(destination)
    changed = [
        what for what, before, now in (
            ("inode", identity.inode, info.st_ino),
            ("size", identity.size, info.st_size),
            ("modification time", identity.mtime_ns, info.st_mtime_ns),
        ) if before != now
    ]
    if not changed:
        return destination
    try:
        rename_without_overwrite(destination, path)  # never over a file that took the name meanwhile
    except OSError:
        return destination  # yet another file took the name: keep both; this one is in target
    raise _ChangedSinceRead(
        f"changed after this run read it ({', '.join(changed)} differ); left for the next run"
    )


def report_document(name: str, errors: FileErrors) -> dict:
    """The content of `<name>.error.json`, the same on every transport."""
    return {
        "file": shown_name(name),
        "errors_total": errors.total,
        "errors": [{"index": e.index, "reason": e.reason} for e in errors.listed],
    }


def _write_report(destination: Path, name: str, errors: FileErrors) -> Path:
    """`<its name>.error.json` beside the failed file, never over an existing report: if one
    appeared meanwhile, the file moves on to a name whose report is free. Returns where the
    file ends."""
    report = report_document(name, errors)
    while True:
        try:
            write_new_json(destination.parent / report_name(destination.name), report)
            return destination
        except FileExistsError:
            destination = Path(move_without_overwrite(destination, destination.parent, also_free=report_name))
