"""Reading settings from the environment, with errors that say what to fix."""

import math
import os
from typing import Callable, TypeVar

N = TypeVar("N", int, float)


class SettingError(ValueError):
    """An environment variable holds a value the project cannot use."""


def number_from_env(variable: str, default: N, kind: Callable[[str], N], minimum: N) -> N:
    """The variable as a finite number of `kind`, at least `minimum`; `default` when unset.
    float() accepts "nan", "inf" and "1e999" (= inf): they are refused, never compared."""
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return default
    expected = "a whole number" if kind is int else "a finite number"
    try:
        value = kind(raw)
    except ValueError:
        raise SettingError(f"{variable}={raw!r} is not {expected}") from None
    if not math.isfinite(value):
        raise SettingError(f"{variable}={raw!r} is not {expected}")
    if value < minimum:
        raise SettingError(f"{variable}={raw!r} must be at least {minimum}")
    return value
