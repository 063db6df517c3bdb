"""Which customer a step works for: the run's configuration (tracos_integration/scope.py),
bound to the step's resources."""

from __future__ import annotations

from typing import Optional, TypeVar

import dagster as dg

from tracos_integration.customers import CustomersFileError
from tracos_integration.scope import Scope, ScopeRefused, run_scope
from tracos_integration.settings import SettingError
from tracos_integration.tracos.lease import refusal

R = TypeVar("R")


def partition_of(context: dg.OpExecutionContext | dg.OutputContext | dg.InputContext) -> Optional[str]:
    return context.partition_key if context.has_partition_key else None


def step_scope(context: dg.OpExecutionContext) -> Scope:
    """The run's configuration; a run that cannot have one fails the step with its one-line reason."""
    try:
        return run_scope(context.run)
    except (ScopeRefused, CustomersFileError, SettingError) as error:
        raise dg.Failure(description=str(error)) from None


def scoped(context: dg.OpExecutionContext, *resources: R) -> tuple[R, ...]:
    """The resources (ClientFolder, MongoResource) bound to the run's configuration, after
    checking that it still keeps to its own customer's folders and collection."""
    refused = refusal(context.run_id)  # the run could not take its customer's lease
    if refused is not None:
        raise dg.Failure(description=refused)
    scope = step_scope(context)
    try:
        return tuple(resource.bind(scope) for resource in resources)
    except ScopeRefused as error:
        raise dg.Failure(description=str(error)) from None
