"""Writing into the client folders safely: files appear complete or not at all, and a
file is never written over another one it was not meant to replace.

- Outbound files: a hidden temp file in the same folder, fsync, then `os.replace`.
- Moving inbound files to processed/ or failed/: one `renameat2(RENAME_NOREPLACE)` where
  Linux and the file system offer it, else `os.link` to the new name, then `os.unlink` of
  the old one. Both fail if the new name exists, so nothing is ever overwritten, even by a
  concurrent writer (both names are in one file system).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional

from tracos_integration.client.rename import rename_without_overwrite

NAME_MAX = 255  # bytes in one file name on Linux file systems (ext4, xfs, btrfs, tmpfs)
TEMP_SUFFIX = ".tmp"
_TEMP_NAME = re.compile(r"^\..+\.[0-9a-f]{12}\.tmp$", re.DOTALL)


class ClientFolderError(RuntimeError):
    """A client folder cannot be used at all (missing, not a folder, not writable)."""


def require_folder(path: Path, purpose: str, variable: str) -> Path:
    if not path.is_dir():
        raise ClientFolderError(
            f"the {purpose} folder {path} does not exist or is not a folder; create it or set {variable}"
        )
    return path


def ensure_subfolder(folder: Path, name: str) -> Path:
    """processed/ or failed/, created if missing; anything else at that name is a clear error."""
    path = folder / name
    if os.path.islink(path):  # followed, it would carry the customer's files anywhere
        raise ClientFolderError(f"{path} is a symbolic link; replace it with a real folder")
    if os.path.isdir(path):
        return path
    try:
        os.mkdir(path)
    except FileExistsError:
        if not os.path.isdir(path):
            raise ClientFolderError(
                f"cannot create the folder {path}: a file with that name is in the way; move it elsewhere"
            ) from None
    except OSError as error:
        raise ClientFolderError(f"cannot create the folder {path}: {error.strerror or error}") from None
    return path


def move_without_overwrite(
    source: str | Path, target_folder: str | Path, also_free: Optional[Callable[[str], str]] = None, *,
    folders: Optional[tuple[int, int]] = None,
) -> str:
    """Move `source` into `target_folder` under its name, or `<stem>.<n>.json` if taken. With
    `also_free`, a name is taken only if `also_free(name)` (its report) is free as well.
    Returns the path it took, as text (a Path per file costs more than the move). With
    `folders` (the source's and the target's folders, opened: a loop over many files), `source`
    is a name in the first and the returned name is in the second."""
    source_name = os.path.basename(source)
    source_at, target_at = folders or (None, None)
    def in_target(name: str) -> str:  # a name in the opened folder, else a path
        return name if folders else os.path.join(target_folder, name)

    for name in candidate_names(source_name):
        candidate = in_target(name)
        if also_free is not None and _lexists(in_target(also_free(name)), target_at):
            continue
        try:
            rename_without_overwrite(source, candidate, source_folder=source_at, target_folder=target_at)
        except FileExistsError:
            continue
        return candidate
    raise ClientFolderError(f"no free name for {source_name!r} in {target_folder}")


def _lexists(path: str, folder: Optional[int]) -> bool:
    try:
        os.stat(path, dir_fd=folder, follow_symlinks=False)
    except (OSError, ValueError):  # as os.path.lexists
        return False
    return True


def candidate_names(name: str) -> Iterator[str]:
    """The names a moved file may take, in order: its own, then `<stem>.<n>.json` (cut to fit).
    Pure, so every transport names clashes alike."""
    yield name
    stem, suffix = _split_name(name)  # split only when the name is taken
    for attempt in range(1, 10_000):
        yield fit_name(stem, f".{attempt}{suffix}")


def temp_name(name: str) -> str:
    """A hidden, unique temporary name for writing `name` (`.<name>.<12 hex>.tmp`, cut to fit)."""
    return "." + fit_name(name, f".{os.urandom(6).hex()}{TEMP_SUFFIX}", NAME_MAX - 1)


def is_temp_name(name: str) -> bool:
    return bool(_TEMP_NAME.match(name))


def report_name(failed_name: str) -> str:
    """`<name>.error.json`, or, where that would pass the file system's name limit, the name
    cut short plus a hash of the whole name (unique; the report's "file" keeps the full name)."""
    full = f"{failed_name}.error.json"
    if len(os.fsencode(full)) <= NAME_MAX:
        return full
    digest = hashlib.sha256(os.fsencode(failed_name)).hexdigest()[:16]
    return fit_name(failed_name, f"~{digest}.error.json")


def fit_name(stem: str, tail: str, limit: int = NAME_MAX) -> str:
    """stem + tail, with the stem cut (on a character boundary) so the name fits in `limit` bytes."""
    room = limit - len(os.fsencode(tail))
    encoded = os.fsencode(stem)
    if len(encoded) <= room:
        return stem + tail
    cut = encoded[:room]
    for trim in range(4):  # drop a partly cut UTF-8 character
        try:
            return cut[: len(cut) - trim].decode("utf-8") + tail
        except UnicodeDecodeError:
            continue
    return os.fsdecode(cut) + tail


def _split_name(name: str) -> tuple[str, str]:
    return (name[: -len(".json")], ".json") if name.endswith(".json") else (name, "")


def write_new_json(path: Path | str, document: Any, *, opened: Optional[int] = None) -> None:
    """Write a file that must not exist yet, complete or not at all (FileExistsError if it does).
    `opened`: the folder as an open descriptor, `path` a name in it."""
    temp = temp_name(os.path.basename(path))
    if opened is None:
        temp = os.path.join(os.path.dirname(path), temp)
    _write_temp(temp, json_bytes(document), opened)
    try:
        os.link(temp, path, src_dir_fd=opened, dst_dir_fd=opened, follow_symlinks=False)
    finally:
        os.unlink(temp, dir_fd=opened)


def write_json_atomically(folder: Path, name: str, document: Any) -> Path:
    return write_atomically(folder, name, json_bytes(document))


def write_atomically(folder: Path, name: str, payload: bytes, *, opened: Optional[int] = None) -> Path:
    """Readers never see a partial file, and a link planted at the name is replaced, never
    written through. `opened`: `folder` as an open descriptor, for a loop writing many files
    (names relative to it: no path joined or walked per file)."""
    temp = temp_name(name)
    if opened is None:
        temp, target = os.path.join(folder, temp), os.path.join(folder, name)
    else:
        target = name
    try:
        _write_temp(temp, payload, opened)
        os.replace(temp, target, src_dir_fd=opened, dst_dir_fd=opened)
    except OSError as error:  # name the file the user knows, in its folder, not the hidden temp file
        _unlink_quietly(temp, opened)
        raise type(error)(error.errno, error.strerror, os.path.join(folder, name)) from None
    except BaseException:
        _unlink_quietly(temp, opened)
        raise
    return Path(folder, name)


def taken_names(folder: Path, names: Iterable[str]) -> dict[str, str]:
    """Names in `folder` that a file cannot take (os.replace cannot put a file over a folder,
    a FIFO or a socket), each with the reason. A regular file or a link is simply replaced."""
    taken = {}
    for name in names:
        try:
            mode = os.lstat(os.path.join(folder, name)).st_mode
        except OSError:
            continue
        if stat.S_ISDIR(mode):
            taken[name] = f"{name} in {folder} is a folder, so the file cannot be written; move the folder away"
        elif not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
            taken[name] = f"{name} in {folder} is not a regular file, so it cannot be replaced; move it away"
    return taken


def open_folder(folder: str | Path) -> int:
    """`folder` as a descriptor, for a loop that names many files relative to it (no path
    joined or walked per file). The caller closes it."""
    return os.open(folder, os.O_RDONLY | os.O_DIRECTORY)


def sync_folder(folder: Path) -> None:
    """Make renames in `folder` durable."""
    descriptor = open_folder(folder)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def json_bytes(document: Any) -> bytes:
    """The one way the sync writes JSON: outbound files, error reports, sample files.
    backslashreplace: a lone surrogate cannot reach here (names go through shown_name and
    records are validated), but if one did, the file is still written, escaped."""
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8", "backslashreplace")


def _write_temp(temp: str, payload: bytes, opened: Optional[int] = None) -> None:
    """`payload` in a new file `temp` (in the folder `opened`, if given), on disk before it returns."""
    descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=opened)
    try:
        try:
            written = 0
            while written < len(payload):  # os.write may write less than asked
                written += os.write(descriptor, payload[written:] if written else payload)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
    except BaseException:
        _unlink_quietly(temp, opened)
        raise


def _unlink_quietly(path: str | Path, opened: Optional[int] = None) -> None:
    try:
        os.unlink(path, dir_fd=opened)
    except FileNotFoundError:
        pass


def remove_temp_files(folder: Path) -> list[str]:
    """Remove this project's temp files (`.<name>.<12 hex>.tmp`) from `folder`. Call it only
    while the run holds its customer's lease: every writer holds it, so any temp file found
    then was left by a writer that died."""
    removed = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if is_temp_name(entry.name):
                _unlink_quietly(Path(entry.path))
                removed.append(entry.name)
    return removed
