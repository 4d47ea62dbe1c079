"""One place for the checks of user input: each names the field and shows the value received.

Every public entry point validates its arguments with these before any compute starts, so that a
bad value fails in a second with a message like ``Run.seeds must be a positive int, got 0``.
"""

from __future__ import annotations

import math
from collections.abc import Collection


def is_int(value) -> bool:
    """An int that is not a bool (``True`` is an int in Python, never a width)."""
    return isinstance(value, int) and not isinstance(value, bool)


def positive_int(value, where: str) -> int:
    """``value`` if it is an int ≥ 1, else a ValueError naming ``where``."""
    if not is_int(value) or value < 1:
        raise ValueError(f"{where} must be a positive int, got {value!r}")
    return value


def nonnegative_int(value, where: str) -> int:
    """``value`` if it is an int ≥ 0, else a ValueError naming ``where``."""
    if not is_int(value) or value < 0:
        raise ValueError(f"{where} must be an int >= 0, got {value!r}")
    return value


def finite_number(value, where: str) -> float:
    """``value`` as a float if it is a finite real number (not a bool), else a ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{where} must be a finite number, got {value!r}")
    return float(value)


def positive_number(value, where: str) -> float:
    """``value`` as a float if it is a finite number > 0, else a ValueError naming ``where``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (math.isfinite(value) and value > 0)
    ):
        raise ValueError(f"{where} must be a finite number > 0, got {value!r}")
    return float(value)


def nonnegative_number(value, where: str) -> float:
    """``value`` as a float if it is a finite number ≥ 0, else a ValueError naming ``where``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (math.isfinite(value) and value >= 0)
    ):
        raise ValueError(f"{where} must be a finite number >= 0, got {value!r}")
    return float(value)


def one_of(value, options: Collection, where: str):
    """``value`` if it is one of ``options``, else a ValueError listing them."""
    if value not in options:
        raise ValueError(f"{where} must be one of {sorted(options, key=str)}, got {value!r}")
    return value


def instance_of(value, types, where: str, what: str):
    """``value`` if it is an instance of ``types``, else a TypeError saying ``what`` is expected."""
    if not isinstance(value, types):
        raise TypeError(f"{where} must be {what}, got {value!r}")
    return value
