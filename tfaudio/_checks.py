"""Argument checks shared by the library: each returns the cleaned value or raises one-line ConfigError.

Private to `tfaudio` (and `tuning`): the function and config modules call these, never each other's.
"""
from __future__ import annotations

import argparse
import math
from typing import Any, Callable

import numpy as np

from tfaudio.errors import ConfigError


def is_real(value: Any) -> bool:
    """A finite number that is not a bool."""
    return (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
            and math.isfinite(value))


def integer(name: str, value: Any, minimum: int = 1) -> int:
    """`value` as an int >= `minimum` (integral floats accepted)."""
    try:
        ok = not isinstance(value, (bool, np.bool_)) and int(value) == value and int(value) >= minimum
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise ConfigError(f"{name}={value!r} must be an integer >= {minimum}")
    return int(value)


def positive(name: str, value: Any) -> float:
    """`value` as a finite float > 0."""
    if not is_real(value) or value <= 0:
        raise ConfigError(f"{name}={value!r} must be a positive number")
    return float(value)


def optional_non_negative(name: str, value: Any) -> float | None:
    """None, or `value` as a finite float >= 0 (e.g. `top_db`)."""
    if value is None:
        return None
    if not is_real(value) or value < 0:
        raise ConfigError(f"{name}={value!r} must be a non-negative number or None")
    return float(value)


def positive_fields(cfg: Any, *names: str) -> None:
    """Each field of `cfg` in `names` is None or > 0."""
    for name in names:
        v = getattr(cfg, name)
        if v is not None and v <= 0:
            raise ConfigError(f"{type(cfg).__name__}.{name} must be positive, got {v}")


def positive_int_tuple_fields(cfg: Any, *names: str, allow_empty: bool = False) -> None:
    """Each field of `cfg` in `names` is a tuple of positive ints (a list is made a tuple)."""
    for name in names:
        v = getattr(cfg, name)
        if isinstance(v, list):
            v = tuple(v)
            object.__setattr__(cfg, name, v)
        if not isinstance(v, tuple) or (not v and not allow_empty) or any(
                not isinstance(u, int) or isinstance(u, bool) or u <= 0 for u in v):
            raise ConfigError(f"{type(cfg).__name__}.{name} must be a tuple of positive ints, got {v!r}")


def rate_fields(cfg: Any, *names: str) -> None:
    """Each field of `cfg` in `names` is in [0, 1) (dropout rates)."""
    for name in names:
        v = getattr(cfg, name)
        if not 0.0 <= v < 1.0:
            raise ConfigError(f"{type(cfg).__name__}.{name} must be in [0, 1), got {v}")


def positive_int_arg(text: str) -> int:
    """argparse `type=`: a positive integer."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def seconds(option: str, value: float) -> float:
    """A positive, finite number of seconds (below 1e6), else one ConfigError line naming the option."""
    if not (is_real(value) and 0 < value < 1e6):
        raise ConfigError(f"{option} must be a positive number of seconds, got {value}")
    return float(value)


def bounded_int_arg(low: int, high: int) -> Callable[[str], int]:
    """argparse `type=`: an integer from `low` to `high`."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer from {low} to {high}, got {text!r}") from None
        if not low <= v <= high:
            raise argparse.ArgumentTypeError(f"expected an integer from {low} to {high}, got {v}")
        return v

    return parse
