"""The Dagster floor for the overhead figure: one op that does nothing, run the same way
as sync_job (`dagster job execute`, in-process executor, same DAGSTER_HOME)."""

import dagster as dg


@dg.op
def do_nothing() -> None:
    pass


@dg.job(executor_def=dg.in_process_executor)
def noop_job():
    do_nothing()


defs = dg.Definitions(jobs=[noop_job])
