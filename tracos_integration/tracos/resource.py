"""MongoResource: the TracOS MongoDB, configured from the environment at run start."""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, Optional

import dagster as dg
from pydantic import Field, PrivateAttr
from pymongo.errors import InvalidName

from tracos_integration.scope import Scope, ScopeRefused, outside_run_scope, run_scope
from tracos_integration.settings import VARIABLES, SettingError
from tracos_integration.tags import INBOUND_TAG, OUTBOUND_TAG
from tracos_integration.tracos.lease import held_for_run
from tracos_integration.tracos.queries import WorkOrderRepository, WritesNotConfirmed
from tracos_integration.tracos.retry import Retrier, TracosUnavailable
from tracos_integration.tracos.stores import DamagedStore, DemoExtraMissing, embedded_store_for, open_collection
from tracos_integration.tracos.uris import display_uri, redact, remember_credentials

DEFAULT_URI = VARIABLES["mongo_uri"].default


class UnusableMongoUri(ValueError):
    """MONGO_URI cannot be used at all (bad scheme, bad option); the message is redacted."""


@contextlib.contextmanager
def tracos_failure(consequence: str) -> Iterator[None]:
    """TracOS unusable after retries, or writes it would not confirm: the step fails with
    one readable line (no stack trace, no credentials) saying what that means for the data."""
    try:
        yield
    except (TracosUnavailable, WritesNotConfirmed, UnusableMongoUri, DamagedStore) as error:
        raise dg.Failure(description=f"{error}. {consequence}") from None


class MongoResource(dg.ConfigurableResource):
    """TracOS work orders in MongoDB. An unset field takes the run's configuration
    (scope.py): MONGO_URI, MONGO_DATABASE and MONGO_COLLECTION, or the customer's entry
    in the customers file; outside a run, the environment's. `mongomock://<name>` is an in-memory store shared within a process;
    `embedded://<path>` is a file-backed store shared between processes."""

    uri: Optional[str] = Field(default=None, description="MongoDB URI; default $MONGO_URI or " + DEFAULT_URI)
    database: Optional[str] = Field(default=None, description="Database; default $MONGO_DATABASE or tractian")
    collection: Optional[str] = Field(default=None, description="Collection; default $MONGO_COLLECTION or workorders")
    retry_budget_seconds: float = Field(default=60.0, description="How long to keep retrying a lost connection")
    server_selection_timeout_ms: int = Field(default=5000, description="How long one attempt waits for a server")
    index_build_budget_seconds: float = Field(
        default=600.0, description="How long a run waits for an index build, retries included, before it goes on "
        "without it (the server finishes the build)"
    )

    _retrier: Optional[Retrier] = PrivateAttr(default=None)
    _scope: Optional[Scope] = PrivateAttr(default=None)  # the run's (or the tick's) configuration, with these fields

    def bind(self, scope: Scope) -> "MongoResource":
        """This resource with the run's (or a tick's) configuration under its own fields."""
        bound = MongoResource(
            uri=self.uri, database=self.database, collection=self.collection,
            retry_budget_seconds=self.retry_budget_seconds,
            server_selection_timeout_ms=self.server_selection_timeout_ms,
            index_build_budget_seconds=self.index_build_budget_seconds,
        )
        bound._scope = scope.with_values(mongo_uri=self.uri, mongo_database=self.database,
                                         mongo_collection=self.collection)
        bound._scope.check_isolation()
        return bound

    @property
    def scope(self) -> Scope:
        """The configuration this resource works with (the environment's, outside a run)."""
        if self._scope is None:
            self._scope = self.bind(outside_run_scope())._scope
        return self._scope

    @property
    def resolved_uri(self) -> str:
        uri = self.scope.settings.mongo_uri
        # From here on, its user name and password are scrubbed from every message and log record.
        remember_credentials(uri)
        return uri

    @property
    def resolved_database(self) -> str:
        return self.scope.settings.mongo_database

    @property
    def resolved_collection(self) -> str:
        return self.scope.settings.mongo_collection

    @property
    def server_label(self) -> str:
        """The server, without credentials: safe for logs, errors and metadata."""
        return f"{display_uri(self.resolved_uri)} ({self.resolved_database}.{self.resolved_collection})"

    def get_collection(self) -> Any:
        """A pymongo-compatible Collection; works inside a run and when constructed directly."""
        return self.open_collection(self.resolved_collection)

    def open_collection(self, name: str) -> Any:
        """Collection `name` of this resource's database (the work orders', or the leases')."""
        try:
            return open_collection(self.resolved_uri, self.resolved_database, name, self.server_selection_timeout_ms)
        except InvalidName as error:  # the names, not the URI, are at fault: say which setting to fix
            raise ValueError(
                f"MONGO_DATABASE {self.resolved_database!r} / MONGO_COLLECTION {name!r} "
                f"cannot be used: {redact(str(error))}"
            ) from None
        except Exception as error:  # pymongo's URI errors may echo parts of the URI
            # `from None`: Dagster shows no chained original, which could hold the secret.
            reason = redact(str(error))
            if "MONGO_URI" not in reason:
                reason = f"MONGO_URI {display_uri(self.resolved_uri)} cannot be used: {reason}"
            raise UnusableMongoUri(reason) from None

    def retrier(self) -> Retrier:
        if self._retrier is None:
            self._retrier = Retrier(
                budget_seconds=self.retry_budget_seconds,
                server=self.server_label,
                long_operation_budget_seconds=self.index_build_budget_seconds,
            )
        return self._retrier

    def repository(self) -> WorkOrderRepository:
        return WorkOrderRepository(self.get_collection(), self.retrier())

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Hold the embedded store's lock on this resource's collection (a no-op for other stores)."""
        try:
            store = embedded_store_for(self.resolved_uri)
        except DemoExtraMissing:  # nothing to lock: the first step fails with that one line
            store = None
        if store is None:
            yield
            return
        with store.hold(self.resolved_database, self.resolved_collection):
            yield

    @contextlib.contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator["MongoResource"]:
        # A run holds its collection of the embedded store for its whole duration (no effect
        # on MongoDB); a sensor tick only reads, so it never waits for a run to finish.
        if context.dagster_run is None or context.dagster_run.is_finished:
            # No run, or one already over: Dagster builds the resources again after a run to
            # load its outputs (`execute_job`'s result); that is no run to take a lease for.
            yield self
            return
        # The run's configuration is resolved here, once, before any step. A run that cannot
        # have one (it names no customer on a customers deployment) takes no lock: its first
        # step refuses it with the reason, before it touches a folder or TracOS.
        try:
            bound = self.bind(run_scope(context.dagster_run))
        except (ScopeRefused, SettingError, ValueError):
            yield self
            return
        if not {INBOUND_TAG, OUTBOUND_TAG} & set(context.dagster_run.tags):
            # Not a sync run (samples_job): it writes new documents and files atomically, which
            # no sync run minds, and it must refuse a real server before connecting to one.
            with bound.hold():
                yield self
            return
        # The customer's lease in TracOS first (a second run waits for it, at most its timeout);
        # without it, the run's steps refuse to start (tracos/lease.py).
        with held_for_run(bound, context.dagster_run.run_id, context.log) as held:
            with bound.hold() if held else contextlib.nullcontext():
                yield self
