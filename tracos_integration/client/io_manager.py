"""ClientFolderIOManager: reads the inbound folder as a run's input, and writes what
runs produce into the client folders."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dagster as dg
from pydantic import Field, PrivateAttr

from tracos_integration.client.batches import ClientFiles, InboundBatch, InboundOutcome
from tracos_integration.client.folder import (
    ClientFolderError,
    FolderLock,
    blocked_names,
    display_name,
    list_inbound_folder,
    remove_stale_temp_files,
    require_folder,
    settle_inbound_files,
    write_all_atomically,
)
from tracos_integration.env import SettingError, number_from_env

DEFAULT_INBOUND_DIR = "./data/inbound"
DEFAULT_OUTBOUND_DIR = "./data/outbound"
DEFAULT_SETTLE_SECONDS = 10.0
DEFAULT_MAX_FILE_BYTES = 16 * 1024 * 1024


class ClientFolderIOManager(dg.ConfigurableIOManager):
    """The customer's folders. Unset fields are read from DATA_INBOUND_DIR,
    DATA_OUTBOUND_DIR, CLIENT_TIMEZONE, INBOUND_SETTLE_SECONDS and INBOUND_MAX_FILE_BYTES
    when used, so a run sees the environment it starts in."""

    inbound_dir: Optional[str] = Field(default=None, description="default $DATA_INBOUND_DIR or ./data/inbound")
    outbound_dir: Optional[str] = Field(default=None, description="default $DATA_OUTBOUND_DIR or ./data/outbound")
    client_timezone: Optional[str] = Field(default=None, description="default $CLIENT_TIMEZONE or UTC")
    settle_seconds: Optional[float] = Field(default=None, description="default $INBOUND_SETTLE_SECONDS or 10")
    max_file_bytes: Optional[int] = Field(default=None, description="default $INBOUND_MAX_FILE_BYTES or 16 MiB")

    _inbound_lock: Optional[FolderLock] = PrivateAttr(default=None)
    _cleaned_folders: set = PrivateAttr(default_factory=set)

    @property
    def inbound_path(self) -> Path:
        return Path(self.inbound_dir or os.environ.get("DATA_INBOUND_DIR") or DEFAULT_INBOUND_DIR)

    @property
    def outbound_path(self) -> Path:
        return Path(self.outbound_dir or os.environ.get("DATA_OUTBOUND_DIR") or DEFAULT_OUTBOUND_DIR)

    @property
    def resolved_timezone(self) -> str:
        name = self.client_timezone or os.environ.get("CLIENT_TIMEZONE") or "UTC"
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ClientFolderError(
                f"CLIENT_TIMEZONE {name!r} is not an IANA time zone; use a name such as UTC or America/Sao_Paulo"
            ) from None
        return name

    @property
    def resolved_settle_seconds(self) -> float:
        if self.settle_seconds is not None:
            return self.settle_seconds
        return number_from_env("INBOUND_SETTLE_SECONDS", DEFAULT_SETTLE_SECONDS, float, minimum=0.0)

    @property
    def resolved_max_file_bytes(self) -> int:
        if self.max_file_bytes is not None:
            return self.max_file_bytes
        return number_from_env("INBOUND_MAX_FILE_BYTES", DEFAULT_MAX_FILE_BYTES, int, minimum=1)

    def blocked_outbound_names(self, names: Iterable[str]) -> dict[str, str]:
        """Outbound file names something else holds (a folder named `3.json`), with the reason:
        their documents are left out of the batch and stay unsynced. A missing outbound folder
        is reported by the write itself."""
        if not self.outbound_path.is_dir():
            return {}
        return blocked_names(self.outbound_path, names)

    def load_input(self, context: dg.InputContext) -> InboundBatch:
        with _clear_failure("No inbound file was read or moved."):
            self._lock_inbound(context)
            batch = list_inbound_folder(
                self.inbound_path,
                client_timezone=self.resolved_timezone,
                settle_seconds=self.resolved_settle_seconds,
                max_file_bytes=self.resolved_max_file_bytes,
            )
        for name in batch.symlinks:
            context.log.warning(
                f"inbound/{display_name(name)} is a symbolic link; links are not read, so it was left in place"
            )
        context.log.info(f"{len(batch.names)} inbound file(s) to read in {batch.folder}")
        return batch

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if isinstance(obj, InboundOutcome):
            self._settle_inbound(context, obj)
        elif isinstance(obj, ClientFiles):
            self._write_files(context, obj)
        elif obj is not None:
            raise TypeError(f"ClientFolderIOManager cannot store {type(obj).__name__}")

    def _lock_inbound(self, context: dg.InputContext) -> None:
        """Held from reading the folder until its files are moved (or the run ends)."""
        if self._inbound_lock is not None:
            return
        lock = FolderLock(self.inbound_path)
        lock.acquire(on_wait=lambda: context.log.info("another inbound run is reading this folder; waiting for it"))
        self._inbound_lock = lock

    def _release_inbound(self) -> None:
        if self._inbound_lock is not None:
            self._inbound_lock.release()
            self._inbound_lock = None

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self._release_inbound()  # a failed run never reaches handle_output

    def _settle_inbound(self, context: dg.OutputContext, outcome: InboundOutcome) -> None:
        try:
            self._move_inbound(context, outcome)
        finally:
            self._release_inbound()

    def _move_inbound(self, context: dg.OutputContext, outcome: InboundOutcome) -> None:
        if outcome.dry_run:
            context.add_output_metadata({"dry_run": True, "files_moved": 0})
            return
        folder = self.inbound_path
        with _clear_failure("No inbound file was moved; the next run reads them again and finds them applied."):
            settled = settle_inbound_files(folder, outcome.processed, outcome.failed, outcome.read_as)
        stayed = {display_name(name): reason for name, reason in settled.stayed.items()}
        for name, reason in stayed.items():
            context.log.warning(f"inbound/{name} was not moved: {reason}")
        unreported = {f"failed/{display_name(name)}": reason for name, reason in settled.unreported.items()}
        for name, reason in unreported.items():
            context.log.warning(f"{name} was moved, but its error report could not be written ({reason})")
        failed = [f"failed/{display_name(name)}" for name in settled.failed]
        context.add_output_metadata({
            "files_processed": settled.processed,
            "files_failed": len(failed),
            "files_not_moved": len(stayed),
            "failed_files": dg.MetadataValue.json(failed[:200]),
            "not_moved_files": dg.MetadataValue.json(dict(list(stayed.items())[:200])),
            "reports_not_written": dg.MetadataValue.json(dict(list(unreported.items())[:200])),
            "inbound_folder": dg.MetadataValue.path(str(folder)),
        })

    def _write_files(self, context: dg.OutputContext, files: ClientFiles) -> None:
        with _clear_failure("Nothing in this batch was marked synced."):
            if files.folder == "outbound":
                folder = require_folder(self.outbound_path, "outbound", "DATA_OUTBOUND_DIR")
            else:
                folder = require_folder(self.inbound_path, "inbound", "DATA_INBOUND_DIR")
            if folder not in self._cleaned_folders:
                for name in remove_stale_temp_files(folder):
                    context.log.info(f"removed {name}, a temp file left by an interrupted write")
                self._cleaned_folders.add(folder)
            written = write_all_atomically(folder, files.documents.items())
        context.add_output_metadata({
            "files_written": len(written),
            "folder": dg.MetadataValue.path(str(folder)),
        })


@contextlib.contextmanager
def _clear_failure(consequence: str) -> Iterator[None]:
    """A folder that cannot be used fails the step with one readable line, no stack trace."""
    try:
        yield
    except (ClientFolderError, SettingError) as error:
        raise dg.Failure(description=f"{error}. {consequence}") from None
    except OSError as error:
        where = f" ({error.filename})" if error.filename else ""
        raise dg.Failure(
            description=f"{type(error).__name__}: {error.strerror or error}{where}. {consequence}"
        ) from None

