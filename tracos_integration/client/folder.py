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
from typing import Any, Iterable, Optional

from tracos_integration.client.batches import FileError, InboundBatch, InboundChunk, InboundFile

PROCESSED = "processed"
FAILED = "failed"


class ClientFolderError(RuntimeError):
    """A client folder cannot be used at all (missing, not a folder, not writable)."""


class StillBeingWritten(Exception):
    """An unparseable file young enough that its writer may not have finished."""


def is_candidate_name(name: str) -> bool:
    """Top-level `*.json` files that are not hidden (temporary files start with '.')."""
    return name.endswith(".json") and not name.startswith(".")


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
            records = _read_records(os.path.join(batch.folder, name), batch.max_file_bytes, now - batch.settle_seconds)
            chunk.files.append(InboundFile(name=name, records=records))
        except StillBeingWritten:
            chunk.deferred.append(name)
        except _FileRejected as rejection:
            chunk.files.append(InboundFile(name=name, error=str(rejection)))
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
    pass


class _NotAFile(Exception):
    """Replaced by a link or something else since listing: left alone."""


def _read_records(path: str, max_file_bytes: int, settled_before: float) -> list[Any]:
    data, modified = _read_limited(path, max_file_bytes)
    young = modified > settled_before
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
        f"expected a work order object or an array of them, found {type(document).__name__}"
    )


def _read_limited(path: str, max_file_bytes: int) -> tuple[bytes, float]:
    """Read at most max_file_bytes; never follow a link or block on a FIFO. Returns the
    bytes and the modification time."""
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
        if info.st_size > max_file_bytes:
            raise _FileRejected(
                f"file is {info.st_size} bytes, over the INBOUND_MAX_FILE_BYTES limit of {max_file_bytes}; "
                "split it into smaller files"
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
        raise _FileRejected(f"file grew past the INBOUND_MAX_FILE_BYTES limit of {max_file_bytes} while being read")
    return b"".join(parts), info.st_mtime


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON number")


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r} in an object")
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
    stayed: dict[str, OSError] = field(default_factory=dict)  # could not be moved


def settle_inbound_files(folder: Path, processed: list[str], failed: dict[str, list[FileError]]) -> SettledFiles:
    """Move every read file; a file that cannot be moved stays, with its error."""
    settled = SettledFiles()
    if processed:
        (folder / PROCESSED).mkdir(exist_ok=True)
    for name in processed:
        try:
            _settle_one(folder, name, [])
            settled.processed += 1
        except OSError as error:
            settled.stayed[name] = error
    if failed:
        (folder / FAILED).mkdir(exist_ok=True)
    for name, errors in failed.items():
        try:
            settled.failed.append(_settle_one(folder, name, errors).name)
        except OSError as error:
            settled.stayed[name] = error
    return settled


def _settle_one(folder: Path, name: str, errors: list[FileError]) -> Path:
    """Move a read file to processed/ or failed/ (never overwriting); beside a failed
    file, write `<its name>.error.json` with every reason."""
    target_folder = folder / (FAILED if errors else PROCESSED)
    destination = Path(move_without_overwrite(os.path.join(folder, name), str(target_folder)))
    if errors:
        report = {"file": name, "errors": [{"index": e.index, "reason": e.reason} for e in errors]}
        write_new_json(target_folder / f"{destination.name}.error.json", report)
    return destination


def move_without_overwrite(source: str | Path, target_folder: str | Path) -> Path:
    """Rename under a free name: an existing file is never replaced (renameat2
    RENAME_NOREPLACE where the kernel has it, else link then unlink)."""
    source, target_folder = str(source), str(target_folder)
    stem, suffix = _split_name(os.path.basename(source))
    for attempt in range(10_000):
        candidate = os.path.join(target_folder, f"{stem}{suffix}" if attempt == 0 else f"{stem}.{attempt}{suffix}")
        try:
            _rename_no_replace(source, candidate)
        except FileExistsError:
            continue
        return Path(candidate)
    raise ClientFolderError(f"no free name for {os.path.basename(source)} in {target_folder}")


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
    except BaseException:
        _unlink_quietly(temp)
        raise
    return target


def sync_folder(folder: Path) -> None:
    """Make renames in `folder` durable."""
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _write_temp(folder: Path, name: str, document: Any) -> Path:
    # The writer's pid is in the name, so a later run can tell a crashed writer's leftovers.
    temp = folder / f".{name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp"
    payload = (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
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
