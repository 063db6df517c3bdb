"""ClientFolder: the client side of the integration, as a Dagster resource.

It owns the customer's inbound and outbound folders: scanning (for the sensor), reading,
archiving (processed/, failed/ + report) and writing. Its configuration is the run's
(scope.py), bound by `bind`.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional

import dagster as dg
from pydantic import Field, PrivateAttr

from tracos_integration.client.archive import Archived, archive_files
from tracos_integration.client.formats import FORMATS, ClientFormat, format_for
from tracos_integration.client.reading import FileErrors, read_file, read_in_pages
from tracos_integration.client.scanning import PAGE_BYTES, FolderScan, scan_local_folder
from tracos_integration.client.writing import (
    ClientFolderError,
    open_folder,
    taken_names,
    remove_temp_files,
    require_folder,
    write_atomically,
)
from tracos_integration.core.files import Page, ReadFile
from tracos_integration.client.locations import RemoteFolderError, is_remote, parse_folder_url
from tracos_integration.scope import Scope, ScopeRefused, outside_run_scope
from tracos_integration.settings import SettingError, Settings


class ClientFolder(dg.ConfigurableResource):
    """The customer's folders. A field left unset takes the run's configuration (scope.py):
    DATA_INBOUND_DIR, DATA_OUTBOUND_DIR, CLIENT_TIMEZONE, INBOUND_SETTLE_SECONDS,
    INBOUND_MAX_FILE_BYTES, or the customer's entry in the customers file. A run for a
    customer gets its folders, zone and format here, in its run config."""

    inbound_dir: Optional[str] = Field(default=None, description="default $DATA_INBOUND_DIR or ./data/inbound")
    outbound_dir: Optional[str] = Field(default=None, description="default $DATA_OUTBOUND_DIR or ./data/outbound")
    client_timezone: Optional[str] = Field(default=None, description="default $CLIENT_TIMEZONE or UTC")
    settle_seconds: Optional[float] = Field(default=None, description="default $INBOUND_SETTLE_SECONDS or 10")
    max_file_bytes: Optional[int] = Field(default=None, description="default $INBOUND_MAX_FILE_BYTES or 16 MiB")
    file_format: Optional[str] = Field(default=None, description="The customer's file format (client/formats): "
                                                                "json (default) or csv")
    sftp_key_file: Optional[str] = Field(default=None, description="default $SFTP_KEY_FILE: the private key for "
                                                                  "sftp:// folders")

    _tidied: set = PrivateAttr(default_factory=set)  # folders this run has tidied (`hold`)
    _scope: Optional[Scope] = PrivateAttr(default=None)  # the run's (or the tick's) configuration, with these fields
    _run_id: Optional[str] = PrivateAttr(default=None)  # set inside a run, which holds its customer's lease
    _remote: Optional[Any] = PrivateAttr(default=None)  # RemoteFolders, for sftp:// and s3:// folders

    def bind(self, scope: Scope) -> "ClientFolder":
        """This resource with the run's (or a tick's) configuration under its own fields.
        It shares this resource's record of tidied folders, so the run tidies each once."""
        bound = ClientFolder(
            inbound_dir=self.inbound_dir, outbound_dir=self.outbound_dir, client_timezone=self.client_timezone,
            settle_seconds=self.settle_seconds, max_file_bytes=self.max_file_bytes, file_format=self.file_format,
            sftp_key_file=self.sftp_key_file,
        )
        bound._tidied, bound._run_id = self._tidied, self._run_id
        bound._scope = scope.with_values(
            inbound_dir=self.inbound_dir, outbound_dir=self.outbound_dir, client_timezone=self.client_timezone,
            inbound_settle_seconds=self.settle_seconds, inbound_max_file_bytes=self.max_file_bytes,
            file_format=self.file_format, sftp_key_file=self.sftp_key_file,
        )
        bound._scope.check_isolation()
        return bound

    @property
    def scope(self) -> Scope:
        """The configuration this resource works with (the environment's, outside a run)."""
        scope = self._scope
        if scope is None:
            scope = self._scope = self.bind(outside_run_scope())._scope
        return scope

    @property
    def format(self) -> ClientFormat:
        return format_for(self.scope.file_format)

    @property
    def remote(self) -> bool:
        """The folders are on an SFTP server or in S3 (client/remote.py), not local paths."""
        return is_remote(self.scope.inbound_dir) or is_remote(self.scope.outbound_dir)

    def side(self) -> Any:
        """The client side (ports.ClientSide) these folders are: this resource for local
        folders; RemoteFolders, connected on first use, for sftp:// and s3:// ones."""
        if not self.remote:
            return self
        if self._remote is None:
            from tracos_integration.client.remote import RemoteFolders  # paramiko and s3fs: only when used

            settings = self.settings()
            self._remote = RemoteFolders(
                settings.inbound_dir, settings.outbound_dir, file_format=self.scope.file_format,
                client_timezone=settings.client_timezone, settle_seconds=settings.inbound_settle_seconds,
                max_file_bytes=settings.inbound_max_file_bytes, sftp_key_file=settings.sftp_key_file or None,
                sftp_known_hosts=settings.sftp_known_hosts or None,
            )
        return self._remote

    def shown(self, which: str) -> str:
        """The folder as messages show it: a path, or a URL without its user name."""
        folder = self.scope.inbound_dir if which == "inbound" else self.scope.outbound_dir
        return parse_folder_url(folder).shown if is_remote(folder) else folder

    def settings(self) -> Settings:
        """The settings this resource works with; a folder used both ways is refused."""
        settings = self.scope.settings
        if self.remote:
            if is_remote(settings.inbound_dir) != is_remote(settings.outbound_dir):
                raise SettingError("the inbound and outbound folders must both be remote (sftp://, s3://) or both "
                                   "local paths")
            return settings  # RemoteFolders refuses one URL used both ways
        if Path(settings.inbound_dir).resolve() == Path(settings.outbound_dir).resolve():
            raise SettingError(
                f"DATA_INBOUND_DIR and DATA_OUTBOUND_DIR are the same folder ({settings.inbound_dir}): inbound would "
                "read the files outbound writes; give each its own folder"
            )
        return settings

    @property
    def inbound_path(self) -> Path:
        return Path(self.scope.inbound_dir)

    @property
    def outbound_path(self) -> Path:
        return Path(self.scope.outbound_dir)

    # -- exclusivity ---------------------------------------------------------------
    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._run_id = context.run_id

    def hold(self, which: str) -> Path:
        """The folder, as the run holds it. The lock is not here: a run holds its customer's lease
        in TracOS (MongoResource, tracos/lease.py) for its whole duration, so no other run of
        this customer, on any machine, works on these folders meanwhile. Once per run, the
        outbound folder loses the hidden temp files a crashed writer left: no live writer owns
        them. A missing folder: `require` reports it."""
        folder = self.inbound_path if which == "inbound" else self.outbound_path
        if self._run_id is not None and folder not in self._tidied and folder.is_dir():
            if which == "outbound":
                remove_temp_files(folder)
            self._tidied.add(folder)
        return folder

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self._tidied.clear()
        if self._remote is not None:
            self._remote.close()

    # -- inbound -------------------------------------------------------------------
    def scan(self, now: Optional[float] = None) -> FolderScan:
        """A cheap look for the sensor (no file is opened): settled means unchanged for
        INBOUND_SETTLE_SECONDS, the same meaning the run gives it."""
        settings = self.settings()
        folder = require_folder(Path(settings.inbound_dir), "inbound", self._setting("inbound"))
        return scan_local_folder(folder, self.format.suffix, self.reported_suffixes(),
                                 settings.inbound_settle_seconds, now)

    def list_inbound(self) -> tuple[list[str], list[str]]:
        """The inbound files to read, in name order, and the symlinks (never read)."""
        folder = require_folder(self.hold("inbound"), "inbound", self._setting("inbound"))
        names, symlinks, is_candidate = [], [], self.format.is_candidate
        with os.scandir(folder) as entries:
            for entry in entries:
                if not is_candidate(entry.name):
                    continue
                if entry.is_symlink():
                    symlinks.append(entry.name)
                elif entry.is_file(follow_symlinks=False):
                    names.append(entry.name)
        return sorted(names), sorted(symlinks)

    def reported_suffixes(self) -> tuple[str, ...]:
        """Every client format's suffix: a file this format does not read whose name ends in one,
        in any case (`a.json` in a CSV folder, `EXPORT.CSV`: suffixes are case-sensitive), is
        reported, never left silently."""
        return tuple(client_format.suffix for client_format in FORMATS.values())

    def list_other_formats(self) -> list[str]:
        """The top-level files of another client format (a `.json` in a CSV customer's
        folder): never read, reported by the run and the sensor, left in place."""
        folder = require_folder(self.hold("inbound"), "inbound", self._setting("inbound"))
        others, own = self.reported_suffixes(), self.format.suffix
        with os.scandir(folder) as entries:  # as `scan` sees them: not hidden, not a folder
            return sorted(entry.name for entry in entries
                          if not entry.name.endswith(own) and entry.name[0] != "."
                          and entry.name.lower().endswith(others) and not entry.is_dir(follow_symlinks=False))

    def read(self, names: list[str], files_per_page: int, now: Optional[float] = None) -> Iterator[Page]:
        """The files, read a page at a time: at most `files_per_page` files and (past the
        first file) PAGE_BYTES, so memory is bounded by bytes, not by the number of files."""
        settings, client_format = self.settings(), self.format
        settled_before = int(((time.time() if now is None else now) - settings.inbound_settle_seconds) * 1e9)
        path = self.hold("inbound")
        folder = open_folder(path)

        def read_one(name: str) -> ReadFile:
            try:
                return read_file(folder, name, settings.inbound_max_file_bytes, settled_before, client_format)
            except OSError as error:  # opened by name alone: the error names the file in its folder
                raise type(error)(error.errno, error.strerror, os.path.join(path, name)) from None

        try:
            yield from read_in_pages(names, read_one, files_per_page, PAGE_BYTES)
        finally:
            os.close(folder)

    def archive(self, files: dict[str, int], failed: dict[str, FileErrors]) -> Archived:
        """Move each read file to processed/ or failed/ (with its report), unless it changed
        since it was read (see client/archive.py)."""
        return archive_files(self.hold("inbound"), files, failed)

    # -- writing -------------------------------------------------------------------
    def require(self, which: str) -> Path:
        """The folder, locked; a clear error if it is missing."""
        return require_folder(self.hold(which), which, self._setting(which))

    def _setting(self, which: str) -> str:
        """Where the folder is set, for an error saying what to fix."""
        if self.scope.customer is not None:
            return f"its {which}_dir in the customers file (TRACOS_CUSTOMERS_FILE)"
        return "DATA_INBOUND_DIR" if which == "inbound" else "DATA_OUTBOUND_DIR"

    def taken_names(self, which: str, names: Iterable[str]) -> dict[str, str]:
        """Names in the folder that a file cannot take, with why (see writing.taken_names)."""
        return taken_names(self.require(which), names)

    def write_files(self, which: str, files: Iterable[tuple[str, bytes]]) -> list[str]:
        """Write files (already in the customer's format) atomically; then make the renames durable."""
        folder = self.require(which)
        opened = open_folder(folder)  # once: names relative to it
        try:
            written = []
            for name, payload in files:
                write_atomically(folder, name, payload, opened=opened)
                written.append(name)
            if written:
                try:
                    os.fsync(opened)  # the renames, durable
                except OSError as error:  # a descriptor names no folder: name it
                    raise type(error)(error.errno, error.strerror, str(folder)) from None
        finally:
            os.close(opened)
        return written

    def export_file(self, record: dict[str, Any], timezone: Optional[str] = None) -> tuple[str, bytes]:
        """The outbound file for a client record, in the customer's format and time zone (read
        from the settings unless given). ValueError when the format cannot write the record."""
        client_format, timezone = self.format, timezone or self.settings().client_timezone
        return client_format.file_name(record["orderNo"]), client_format.render(record, timezone)


@contextlib.contextmanager
def clear_failure(consequence: str) -> Iterator[None]:
    """A folder or setting that cannot be used fails the step with one readable line."""
    try:
        yield
    except (ClientFolderError, SettingError, ScopeRefused, RemoteFolderError) as error:
        raise dg.Failure(description=f"{error}. {consequence}") from None
    except OSError as error:
        where = f" ({error.filename})" if error.filename else ""
        raise dg.Failure(description=f"{type(error).__name__}: {error.strerror or error}{where}. {consequence}") from None

