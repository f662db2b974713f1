"""Argument checks shared by every entry point; messages name argument and value."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any, TypeGuard

import numpy as np


def describe(value: object) -> str:
    """A short repr of `value` for error messages."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def is_int(value: object) -> TypeGuard[int | np.integer[Any]]:
    """True for Python and NumPy integers, False for bool."""
    return isinstance(value, numbers.Integral) and not isinstance(
        value, bool | np.bool_
    )


def check_bool(value: object, name: str) -> bool:
    """Returns `value` if it is a bool; refuses 0/1 and other truthy values."""
    if not isinstance(value, bool):
        raise TypeError(f"`{name}` must be a bool; got {name}={describe(value)}.")
    return value


def check_seed(seed: object, name: str = "seed") -> int:
    """Returns `seed` as an int in [0, 2**64) or raises."""
    if not is_int(seed):
        raise TypeError(
            f"`{name}` must be an int in [0, 2**64) or None; got"
            f" {name}={describe(seed)} of type {type(seed).__name__}."
        )
    value = int(seed)
    if not 0 <= value < 2**64:
        raise ValueError(
            f"`{name}` must be an int in [0, 2**64) or None; got {name}={value}."
        )
    return value


def check_int(value: object, name: str, *, minimum: int = 0) -> int:
    """Returns `value` as an int >= `minimum`; refuses bool, float and str."""
    if not is_int(value):
        raise TypeError(
            f"`{name}` must be an int >= {minimum}; got {name}={describe(value)}"
            f" of type {type(value).__name__}."
        )
    number = int(value)
    if number < minimum:
        raise ValueError(f"`{name}` must be an int >= {minimum}; got {name}={number}.")
    return number


def check_factor(value: object, name: str) -> float:
    """Returns `value` as a finite float >= 1; refuses bool, NaN and inf."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"`{name}` must be a finite number >= 1; got {name}={describe(value)}"
            f" of type {type(value).__name__}."
        )
    number = float(value)
    if not math.isfinite(number) or number < 1:
        raise ValueError(
            f"`{name}` must be a finite number >= 1; got {name}={describe(value)}."
        )
    return number


def check_choice(value: object, name: str, allowed: Iterable[str]) -> str:
    """Returns `value` if it is one of `allowed`."""
    options = list(allowed)
    if not isinstance(value, str) or value not in options:
        listed = ", ".join(repr(o) for o in options)
        raise ValueError(
            f"`{name}` must be one of {listed}; got {name}={describe(value)}."
        )
    return value


def check_weights(
    weights: object, name: str = "weights", thin: bool = False
) -> np.ndarray:
    """Returns per-sample factors as float64 (N,), each finite and >= 1 (or,
    with `thin`, > 0: a factor below 1 thins the sample)."""
    allowed = "> 0 (thin=True)" if thin else ">= 1"
    array = np.asarray(weights)
    if array.dtype == bool or array.dtype == object or array.dtype.kind not in "iuf":
        raise TypeError(
            f"`{name}` must be real numbers {allowed}, one per sample; got dtype"
            f" {array.dtype}."
        )
    if array.ndim != 1 or array.size == 0:
        raise ValueError(
            f"`{name}` must be a non-empty 1-D sequence, one factor per sample; got"
            f" shape {array.shape}."
        )
    array = array.astype(np.float64)
    bad = ~np.isfinite(array) | ((array <= 0) if thin else (array < 1))
    if bad.any():
        where = np.flatnonzero(bad)
        shown = ", ".join(f"{name}[{i}]={array[i]}" for i in where[:3])
        more = f" and {where.size - 3} more" if where.size > 3 else ""
        hint = (
            " (a weight of 0 would drop the sample for good)"
            if thin
            else "; a factor below 1 thins a sample, which needs thin=True"
        )
        raise ValueError(
            f"`{name}` must be finite numbers {allowed}{hint}; got {shown}{more}."
        )
    return array


def check_split(num_replicas: object, rank: object) -> tuple[int, int]:
    """(num_replicas, rank), checked: the one check of a split over ranks."""
    replicas = check_int(num_replicas, "num_replicas", minimum=1)
    rank = check_int(rank, "rank")
    if rank >= replicas:
        raise ValueError(
            f"`rank` must be in [0, num_replicas={replicas}); got rank={rank}."
        )
    return replicas, rank


MAX_EPOCH = 2**63 - 1


def check_epoch(epoch: object, name: str = "epoch") -> int:
    """An epoch: an int in [0, 2**63)."""
    value = check_int(epoch, name)
    if value > MAX_EPOCH:
        raise ValueError(f"`{name}` must be < 2**63; got {name}={value}.")
    return value
