"""Which customer a run works for. Without a customers file there is one, configured by
the environment; with one, the run's partition key names it, and the resources are
narrowed to its folders, format, time zone and collection.

One snapshot per run (CONTRACT 9): the customer's entry is written into the run's tag
`tracos/customer` when the run is created (by the sensors and the schedule), or when the
run starts (MongoResource's setup, for a run launched from the UI or the CLI); every step
reads that tag, never the file, so an edit of the file never splits one run between two
versions of a customer. The tag shows on the run's page."""

from __future__ import annotations

import json
import os
from typing import Optional, TypeVar

import dagster as dg

from tracos_integration.customers import (
    CUSTOMERS_FILE_VARIABLE, Customer, CustomersFileError, check_isolation, customers_from_env,
)
from tracos_integration.tracos.lease import refusal

R = TypeVar("R")
PARTITION_TAG = "dagster/partition"
CUSTOMER_TAG = "tracos/customer"  # the run's snapshot of its customer's entry (JSON)
SHOWN_CUSTOMERS = 10


class CustomerSnapshot(Customer):
    """A customer's entry as a run carries it: the entry and the slug it was read under."""

    slug: str


def customer_tags(slug: str, customer: Customer) -> dict[str, str]:
    """The tags that give a new run its snapshot of `customer`."""
    return {CUSTOMER_TAG: CustomerSnapshot(slug=slug, **dict(customer)).model_dump_json()}


def partition_of(context: dg.OpExecutionContext | dg.OutputContext | dg.InputContext) -> Optional[str]:
    return context.partition_key if context.has_partition_key else None


def run_customer(instance: dg.DagsterInstance, run_id: str) -> Optional[Customer]:
    """The customer of run `run_id`: its snapshot, taken now if the run has none yet. None
    without a customers file. A run that names no customer on a customers deployment is
    refused (dg.Failure) before it reads or writes anything."""
    run = instance.get_run_by_id(run_id)
    tags = run.tags if run is not None else {}
    slug = tags.get(PARTITION_TAG)
    if slug is None:
        if os.environ.get(CUSTOMERS_FILE_VARIABLE, "").strip():
            raise dg.Failure(description=_names_no_customer())
        return None
    if CUSTOMER_TAG in tags:
        try:
            snapshot = CustomerSnapshot.model_validate(json.loads(tags[CUSTOMER_TAG]))
        except ValueError as error:  # not JSON, or not an entry: a hand-edited tag
            raise dg.Failure(description=(
                f"this run's {CUSTOMER_TAG} tag is not a customer's entry ({str(error).splitlines()[0]}); "
                "launch it again without that tag. Nothing was read or written."
            )) from None
        if snapshot.slug != slug:
            raise dg.Failure(description=(
                f"this run is for customer {slug!r} but its {CUSTOMER_TAG} tag holds customer {snapshot.slug!r}; "
                f"launch it again without that tag. Nothing was read or written."
            ))
        customer = Customer(**{key: value for key, value in dict(snapshot).items() if key != "slug"})
        _refuse_crossing(slug, customer)
        return customer
    customer = _customer_in_file(slug)
    instance.add_run_tags(run_id, customer_tags(slug, customer))
    return customer


def _customer_in_file(slug: str) -> Customer:
    try:
        customers = customers_from_env() or {}
    except CustomersFileError as error:
        raise dg.Failure(description=f"{error}. Nothing was read or written.") from None
    if slug not in customers:
        raise dg.Failure(description=(
            f"customer {slug!r} is not in the customers file ({CUSTOMERS_FILE_VARIABLE}) any more; "
            "reload the definitions. Nothing was read or written."
        ))
    return customers[slug]


def _refuse_crossing(slug: str, snapshot: Customer) -> None:
    """A snapshot is the run's own entry, never a way into another customer's folders or
    collection: a tag forged in the launchpad, or kept by a re-execution after the file gave
    those folders to another customer, is checked against the others as the file is now.
    Checked at every step, after resolving links as they are now: a folder swapped for a link
    into another customer's folder mid-run stops the run before the step touches anything."""
    try:
        # Not isolated: the others as written, so a crossing the file itself now has is caught too.
        others = customers_from_env(isolated=False) or {}
    except CustomersFileError:
        return  # unreadable now: nothing to compare with; the sensors' ticks report the file
    try:
        for other, entry in others.items():  # pairs with this run's customer only: others' quarrels are not its
            if other != slug:
                check_isolation({other: entry, slug: snapshot}, where=f"this run's {CUSTOMER_TAG} tag")
    except CustomersFileError as error:
        raise dg.Failure(description=(
            f"{error}. The run's snapshot of customer {slug!r} would reach another customer's folders or collection, "
            f"so it is refused; launch it again without the {CUSTOMER_TAG} tag. This step read and wrote nothing."
        )) from None


def _names_no_customer() -> str:
    try:
        slugs = list(customers_from_env() or {})
    except CustomersFileError as error:
        return f"this run names no customer, and {error}. Nothing was read or written."
    shown = ", ".join(slugs[:SHOWN_CUSTOMERS])
    if len(slugs) > SHOWN_CUSTOMERS:
        shown += f", ... ({len(slugs)} in all)"
    example = json.dumps({PARTITION_TAG: slugs[0] if slugs else "acme"})
    return (
        f"this run names no customer: with a customers file ({CUSTOMERS_FILE_VARIABLE}) every run is for one "
        f"customer, its partition ({shown}). Nothing was read or written. Launch it for one customer: pick the "
        f"partition in the launchpad, or from the CLI add --tags '{example}'."
    )


def scoped(context: dg.OpExecutionContext, *resources: R) -> tuple[R, ...]:
    """The resources (ClientFolder, MongoResource) as this run's customer sees them."""
    refused = refusal(context.run_id)  # the run could not take its customer's lease
    if refused is not None:
        raise dg.Failure(description=refused)
    customer = run_customer(context.instance, context.run_id)
    if customer is None:
        return resources
    return tuple(resource.for_customer(customer) for resource in resources)
