"""Reading settings from the environment, with errors that say what to fix."""

import os
from typing import Callable, TypeVar

N = TypeVar("N", int, float)


class SettingError(ValueError):
    """An environment variable holds a value the project cannot use."""


def number_from_env(variable: str, default: N, kind: Callable[[str], N], minimum: N) -> N:
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise SettingError(f"{variable}={raw!r} is not a {'whole ' if kind is int else ''}number") from None
    if value < minimum:
        raise SettingError(f"{variable}={raw!r} must be at least {minimum}")
    return value
