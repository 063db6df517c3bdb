"""The configuration seam: what a run, or a sensor tick, works with, read once.

`settings.py` is the only reader of the environment, and this module the only caller of it
for the sync (the alert sensors read their own two settings, CONTRACT 10). A run resolves its
`Scope` when it starts (`run_scope`, once per run): the settings, and on a customers
deployment (TRACOS_CUSTOMERS_FILE) its customer's entry. The entry comes from the run's
config, where the sensors, the schedule and the launchpad's partition put it (so the run
page shows what the run used), or else from the customers file, read once. Every step and
resource of the run uses that one object, so an edit of the file never splits a run between
two versions of a customer. A sensor tick reads its own `TickScope` once per tick.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Optional

import dagster as dg

from tracos_integration.client.locations import is_remote
from tracos_integration.customers import CUSTOMERS_FILE_VARIABLE, Customer, CustomersFileError, check_isolation
from tracos_integration.customers import load_customers
from tracos_integration.core.names import namespace_problem
from tracos_integration.settings import VARIABLES, SettingError, Settings

PARTITION_TAG = "dagster/partition"
SHOWN_CUSTOMERS = 10
NOTHING_DONE = "Nothing was read or written."


class ScopeRefused(ValueError):
    """The run cannot have a scope: it names no customer, or its config reaches another
    customer's folders or collection. The message says what to do."""


@dataclass(frozen=True)
class Scope:
    """One run's (or one tick's, for one customer) configuration: the settings with its
    customer's folders, zone, database and collection applied, and its file format."""

    settings: Settings
    file_format: str = "json"
    customer: Optional[str] = None  # the slug; None: the one customer of the environment
    others: Mapping[str, Customer] = field(default_factory=dict)  # the other customers, as the file had them

    @property
    def inbound_dir(self) -> str:
        return self.settings.inbound_dir

    @property
    def outbound_dir(self) -> str:
        return self.settings.outbound_dir

    def with_values(self, **values: Any) -> "Scope":
        """This scope with explicit values on top (a resource's own fields: run config, or a
        resource built by hand); `None` values are ignored. Setting names, plus `file_format`."""
        values = {key: value for key, value in values.items() if value is not None}
        file_format = values.pop("file_format", self.file_format)
        for key, value in values.items():  # run config is a setting too: checked as its variable is
            _check_value(key, value)
        if self.customer is not None:
            # A customer's folders as the customers file reads them (`~`, then `..` before links):
            # the run works in the very folder check_isolation compared, never a link's `..` beyond it.
            for key in ("inbound_dir", "outbound_dir"):
                if key in values and not is_remote(values[key]):
                    values[key] = os.path.abspath(os.path.expanduser(str(values[key])))
        return replace(self, settings=self.settings.model_copy(update=values), file_format=file_format)

    def entry(self) -> Customer:
        """The scope as a customers-file entry (folders resolved as the file's are)."""
        return Customer(
            inbound_dir=self.settings.inbound_dir, outbound_dir=self.settings.outbound_dir,
            timezone=self.settings.client_timezone, format=self.file_format,
            database=self.settings.mongo_database, collection=self.settings.mongo_collection,
            sftp_key_file=self.settings.sftp_key_file or None,
        )

    def check_isolation(self) -> None:
        """ScopeRefused unless this scope keeps to its own folders and collection, beside the
        other customers as the file had them when the run started. Checked at every step,
        resolving links as they are then: a folder swapped for a link into another customer's
        folder mid-run stops the run before the step touches anything."""
        if self.customer is None:
            return
        try:  # also with no other customer: the config must still be a valid entry of its own
            entry = self.entry()
            problem = namespace_problem(entry.database, entry.collection)
            if problem:
                raise ValueError(f"{problem}; choose shorter names")
        except ValueError as error:
            raise ScopeRefused(f"customer {self.customer!r}: this run's config is not a customer's entry "
                               f"({str(error).splitlines()[0]}). {NOTHING_DONE}") from None
        try:
            for other, other_entry in self.others.items():  # pairs with this run's customer only
                check_isolation({other: other_entry, self.customer: entry}, where="this run's config")
        except CustomersFileError as error:
            raise ScopeRefused(
                f"{error}. The run's config for customer {self.customer!r} would reach another customer's folders "
                f"or collection, so it is refused; launch it again from its partition. {NOTHING_DONE}"
            ) from None


def customer_scope(settings: Settings, slug: str, entry: Customer,
                   others: Optional[Mapping[str, Customer]] = None) -> Scope:
    """The scope of customer `slug`, its entry applied to the settings."""
    return Scope(
        settings=settings.model_copy(update={
            "inbound_dir": str(entry.inbound_dir), "outbound_dir": str(entry.outbound_dir),
            "client_timezone": entry.timezone, "mongo_database": entry.database,
            "mongo_collection": entry.collection,
            **({"sftp_key_file": entry.sftp_key_file} if entry.sftp_key_file else {}),
        }),
        file_format=entry.format, customer=slug,
        others={other: value for other, value in (others or {}).items() if other != slug},
    )


def customer_run_config(entry: Customer) -> dict[str, Any]:
    """A customer's entry as run config: what a run for it is given, and its page shows."""
    return {"resources": {
        "client_folder": {"config": {
            "inbound_dir": str(entry.inbound_dir), "outbound_dir": str(entry.outbound_dir),
            "client_timezone": entry.timezone, "file_format": entry.format,
            **({"sftp_key_file": entry.sftp_key_file} if entry.sftp_key_file else {}),
        }},
        "mongo": {"config": {"database": entry.database, "collection": entry.collection}},
    }}


def read_customers(settings: Settings, *, isolated: bool = True) -> Optional[dict[str, Customer]]:
    """The customers of the file TRACOS_CUSTOMERS_FILE names; None without one."""
    path = settings.customers_file
    return load_customers(path, isolated=isolated) if path else None


# -- runs -------------------------------------------------------------------------------
_RUN_SCOPES: dict[str, Scope] = {}
_RUN_SCOPES_LOCK = threading.Lock()
_KEPT_RUN_SCOPES = 64  # a process that runs many runs (tests, execute_in_process) keeps only the latest


def run_scope(run: dg.DagsterRun) -> Scope:
    """The scope of `run`, resolved the first time it is asked for and kept for the run's
    other steps and resources. Raises ScopeRefused (a run that names no customer on a
    customers deployment; a customer no longer in the file) and SettingError."""
    with _RUN_SCOPES_LOCK:
        if run.run_id in _RUN_SCOPES:
            return _RUN_SCOPES[run.run_id]
    scope = _resolve(run)
    with _RUN_SCOPES_LOCK:
        while len(_RUN_SCOPES) >= _KEPT_RUN_SCOPES:
            _RUN_SCOPES.pop(next(iter(_RUN_SCOPES)))
        return _RUN_SCOPES.setdefault(run.run_id, scope)


def _resolve(run: dg.DagsterRun) -> Scope:
    settings = Settings.from_env()
    slug = run.tags.get(PARTITION_TAG)
    try:
        # Not isolated: the others as written, so a crossing the file itself now has is caught too.
        customers = read_customers(settings, isolated=False)
    except CustomersFileError as error:
        if slug is None and not settings.customers_file:
            raise
        raise ScopeRefused(f"{error}. {NOTHING_DONE}") from None
    given = _run_config_values(run)
    if customers is None:  # the resources apply their config on bind; checked here, before any step
        return Scope(settings=settings).with_values(**given)
    if slug is None:
        raise ScopeRefused(_names_no_customer(customers))
    others = {other: entry for other, entry in customers.items() if other != slug}
    if given and (slug in customers or set(ENTRY_VALUES) <= set(given)):
        # The run carries its entry (sensor, schedule, launchpad): that is its snapshot. A customer
        # no longer in the file is served only from a whole entry, never from the environment's folders.
        base = customers.get(slug)
        scope = customer_scope(settings, slug, base, others) if base else Scope(settings, customer=slug, others=others)
        return scope.with_values(**given)
    if slug not in customers:
        raise ScopeRefused(
            f"customer {slug!r} is not in the customers file ({CUSTOMERS_FILE_VARIABLE}) (any more?); "
            f"reload the definitions and pick one of its partitions. {NOTHING_DONE}"
        )
    return customer_scope(settings, slug, customers[slug], others)


# A setting's name as the resources' config spells it, for messages.
CONFIG_NAMES = {"inbound_settle_seconds": "settle_seconds", "inbound_max_file_bytes": "max_file_bytes"}
CHECKED_VALUES = ("inbound_dir", "outbound_dir", "client_timezone", "inbound_settle_seconds", "inbound_max_file_bytes")
ENTRY_VALUES = ("inbound_dir", "outbound_dir", "client_timezone", "file_format", "mongo_database", "mongo_collection")


def _check_value(key: str, value: Any) -> None:
    """ScopeRefused unless `value` passes the parser of the variable behind setting `key` (a
    number finite and in range, a known zone), and a folder is not blank. MongoDB names are
    checked by entry() and get_collection, which name the setting."""
    if key not in CHECKED_VALUES:
        return
    variable = VARIABLES[key]
    if key in ("inbound_dir", "outbound_dir") and not str(value).strip():
        raise ScopeRefused(f"this run's config leaves {key} empty; name the folder. {NOTHING_DONE}")
    try:
        variable.parse(CONFIG_NAMES.get(key, key), str(value))
    except SettingError as error:
        raise ScopeRefused(f"this run's config: {error}. {NOTHING_DONE}") from None


def _run_config_values(run: dg.DagsterRun) -> dict[str, Any]:
    """The customer's values a run's config gives its resources (see customer_run_config)."""
    resources = (run.run_config or {}).get("resources") or {}
    folder = (resources.get("client_folder") or {}).get("config") or {}
    mongo = (resources.get("mongo") or {}).get("config") or {}
    values = {
        "inbound_dir": folder.get("inbound_dir"), "outbound_dir": folder.get("outbound_dir"),
        "client_timezone": folder.get("client_timezone"), "file_format": folder.get("file_format"),
        "sftp_key_file": folder.get("sftp_key_file"), "mongo_database": mongo.get("database"), "mongo_collection": mongo.get("collection"),
        # Not part of an entry, but checked with the run, whichever resources its steps bind.
        "inbound_settle_seconds": folder.get("settle_seconds"), "inbound_max_file_bytes": folder.get("max_file_bytes"),
    }
    return {key: value for key, value in values.items() if value is not None}


def _names_no_customer(customers: Mapping[str, Customer]) -> str:
    slugs = list(customers)
    shown = ", ".join(slugs[:SHOWN_CUSTOMERS])
    if len(slugs) > SHOWN_CUSTOMERS:
        shown += f", ... ({len(slugs)} in all)"
    example = json.dumps({PARTITION_TAG: slugs[0] if slugs else "acme"})
    return (
        f"this run names no customer: with a customers file ({CUSTOMERS_FILE_VARIABLE}) every run is for one "
        f"customer, its partition ({shown}). {NOTHING_DONE} Launch it for one customer: pick the "
        f"partition in the launchpad, or from the CLI add --tags '{example}'."
    )


def outside_run_scope() -> Scope:
    """For a resource used outside a run (a script, a test): the environment's settings."""
    return Scope(settings=Settings.from_env())


# -- sensor ticks -----------------------------------------------------------------------
@dataclass(frozen=True)
class TickScope:
    """What one sensor or schedule tick works with: the settings, and the customers file as
    it is now (None without one). Read once per tick."""

    settings: Settings
    customers: Optional[dict[str, Customer]]

    @classmethod
    def read(cls) -> "TickScope":
        settings = Settings.from_env()
        return cls(settings=settings, customers=read_customers(settings))

    def scopes(self) -> list[Scope]:
        """One scope per customer (one, of the environment, without a customers file)."""
        if self.customers is None:
            return [Scope(settings=self.settings)]
        return [customer_scope(self.settings, slug, entry) for slug, entry in self.customers.items()]
