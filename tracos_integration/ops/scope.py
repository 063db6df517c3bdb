"""Which customer a run works for. Without a customers file there is one, configured by
the environment; with one, the run's partition key names it, and the resources are
narrowed to its folders, format, time zone and collection."""

from typing import Optional, TypeVar

import dagster as dg

from tracos_integration.customers import customer_named

R = TypeVar("R")


def partition_of(context: dg.OpExecutionContext | dg.OutputContext | dg.InputContext) -> Optional[str]:
    return context.partition_key if context.has_partition_key else None


def scoped(context: dg.OpExecutionContext, *resources: R) -> tuple[R, ...]:
    """The resources (ClientFolder, MongoResource) as this run's customer sees them."""
    customer = customer_named(partition_of(context))
    if customer is None:
        return resources
    return tuple(resource.for_customer(customer) for resource in resources)
