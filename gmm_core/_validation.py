"""Argument checks shared by the estimator, the sweep and the diagnostics (one message each)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable


def check_int(name: str, value, low: int) -> int:
    """``value`` as an int if it is an integer (not a bool) of at least ``low``, else raise.

    Raises
    ------
    ValueError
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}.")
    return int(value)


def check_float(name: str, value, low: float) -> float:
    """``value`` as a float if it is a finite real number (not a bool) of at least ``low``.

    Raises
    ------
    ValueError
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or value < low
    ):
        raise ValueError(f"{name} must be a finite number >= {low}; got {value!r}.")
    return float(value)


def check_choice(name: str, value, choices: Iterable[str]) -> str:
    """``value`` if it is one of ``choices``, else a ValueError that lists them."""
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}.")
    return value
