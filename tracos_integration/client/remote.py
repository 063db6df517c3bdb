"""RemoteFolders: the customer's folders on an SFTP server or in S3, as one more
implementation of the client port (ports.ClientSide), beside the local ClientFolder.

The port's rules are kept once, here, over a small store per transport (sftp_store.py,
s3_store.py): name order, pages bounded by files and bytes, processed/ or failed/ with the
same report, name clashes suffixed (client/writing.py's names), nothing overwritten, every
call retried on a new connection within a budget (transports.RemoteRetry). How each store
keeps "unchanged since read" and "atomic" is in its own module.
"""

from __future__ import annotations

import posixpath
import time
from typing import Any, Callable, Iterable, Iterator, Optional

import dagster as dg

from tracos_integration.client.archive import FAILED, PROCESSED, report_document
from tracos_integration.client.scanning import PAGE_BYTES, SKEW_NS, FolderScan
from tracos_integration.client.formats import FORMATS, ClientFormat, format_for
from tracos_integration.client.reading import NotReadable, StillBeingWritten, read_in_pages
from tracos_integration.client.remote_store import ChangedSinceRead, Entry
from tracos_integration.client.s3_store import S3Store
from tracos_integration.client.sftp_store import SftpStore
from tracos_integration.client.transports import (
    FolderURL,
    RemoteFolderError,
    RemoteRetry,
    parse_folder_url,
    reason,
)
from tracos_integration.client.writing import ClientFolderError, candidate_names, json_bytes, report_name
from tracos_integration.core.files import Archived, FileErrors, FileIdentity, Page, ReadFile

DEFAULT_MAX_FILE_BYTES = 16 * 1024 * 1024
# The sensor's look retries briefly (as its MongoDB calls do, sensors.SENSOR_RETRY_BUDGET_SECONDS):
# a tick looks at every customer in turn, and the next tick tries again.
SCAN_RETRY_BUDGET_SECONDS = 5.0


class RemoteFolders:
    """The customer's inbound and outbound folders on SFTP or S3 (ports.ClientSide, plus `scan`
    for the sensor). Built from plain values; connects on first use."""

    def __init__(self, inbound: str, outbound: str, *, file_format: str = "json", client_timezone: str = "UTC",
                 settle_seconds: float = 10.0, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
                 sftp_key_file: Optional[str] = None, sftp_known_hosts: Optional[str] = None,
                 retry: Optional[RemoteRetry] = None, log: Optional[Callable[[str], None]] = None) -> None:
        self.urls = {"inbound": parse_folder_url(inbound, "the inbound folder"),
                     "outbound": parse_folder_url(outbound, "the outbound folder")}
        if self.urls["inbound"] == self.urls["outbound"]:
            raise RemoteFolderError(f"the inbound and outbound folders are the same ({self.urls['inbound'].shown}): "
                                    "inbound would read the files outbound writes; give each its own folder")
        if _nested(self.urls["inbound"], self.urls["outbound"]):
            # e.g. outbound in inbound's processed/: the client would take archived inbound files for exports
            raise RemoteFolderError(f"the inbound and outbound folders are nested ({self.urls['inbound'].shown}, "
                                    f"{self.urls['outbound'].shown}); give each its own folder, side by side")
        self._format = format_for(file_format)
        self.client_timezone, self.settle_seconds, self.max_file_bytes = client_timezone, settle_seconds, max_file_bytes
        self.stores = {which: self._store(url, sftp_key_file, sftp_known_hosts) for which, url in self.urls.items()}
        self.retry = retry or RemoteRetry(on_retry=log or _warn)
        self.scan_retry = retry or RemoteRetry(budget_seconds=SCAN_RETRY_BUDGET_SECONDS, on_retry=log or _warn)

    @staticmethod
    def _store(url: FolderURL, key_file: Optional[str], known_hosts: Optional[str]):
        return SftpStore(url, key_file, known_hosts) if url.scheme == "sftp" else S3Store(url)

    @property
    def format(self) -> ClientFormat:
        return self._format

    def close(self) -> None:
        for store in self.stores.values():
            store.close()

    def _call(self, which: str, operation: Callable[[], Any], what: str, retry: Optional[RemoteRetry] = None) -> Any:
        """One idempotent call on a folder's store, retried on a new connection; a folder that
        cannot be reached is one line naming the server, never the user name."""
        store, url = self.stores[which], self.urls[which]
        where = f"the {which} folder {url.shown}"
        try:
            return (retry or self.retry).call(operation, what, where, store.reconnect, scrub=self._scrub)
        except (RemoteFolderError, ClientFolderError, NotReadable, StillBeingWritten, ChangedSinceRead, FileExistsError,
                FileNotFoundError):
            raise
        except PermissionError as error:
            raise PermissionError(error.errno, self._scrub(f"permission denied in {where} ({error})")) from None
        except Exception as error:  # refused host key, refused login, ...: never retried
            raise RemoteFolderError(f"{where} cannot be used: {self._scrub(reason(error))}") from None

    def _scrub(self, text: str) -> str:
        for url in self.urls.values():
            if url.user:
                text = text.replace(f"{url.user}@", "")
        return text

    # -- inbound ---------------------------------------------------------------------------
    def scan(self, now: Optional[float] = None) -> FolderScan:
        """What the sensor sees, as ClientFolder.scan: settled files "name\\0mtime_ns\\0size".
        On S3 every object is settled (it is whole once it exists)."""
        now_ns = int((time.time() if now is None else now) * 1e9)
        settled_before = now_ns - int(self.settle_seconds * 1e9)
        suffix, others = self.format.suffix, tuple(f.suffix for f in FORMATS.values())
        s3 = self.urls["inbound"].scheme == "s3"

        def look() -> FolderScan:
            self.stores["inbound"].check_root()
            scan = FolderScan()
            for entry in self.stores["inbound"].entries():
                name = entry.name
                if name[0] == "." or not name.endswith(suffix):
                    if name[0] != "." and name.lower().endswith(others):
                        scan.other_format.append(posixpath.splitext(name)[1])
                    continue
                if entry.kind != "file":
                    continue
                if not s3 and settled_before < entry.mtime_ns <= now_ns + SKEW_NS:
                    scan.being_written += 1
                    continue
                scan.ready.append(f"{name}\0{entry.mtime_ns}\0{entry.size}")
                if scan.oldest_mtime_ns is None or entry.mtime_ns < scan.oldest_mtime_ns:
                    scan.oldest_mtime_ns = entry.mtime_ns
            return scan

        return self._call("inbound", look, "list the inbound folder", retry=self.scan_retry)

    def list_inbound(self) -> tuple[list[str], list[str]]:
        def look() -> tuple[list[str], list[str]]:
            self.stores["inbound"].check_root()
            names, links = [], []
            for entry in self.stores["inbound"].entries():
                if self.format.is_candidate(entry.name) and entry.kind in ("file", "link"):
                    (names if entry.kind == "file" else links).append(entry.name)
            return sorted(names), sorted(links)

        return self._call("inbound", look, "list the inbound folder")

    def list_other_formats(self) -> list[str]:
        others = tuple(f.suffix for f in FORMATS.values())
        return sorted(
            entry.name
            for entry in self._call("inbound", lambda: list(self._other_entries(others)), "list the inbound folder")
        )

    def _other_entries(self, others: tuple[str, ...]) -> Iterator[Entry]:
        for entry in self.stores["inbound"].entries():
            name = entry.name
            if name[0] != "." and name.lower().endswith(others) and not name.endswith(self.format.suffix):
                yield entry

    def read(self, names: list[str], files_per_page: int, now: Optional[float] = None) -> Iterator[Page]:
        """The files, a page at a time (at most `files_per_page` files and, past the first file,
        PAGE_BYTES). SFTP: a file younger than the settle time is looked at twice (before and
        after reading); if its size or time moved, or it does not parse yet, it is left for
        the next run. S3: an object is whole, so it is read as it is."""
        settled_before = int(((time.time() if now is None else now) - self.settle_seconds) * 1e9)
        s3 = self.urls["inbound"].scheme == "s3"
        yield from read_in_pages(
            names, lambda name: self._call("inbound", lambda: self._read_one(name, settled_before, s3), f"read {name}"),
            files_per_page, PAGE_BYTES,
        )

    def _read_one(self, name: str, settled_before: int, s3: bool) -> ReadFile:
        store = self.stores["inbound"]
        data, identity, error = store.read(name, self.max_file_bytes)
        if error:
            return ReadFile(name, identity, error=error)
        settling = not s3 and identity.mtime_ns > settled_before
        if settling and store.identity(name) != identity:  # the second look: still being written
            raise StillBeingWritten
        try:
            return ReadFile(name, identity, records=self.format.records(data, may_be_cut_off=settling))
        except ValueError as why:
            if settling:
                raise StillBeingWritten from None
            return ReadFile(name, identity, error=str(why))

    def archive(self, files: dict[str, int], failed: dict[str, FileErrors]) -> Archived:
        """Move each read file to processed/ or failed/ (with its report), unless it changed
        since it was read. The sub-folders are made ready first: one that cannot be made, or
        a server that cannot be reached, moves nothing."""
        archived = Archived()
        if files:  # reached before the first move (S3 has no sub-folders to make first)
            self._call("inbound", self.stores["inbound"].check_root, "open the inbound folder")
        needed = {FAILED if name in failed else PROCESSED for name in files}
        for sub in sorted(needed, reverse=True):
            self._call("inbound", lambda: self.stores["inbound"].ensure_folder(sub), f"create {sub}/")
        for name, packed in files.items():
            errors = failed.get(name)
            sub = FAILED if errors else PROCESSED
            try:
                destination = self._move(name, sub, FileIdentity.unpacked(packed), failed=bool(errors))
            except ChangedSinceRead as changed:
                archived.not_moved[name] = str(changed)
                continue
            except (OSError, ClientFolderError) as error:
                archived.not_moved[name] = self._scrub(_why(error))
                continue
            if not errors:
                archived.processed += 1
                continue
            try:
                destination = self._write_report(name, destination, errors)
            except OSError as error:
                archived.unreported[destination] = self._scrub(_why(error))
            archived.failed.append(destination)
        return archived

    def _move(self, name: str, sub: str, identity: FileIdentity, failed: bool) -> str:
        """Move to the first free name in `sub` (its report name free too, for failed/).
        A move whose answer was lost (the connection dropped) is found done on the retry."""
        store, tried = self.stores["inbound"], []

        def attempt() -> str:
            if tried and store.exists(tried[-1], sub):
                moved = store.identity(tried[-1], sub)
                if not store.exists(name):
                    if moved.size == identity.size:
                        return tried[-1]  # the lost answer's move
                elif moved.inode and (moved.inode, moved.size) == (identity.inode, identity.size):
                    # S3: the copy is done (same ETag), its delete was cut off: finish it, never copy twice
                    store.delete_if_unchanged(name, identity)
                    return tried[-1]
            for target in candidate_names(name):
                if failed and store.exists(report_name(target), sub):
                    continue
                tried.append(target)
                try:
                    store.move(name, sub, target, identity)
                    return target
                except FileExistsError:
                    continue
            raise ClientFolderError(f"no free name for {name!r} in {self.urls['inbound'].shown}/{sub}")

        return self._call("inbound", attempt, f"move {name} to {sub}/")

    def _write_report(self, name: str, destination: str, errors: FileErrors) -> str:
        """`<its name>.error.json` beside the failed file, never over an existing report: if
        one appeared meanwhile, the file moves on to a name whose report is free."""
        payload = json_bytes(report_document(name, errors))
        store = self.stores["inbound"]
        while True:
            try:
                self._call("inbound", lambda: store.write_new(FAILED, report_name(destination), payload),
                           f"write the report of {destination}")
                return destination
            except FileExistsError:
                current = destination
                destination = self._call(
                    "inbound", lambda: self._move_on(current), f"move {current} to a name whose report is free")

    def _move_on(self, name: str) -> str:
        store = self.stores["inbound"]
        for target in candidate_names(name):
            if target == name or store.exists(report_name(target), FAILED):
                continue
            try:
                store.rename_new(FAILED, name, target)
                return target
            except FileExistsError:
                continue
        raise ClientFolderError(f"no free name for {name!r} in {self.urls['inbound'].shown}/{FAILED}")

    # -- outbound --------------------------------------------------------------------------
    def require(self, which: str) -> str:
        """Fail at once, with what to fix, when the folder cannot be used; its URL as shown."""
        self._call(which, self.stores[which].check_root, f"open the {which} folder")
        return self.urls[which].shown

    def taken_names(self, which: str, names: Iterable[str]) -> dict[str, str]:
        names = list(names)
        return self._call(which, lambda: self.stores[which].taken_names(names), f"look at the {which} folder")

    def write_files(self, which: str, files: Iterable[tuple[str, bytes]]) -> list[str]:
        """Each file whole or not at all: SFTP, a hidden temporary file renamed over the name;
        S3, one PUT."""
        self.require(which)
        written = []
        for name, payload in files:
            self._call(which, lambda: self.stores[which].replace(name, payload), f"write {name}")
            written.append(name)
        return written

    def export_file(self, record: dict[str, Any], timezone: Optional[str] = None) -> tuple[str, bytes]:
        return self.format.file_name(record["orderNo"]), self.format.render(record, timezone or self.client_timezone)


def _warn(message: str) -> None:
    """A retry is never silent: a warning in the run's log (or the process's, outside a run)."""
    dg.get_dagster_logger().warning(message)


def _nested(first: FolderURL, second: FolderURL) -> bool:
    """One folder inside the other on the same server (or bucket), user names aside."""
    if (first.scheme, first.host, first.port or 22) != (second.scheme, second.host, second.port or 22):
        return False
    parts = [[part for part in url.path.split("/") if part] for url in (first, second)]
    shorter, longer = sorted(parts, key=len)
    return longer[:len(shorter)] == shorter


def _why(error: Exception) -> str:
    return f"{type(error).__name__}: {getattr(error, 'strerror', None) or error}"
