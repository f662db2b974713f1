"""What `duplicate` was asked for, checked once for every executor: a ready
plan, per-class factors, a factor read from each element, or one factor for
all, for a predicate or for chosen positions."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from oversample.core.validation import check_factor, describe, is_int


@dataclass(frozen=True)
class Copies:
    """One form of `duplicate`.

    kind: "plan" (the choice's ready plan), "classes" (`per_class` factors by
    label), "weights" (`weight(element)` per sample), "whole" (`factor` for
    every sample, or for those `where` holds, or at `indices`), "fraction"
    (a real `factor` for every sample).
    """

    kind: str
    factor: float = 1.0
    per_class: dict[int | str, float] | None = None
    weight: Callable[[Any], Any] | None = None
    where: Callable[[Any], Any] | None = None
    indices: Iterable[int] | None = None

    @property
    def whole(self) -> bool:
        """True when every factor is a whole number (no plan is needed)."""
        if self.per_class is not None:
            return all(f.is_integer() for f in self.per_class.values())
        return self.kind == "whole"


def parse(
    copies: object,
    where: Callable[[Any], Any] | None,
    indices: Iterable[int] | None,
    label: object,
    has_plan: bool,
) -> Copies:
    """The form of one `duplicate` call, or a clear error."""
    if where is not None and indices is not None:
        raise ValueError("give `where` or `indices`, not both.")
    if where is not None and not callable(where):
        raise TypeError(
            "`where` must be a callable example -> bool (a boolean scalar); got"
            f" where={describe(where)}."
        )
    if has_plan:
        return Copies("plan")
    if isinstance(copies, Mapping):
        if label is None:
            raise ValueError(
                "per-class `copies` (a dict) needs `label=` to read each element's"
                " class."
            )
        if where is not None or indices is not None:
            raise ValueError(
                "per-class `copies` does not combine with `where` or `indices`."
            )
        if not copies:
            raise ValueError("per-class `copies` must name at least one class.")
        factors = {
            class_key(key): check_factor(value, f"copies[{key!r}]")
            for key, value in copies.items()
        }
        kinds = {isinstance(k, str) for k in factors}
        if len(kinds) > 1:
            raise TypeError(
                f"`copies` keys must be all ints or all str; got {list(factors)}."
            )
        return Copies("classes", per_class=factors)
    if label is not None:
        raise ValueError("`label` goes with per-class `copies` (a dict) only.")
    if callable(copies):
        if where is not None or indices is not None:
            raise ValueError(
                "a callable `copies` gives every sample its own factor; it does not"
                " combine with `where` or `indices`."
            )
        return Copies("weights", weight=copies)
    factor = check_factor(copies, "copies")
    if factor.is_integer():
        return Copies("whole", factor=factor, where=where, indices=indices)
    if where is not None or indices is not None:
        raise ValueError(
            "`copies` must be a whole number with `where` or `indices`; got"
            f" copies={copies}."
        )
    return Copies("fraction", factor=factor)


def class_key(key: object) -> int | str:
    """A label of per-class `copies` as the plan keeps it (int or str)."""
    if is_int(key):
        return int(key)
    if isinstance(key, bytes):
        return key.decode("utf-8")
    if isinstance(key, str):
        return key
    raise TypeError(f"`copies` keys must be class labels (int or str); got {key!r}.")


def positions(indices: object, size: Callable[[], int]) -> np.ndarray:
    """The sorted unique source positions of `indices=`, each checked to be an
    int in [0, size()) (`size` is called once the kinds are checked)."""
    if isinstance(indices, str | bytes) or not isinstance(indices, Iterable):
        raise TypeError(
            f"`indices` must be an iterable of ints; got indices={describe(indices)}."
        )
    values = list(indices)
    bad = [v for v in values if not is_int(v)]
    if bad:
        raise TypeError(
            f"`indices` must be ints (source positions); got {describe(bad[:3])}."
        )
    array = np.unique(np.asarray(values, dtype=np.int64))
    length = size()
    outside = array[(array < 0) | (array >= length)]
    if outside.size:
        raise ValueError(
            f"`indices` must be source positions in [0, {length}); got"
            f" {describe(outside[:5].tolist())}."
        )
    return array
