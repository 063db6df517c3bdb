"""Hypothesis properties over the project's input surfaces: a few examples each in
`make test`; `make fuzz` (PROPERTY_EXAMPLES=2000) runs them long."""

import os


def examples(default: int) -> int:
    """How many examples a property tries: its small default, or PROPERTY_EXAMPLES."""
    return int(os.environ.get("PROPERTY_EXAMPLES", default))
