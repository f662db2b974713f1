"""What `duplicate` was asked for, checked once for every executor, and the
plan each form becomes: a ready plan, per-class factors, a factor read from
each element, or one factor for all, for a predicate or for chosen positions.
Whole-number forms become a plan of whole copies (`WholeRule`), with no read
of the data (chosen `indices` of a source of unknown size count it first);
the others a class or weights plan once the data are read."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from oversample.core import seeding as _seeding
from oversample.core.plan import Plan
from oversample.core.rule import WholeRule
from oversample.core.settings import Settings
from oversample.core.validation import check_factor, describe, is_int

DEFAULT = 2  # copies of every sample when `copies` is not given


@dataclass(frozen=True)
class Copies:
    """One form of `duplicate`.

    kind: "plan" (the call's ready plan), "classes" (`per_class` factors by
    label), "weights" (`weight(element)` per sample), "whole" (`factor` for
    every sample, or for those `where` holds, or at `indices`), "fraction"
    (a real `factor` for every sample).
    """

    kind: str
    factor: float = DEFAULT
    per_class: dict[int | str, float] | None = None
    weight: Callable[[Any], Any] | None = None
    where: Callable[[Any], Any] | None = None
    indices: Iterable[int] | None = None

    @property
    def whole(self) -> bool:
        """True when every factor is a whole number (no rounding is needed)."""
        if self.per_class is not None:
            return all(f.is_integer() for f in self.per_class.values())
        return self.kind == "whole"


def parse(
    copies: object,
    where: Callable[[Any], Any] | None,
    indices: Iterable[int] | None,
    label: object,
    plan: object,
) -> Copies:
    """The form of one `duplicate` call, or a clear error. `copies` None
    means not given: 2, or the copies of the given plan."""
    if where is not None and indices is not None:
        raise ValueError("give `where` or `indices`, not both.")
    if where is not None and not callable(where):
        raise TypeError(
            "`where` must be a callable example -> bool (a boolean scalar); got"
            f" where={describe(where)}."
        )
    if plan is not None:
        _check_plan(plan, label)
        given = [
            f"{name}={describe(value)}"
            for name, value in (("copies", copies), ("where", where))
            if value is not None
        ] + (["indices=..."] if indices is not None else [])
        if given:
            raise ValueError(
                "`plan` already decides every sample's copies; give `plan` alone"
                " (with `label=` for a class plan), or drop `plan` and keep"
                f" {', '.join(given)}."
            )
        return Copies("plan")
    if copies is None:
        copies = DEFAULT
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


def _check_plan(plan: object, label: object) -> None:
    """A plan given to `duplicate`, with the `label` its rule reads."""
    if not isinstance(plan, Plan):
        raise TypeError(f"`plan` must be an ovs.Plan; got plan={describe(plan)}.")
    rule = plan.rule
    per_class = plan.kind == "classes" or (
        isinstance(rule, WholeRule) and rule.selection == "classes"
    )
    if per_class and label is None:
        raise ValueError(
            f"this plan's copies are decided per class ({plan!r}); give `label=`"
            " to read each element's class."
        )


def by_table(form: Copies, settings: Settings) -> bool:
    """Whether per-class factors are carried out as a plan of whole copies per
    class, a table looked up as the data streams (every factor whole and no
    spread asked for), rather than as a class plan of targets count x factor
    made from a read of the labels."""
    return form.per_class is not None and form.whole and not settings.spread


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
    length = size()
    try:
        array = np.unique(np.asarray(values, dtype=np.int64))
        outside = array[(array < 0) | (array >= length)].tolist()
    except OverflowError:
        outside = [v for v in values if not 0 <= int(v) < length]
    if outside:
        raise ValueError(
            f"`indices` must be source positions in [0, {length}); got"
            f" {describe(outside[:5])}."
        )
    return array


def whole_plan(
    form: Copies,
    seed: int | None,
    num_samples: int | None,
    *,
    indices: np.ndarray | None = None,
    identity: str | None = None,
    unknown: str | None = None,
) -> Plan:
    """The plan of a whole-number form: every sample, a predicate (its
    `identity`, or None with the reason `unknown`), chosen `indices` (checked
    positions) or a per-class table."""
    if form.per_class is not None:
        table = {k: int(f) for k, f in form.per_class.items()}
        rule = WholeRule("classes", table=table)
    elif form.where is not None:
        if unknown is not None:
            # NOTE: a predicate of unknown identity gets a fingerprint of its
            # own, so that no other stream's state passes for its.
            identity = f"unknown:{secrets.token_hex(16)}"
        rule = WholeRule(
            "where",
            int(form.factor),
            where=form.where,
            identity=identity,
            unknown=unknown,
        )
    elif indices is not None:
        rule = WholeRule("indices", int(form.factor), indices=indices)
    else:
        rule = WholeRule("all", int(form.factor))
    return Plan(
        classes=(),
        seed=_seeding.resolve_seed(seed),
        rounding="exact",
        strategy="duplicate",
        max_factor=None,
        num_samples=num_samples,
        _counts=np.zeros(0, np.int64),
        _targets=np.zeros(0, np.int64),
        _whole=rule,
    )
