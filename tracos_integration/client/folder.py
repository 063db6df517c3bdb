"""Safe file handling for the client folders: reading inbound files without following
links or reading oversized files whole, moving them without overwriting, and writing
outbound files atomically."""

from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
import json
import os
import stat
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

from tracos_integration.client.batches import (
    FileErrors,
    FileIdentity,
    InboundBatch,
    InboundChunk,
    InboundFile,
)
from tracos_integration.core.timestamps import type_name

PROCESSED = "processed"
FAILED = "failed"
NAME_MAX = 255  # bytes in one file name on Linux file systems (ext4, xfs, btrfs, tmpfs)


class ClientFolderError(RuntimeError):
    """A client folder cannot be used at all (missing, not a folder, not writable)."""


class StillBeingWritten(Exception):
    """An unparseable file young enough that its writer may not have finished."""


def is_candidate_name(name: str) -> bool:
    """Top-level `*.json` files that are not hidden (temporary files start with '.')."""
    return name.endswith(".json") and not name.startswith(".")


def display_name(name: str) -> str:
    """A file name as reports, metadata and logs show it. os.scandir hands back bytes that
    are not UTF-8 as lone surrogates, which JSON and the run storage cannot hold; they are
    shown as backslash escapes of the raw bytes instead (b'caf\xe9.json' -> 'caf\\xe9.json')."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def size_on_disk(folder: str | Path, name: str) -> int:
    try:
        return os.lstat(os.path.join(folder, name)).st_size
    except OSError:
        return 0


def require_folder(path: Path, purpose: str, variable: str) -> Path:
    if not path.is_dir():
        raise ClientFolderError(
            f"the {purpose} folder {path} does not exist or is not a folder; create it or set {variable}"
        )
    return path


def list_inbound_folder(
    folder: Path, *, client_timezone: str, settle_seconds: float, max_file_bytes: int
) -> InboundBatch:
    """The top-level `*.json` files to read, in name order; symlinks are listed apart."""
    require_folder(folder, "inbound", "DATA_INBOUND_DIR")
    batch = InboundBatch(
        folder=str(folder), client_timezone=client_timezone, settle_seconds=settle_seconds,
        max_file_bytes=max_file_bytes,
    )
    with os.scandir(folder) as entries:
        for entry in entries:
            if not is_candidate_name(entry.name):
                continue
            if entry.is_symlink():
                batch.symlinks.append(entry.name)
            elif entry.is_file(follow_symlinks=False):
                batch.names.append(entry.name)
    batch.names.sort()
    batch.symlinks.sort()
    return batch


def read_inbound_chunk(batch: InboundBatch, names: list[str], now: Optional[float] = None) -> InboundChunk:
    """Read some of the batch's files. One bad file never stops the others."""
    now = time.time() if now is None else now
    chunk = InboundChunk()
    for name in names:
        try:
            records, identity = _read_records(
                os.path.join(batch.folder, name), batch.max_file_bytes, now - batch.settle_seconds
            )
            chunk.files.append(InboundFile(name=name, records=records, identity=identity))
        except StillBeingWritten:
            chunk.deferred.append(name)
        except _FileRejected as rejection:
            chunk.files.append(InboundFile(name=name, error=rejection.reason, identity=rejection.identity))
        except _NotAFile as reason:
            chunk.unreadable[name] = str(reason)
        except PermissionError as error:
            chunk.unreadable[name] = f"permission denied: {error.strerror or error}"
        except FileNotFoundError:
            continue  # taken by someone else meanwhile
    return chunk


def read_inbound_folder(
    folder: Path, *, client_timezone: str, settle_seconds: float, max_file_bytes: int, now: Optional[float] = None
) -> InboundChunk:
    """List and read every ready file at once (small folders, tests)."""
    batch = list_inbound_folder(
        folder, client_timezone=client_timezone, settle_seconds=settle_seconds, max_file_bytes=max_file_bytes
    )
    return read_inbound_chunk(batch, batch.names, now)


class _FileRejected(Exception):
    def __init__(self, reason: str, identity: Optional[FileIdentity] = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.identity = identity


class _NotAFile(Exception):
    """Replaced by a link or something else since listing: left alone."""


def _read_records(path: str, max_file_bytes: int, settled_before: float) -> tuple[list[Any], FileIdentity]:
    data, identity = _read_limited(path, max_file_bytes)
    try:
        return _parse_records(data, young=identity.mtime_ns / 1e9 > settled_before), identity
    except _FileRejected as rejection:
        raise _FileRejected(rejection.reason, identity) from None


def _parse_records(data: bytes, young: bool) -> list[Any]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        if young:
            raise StillBeingWritten from None
        raise _FileRejected(
            f"not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start}); save the file as UTF-8"
        ) from None
    try:
        document = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_reject_duplicate_keys)
    except json.JSONDecodeError as error:
        if young:
            raise StillBeingWritten from None
        raise _FileRejected(f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno}") from None
    except (ValueError, RecursionError) as error:
        if young:
            raise StillBeingWritten from None
        raise _FileRejected(f"not valid JSON: {_short(error)}") from None
    if isinstance(document, dict):
        return [document]
    if isinstance(document, list):
        return document
    raise _FileRejected(
        f"expected a work order object or an array of them, found {type_name(document)}"
    )


def _read_limited(path: str, max_file_bytes: int) -> tuple[bytes, FileIdentity]:
    """Read at most max_file_bytes; never follow a link or block on a FIFO. Returns the
    bytes and the identity of the file they came from."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise _NotAFile("is a symbolic link; links are not read") from None
        raise
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise _NotAFile("is not a regular file")
        identity = FileIdentity(inode=info.st_ino, size=info.st_size, mtime_ns=info.st_mtime_ns)
        if info.st_size > max_file_bytes:
            raise _FileRejected(
                f"file is {info.st_size} bytes, over the INBOUND_MAX_FILE_BYTES limit of {max_file_bytes}; "
                "split it into smaller files",
                identity,
            )
        parts, total = [], 0
        while total <= max_file_bytes:
            part = os.read(descriptor, max(info.st_size + 1 - total, 65536))
            if not part:
                break
            parts.append(part)
            total += len(part)
    finally:
        os.close(descriptor)
    if total > max_file_bytes:
        raise _FileRejected(
            f"file grew past the INBOUND_MAX_FILE_BYTES limit of {max_file_bytes} while being read", identity
        )
    return b"".join(parts), identity


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON number")


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {json.dumps(key)} in an object")
        result[key] = value
    return result


def _short(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    if isinstance(error, RecursionError):
        text = "nested too deeply"
    return text if len(text) <= 200 else text[:197] + "..."


@dataclass
class SettledFiles:
    processed: int = 0
    failed: list[str] = field(default_factory=list)  # names in failed/, as moved
    stayed: dict[str, str] = field(default_factory=dict)  # name -> why it was not moved
    unreported: dict[str, str] = field(default_factory=dict)  # moved to failed/, but its report could not be written


def settle_inbound_files(
    folder: Path,
    processed: list[str],
    failed: dict[str, FileErrors],
    read_as: Optional[dict[str, FileIdentity]] = None,
) -> SettledFiles:
    """Move every read file that is still what the run read; a file that changed since, or
    cannot be moved, stays with its reason. Both sub-folders are made ready before any file
    moves, so a folder that cannot be created moves nothing."""
    read_as = read_as or {}
    settled = SettledFiles()
    for subfolder, needed in ((PROCESSED, processed), (FAILED, failed)):
        if needed:
            ensure_subfolder(folder, subfolder)
    for name in processed:
        try:
            _move_if_unchanged(folder, name, read_as.get(name), PROCESSED)
            settled.processed += 1
        except _ChangedSinceRead as changed:
            settled.stayed[name] = str(changed)
        except OSError as error:
            settled.stayed[name] = describe_os_error(error)
    for name, errors in failed.items():
        try:
            destination = _move_if_unchanged(folder, name, read_as.get(name), FAILED, also_free=report_name)
        except _ChangedSinceRead as changed:
            settled.stayed[name] = str(changed)
            continue
        except OSError as error:
            settled.stayed[name] = describe_os_error(error)
            continue
        try:
            destination = _write_report(destination, name, errors)
        except OSError as error:
            settled.unreported[destination.name] = describe_os_error(error)
        settled.failed.append(destination.name)
    return settled


def ensure_subfolder(folder: Path, name: str) -> Path:
    """processed/ or failed/, created if missing; anything else at that name is a clear error."""
    path = folder / name
    if os.path.isdir(path):
        return path
    try:
        os.mkdir(path)
    except FileExistsError:
        if os.path.isdir(path):
            return path
        raise ClientFolderError(
            f"cannot create the folder {path}: a file with that name is in the way; move it elsewhere"
        ) from None
    except OSError as error:
        raise ClientFolderError(f"cannot create the folder {path}: {error.strerror or error}") from None
    return path


def describe_os_error(error: OSError) -> str:
    return f"{type(error).__name__}: {error.strerror or error}"


class _ChangedSinceRead(Exception):
    """The file at the name is no longer the one the run read."""


def _move_if_unchanged(
    folder: Path, name: str, identity: Optional[FileIdentity], subfolder: str,
    also_free: Optional[Callable[[str], str]] = None,
) -> Path:
    """Move the file only if it is still the one read. A file renamed over the name between
    the check and the move is caught by its inode after the move, and put back."""
    if (reason := _changed_since_read(folder / name, identity)) is not None:
        raise _ChangedSinceRead(reason)
    destination = move_without_overwrite(folder / name, folder / subfolder, also_free=also_free)
    if identity is not None and os.lstat(destination).st_ino != identity.inode:
        try:
            _rename_no_replace(str(destination), str(folder / name))
        except OSError:
            return destination  # yet another file took the name: keep both; this one is in subfolder
        raise _ChangedSinceRead(
            "replaced while this run moved it (inode differs); it stays for the next run to read"
        )
    return destination


def _changed_since_read(path: Path, identity: Optional[FileIdentity]) -> Optional[str]:
    """Why the file at `path` is no longer the one the run read, or None. A writer that
    replaces the file (rename over it) changes the inode; one that rewrites it in place
    changes the size or the modification time."""
    if identity is None:
        return None
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None  # the move reports it
    changed = [
        what for what, before, now in (
            ("inode", identity.inode, info.st_ino),
            ("size", identity.size, info.st_size),
            ("modification time", identity.mtime_ns, info.st_mtime_ns),
        ) if before != now
    ]
    if not changed:
        return None
    return f"changed after this run read it ({', '.join(changed)} differ); it stays for the next run to read"


def _write_report(destination: Path, name: str, errors: FileErrors) -> Path:
    """`<its name>.error.json` beside the failed file, never over an existing report: if one
    appeared meanwhile, the file moves on to a name whose report is free. Returns where the
    file ends."""
    report = {
        "file": display_name(name),
        "errors_total": errors.total,
        "errors": [{"index": e.index, "reason": e.reason} for e in errors.listed],
    }
    while True:
        try:
            write_new_json(destination.parent / report_name(destination.name), report)
            return destination
        except FileExistsError:
            destination = move_without_overwrite(destination, destination.parent, also_free=report_name)


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


def move_without_overwrite(
    source: str | Path, target_folder: str | Path, also_free: Optional[Callable[[str], str]] = None
) -> Path:
    """Rename under a free name: an existing file is never replaced (renameat2
    RENAME_NOREPLACE where the kernel has it, else link then unlink). With `also_free`, a
    name is taken only if the name `also_free(name)` (its report) is free too, so a report
    left by an earlier failure never stands beside a new file."""
    source, target_folder = str(source), str(target_folder)
    stem, suffix = _split_name(os.path.basename(source))
    for attempt in range(10_000):
        name = f"{stem}{suffix}" if attempt == 0 else fit_name(stem, f".{attempt}{suffix}")
        candidate = os.path.join(target_folder, name)
        if also_free is not None and os.path.lexists(os.path.join(target_folder, also_free(name))):
            continue
        try:
            _rename_no_replace(source, candidate)
        except FileExistsError:
            continue
        return Path(candidate)
    raise ClientFolderError(f"no free name for {display_name(os.path.basename(source))} in {target_folder}")


def _rename_no_replace(source: str, target: str) -> None:
    global _renameat2
    if _renameat2 is not None:
        result = _renameat2(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), _RENAME_NOREPLACE)
        if result == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
            raise OSError(code, os.strerror(code), source, None, target)  # EEXIST: FileExistsError
        _renameat2 = None  # this file system cannot: fall back for the rest of the process
    os.link(source, target, follow_symlinks=False)
    os.unlink(source)


def _load_renameat2():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_renameat2 = _load_renameat2()


def _split_name(name: str) -> tuple[str, str]:
    return (name[: -len(".json")], ".json") if name.endswith(".json") else (name, "")


def write_new_json(path: Path, document: Any) -> None:
    """Write a file that must not exist yet, complete or not at all."""
    temp = _write_temp(path.parent, path.name, document)
    try:
        os.link(temp, path)
    finally:
        os.unlink(temp)


def write_json_atomically(folder: Path, name: str, document: Any) -> Path:
    """Temp file in the same folder, fsync, os.replace: readers never see a partial file,
    and a link planted at the name is replaced, never written through."""
    temp = _write_temp(folder, name, document)
    target = folder / name
    try:
        os.replace(temp, target)
    except OSError as error:  # name the file the user knows, not the hidden temp file
        _unlink_quietly(temp)
        raise type(error)(error.errno, error.strerror, str(target)) from None
    except BaseException:
        _unlink_quietly(temp)
        raise
    return target


def blocked_names(folder: Path, names: Iterable[str]) -> dict[str, str]:
    """Names in `folder` that a file cannot take (os.replace cannot put a file over a folder,
    a FIFO or a socket), each with the reason. A regular file or a link is simply replaced."""
    blocked = {}
    for name in names:
        try:
            mode = os.lstat(folder / name).st_mode
        except OSError:
            continue
        where = f"{display_name(name)} in {folder}"
        if stat.S_ISDIR(mode):
            blocked[name] = f"{where} is a folder, so the file cannot be written; move the folder away"
        elif not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
            blocked[name] = f"{where} is not a regular file, so it cannot be replaced; move it away"
    return blocked


def sync_folder(folder: Path) -> None:
    """Make renames in `folder` durable."""
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _write_temp(folder: Path, name: str, document: Any) -> Path:
    # The writer's pid is in the name, so a later run can tell a crashed writer's leftovers.
    temp = folder / ("." + fit_name(name, f".{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp", NAME_MAX - 1))
    # backslashreplace: a lone surrogate cannot reach here (names go through display_name and
    # records are validated), but if one did, the file is still written, escaped.
    payload = (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8", "backslashreplace")
    descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        _unlink_quietly(temp)
        raise
    return temp


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def remove_stale_temp_files(folder: Path) -> list[str]:
    """Remove temp files left by a writer that crashed: its process is gone, or it is this
    process (called before this process starts writing, so none of its own is in progress)."""
    removed = []
    with os.scandir(folder) as entries:
        for entry in entries:
            pid = _temp_writer_pid(entry.name)
            if pid is None or (pid != os.getpid() and _process_alive(pid)):
                continue
            _unlink_quietly(Path(entry.path))
            removed.append(entry.name)
    return removed


def _temp_writer_pid(name: str) -> Optional[int]:
    parts = name.split(".")
    if not name.startswith(".") or len(parts) < 5 or parts[-1] != "tmp" or not parts[-3].isdigit():
        return None
    if len(parts[-2]) != 12 or any(char not in "0123456789abcdef" for char in parts[-2]):
        return None  # not the uuid part _write_temp writes: someone else's hidden file, never ours to delete
    return int(parts[-3])


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class FolderLock:
    """An exclusive lock on a client folder (flock on a file in the system temp folder,
    so the customer's folder gets nothing extra): one inbound run reads and moves its
    files at a time, even if two runs start together. The OS drops it if the process dies."""

    def __init__(self, folder: Path) -> None:
        key = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
        self.path = Path(tempfile.gettempdir()) / f"tracos-inbound-{key}.lock"
        self._handle: Any = None

    def acquire(self, on_wait=None) -> None:
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait:
                on_wait()
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def write_all_atomically(folder: Path, documents: Iterable[tuple[str, Any]]) -> list[str]:
    written = [write_json_atomically(folder, name, document).name for name, document in documents]
    if written:
        sync_folder(folder)
    return written
