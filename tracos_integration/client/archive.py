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
    open_folder,
    report_name,
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
    # The folders opened once, names relative to them: a run moves up to 200,000 files, and
    # joining paths (and the kernel walking them) cost more than the renames themselves.
    # Every move, put-back and report goes through these descriptors: a sub-folder renamed or
    # replaced by a link mid-run never parts a failed file from its report.
    opened: dict[str, int] = {}
    try:
        for subfolder in needed:
            opened[subfolder] = open_folder(folder / subfolder)
        opened[""] = open_folder(folder)
        _archive_each(files, failed, {subfolder: folder / subfolder for subfolder in needed}, opened, archived)
        for subfolder in needed:
            try:
                os.fsync(opened[subfolder])  # the moves and reports, durable
            except OSError as error:  # done, maybe not durable: a move lost in a crash brings the file back
                archived.not_durable[str(folder / subfolder)] = f"{type(error).__name__}: {error.strerror or error}"
    finally:
        for descriptor in opened.values():
            os.close(descriptor)
    return archived


def _archive_each(files: dict[str, int], failed: dict[str, FileErrors], targets: dict[str, Path],
                  opened: dict[str, int], archived: Archived) -> None:
    for name, packed in files.items():
        errors = failed.get(name)
        target = FAILED if errors else PROCESSED
        try:
            taken = _move_if_unchanged(name, packed, (opened[""], opened[target]), targets[target],
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
        try:  # beside the file, in the folder it moved into, whatever happened to the path meanwhile
            taken = _write_report(taken, name, errors, opened[target], targets[target])
        except OSError as error:
            archived.unreported[taken] = f"{type(error).__name__}: {error.strerror or error}"
        archived.failed.append(taken)


class _ChangedSinceRead(Exception):
    """The file at the name is no longer the one the run read."""


def _move_if_unchanged(name: str, packed: int, folders: tuple[int, int], target: Path, failed: bool) -> str:
    """Move the file from the first of `folders` (opened) to the second (`target`), then check
    that what moved is the file the run read; if not, put it back, so it is left for the next
    run. One check after the move covers every way a file changes: a writer that replaces it
    (rename over it) changes the inode, one that rewrites it in place changes the size or the
    modification time. `packed`: the file's identity when read (FileIdentity.packed). Returns
    the name it took in `target`."""
    inbound_at, target_at = folders
    taken = move_without_overwrite(name, target, also_free=report_name if failed else None, folders=folders)
    info = os.stat(taken, dir_fd=target_at, follow_symlinks=False)
    if FileIdentity.pack(info.st_ino, info.st_size, info.st_mtime_ns) == packed:
        return taken
    identity = FileIdentity.unpacked(packed)
    changed = [
        what for what, before, now in (
            ("inode", identity.inode, info.st_ino),
            ("size", identity.size, info.st_size),
            ("modification time", identity.mtime_ns, info.st_mtime_ns),
        ) if before != now
    ]
    try:  # never over a file that took the name meanwhile
        rename_without_overwrite(taken, name, source_folder=target_at, target_folder=inbound_at)
    except OSError:
        return taken  # yet another file took the name: keep both; this one is in target
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


def _write_report(taken: str, name: str, errors: FileErrors, failed_at: int, failed: Path) -> str:
    """`<its name>.error.json` beside the failed file `taken` (a name in the opened folder
    `failed_at`), never over an existing report: if one appeared meanwhile, the file moves on
    to a name whose report is free. Returns the name the file ends with."""
    report = report_document(name, errors)
    while True:
        try:
            write_new_json(report_name(taken), report, opened=failed_at)
            return taken
        except FileExistsError:
            taken = move_without_overwrite(taken, failed, also_free=report_name, folders=(failed_at, failed_at))
