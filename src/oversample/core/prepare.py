"""The one preparation of every executor: how the caller asked to plan (the
`Choice`), which reads the data needs (none, a label count, a collection of the
held samples, both in one read), the checks of given counts or a given plan
against the source, and the choice of the plan.

An executor hands it a `Reader` of its kind of source; the preparation decides
and the executor then builds its stream from the `Prepared` it returns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from oversample.core.plan import Plan
from oversample.core.planning import plan as make_plan
from oversample.core.rule import ROUNDINGS
from oversample.core.settings import Settings
from oversample.core.shard_counts import ShardCounts
from oversample.core.spread import PER_SAMPLE
from oversample.core.strategies import RepeatFactor, round_half_up
from oversample.core.validation import check_bool, check_choice, check_seed, describe

Label = int | str
Pairs = dict[tuple[int, Label], int]  # samples per (shard place, label)

ONE_SHOT = (
    "the source is a one-shot iterator ({name}): balancing reads it in the same"
    " order more than once (to count, to hold samples, once per epoch). Give an"
    " iterable that starts over on every iter(): a list, a dataset object, or a"
    " class whose __iter__ returns a new generator; or give `counts=` (or"
    " `plan=`), and it is read once, for one epoch."
)
READ_ONCE = (
    "the source can be read only once, and holding samples would need a read of"
    " its own before streaming"
)


_DEFAULTS = (
    ("strategy", "not majority"),
    ("rounding", "exact"),
    ("max_factor", None),
    ("counts", None),
    ("seed", None),
    ("thin", False),
)


@dataclass(frozen=True)
class Choice:
    """The planning arguments of one call; the rounding is checked at once
    (a call that needs no plan still refuses a bad one), the rest when a plan
    is made."""

    strategy: object = "not majority"
    seed: int | None = None
    rounding: str = "exact"
    max_factor: float | None = None
    counts: Any = None
    plan: Any = None
    thin: bool = False

    def __post_init__(self) -> None:
        check_choice(self.rounding, "rounding", ROUNDINGS)
        check_bool(self.thin, "thin")
        if self.seed is not None:
            check_seed(self.seed)

    def given_plan(self, with_counts: bool = False) -> Plan | None:
        """The ready `plan`, checked to be a Plan given alone (or with its
        `counts`, for shards), or None."""
        if self.plan is None:
            return None
        if not isinstance(self.plan, Plan):
            raise TypeError(
                f"`plan` must be an ovs.Plan; got plan={describe(self.plan)}."
            )
        given = [
            name
            for name, default in _DEFAULTS
            if not _is_default(getattr(self, name), default)
            and not (with_counts and name == "counts")
        ]
        if given:
            raise ValueError(
                f"`plan` already fixes {', '.join(given)}; pass either a plan or"
                " those arguments."
            )
        return self.plan

    def from_counts(self, counts: Mapping[Any, int]) -> Plan:
        return make_plan(counts=counts, **self._options())

    def from_labels(self, labels: object) -> Plan:
        return make_plan(labels, **self._options())

    def _options(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "seed": self.seed,
            "rounding": self.rounding,
            "max_factor": self.max_factor,
            "thin": self.thin,
        }


def _is_default(value: object, default: object) -> bool:
    return value is default or (isinstance(value, str) and value == default)


@dataclass(frozen=True)
class FactorChoice(Choice):
    """Per-class factors (`duplicate(copies={label: factor})`): a named class's
    target is its count x factor, rounded half up; the others keep theirs."""

    factors: Mapping[Any, float] | None = None

    def from_counts(self, counts: Mapping[Any, int]) -> Plan:
        factors = self.factors or {}
        missing = [k for k in factors if k not in counts]
        if missing:
            raise ValueError(
                f"`copies` names classes that are not in the data: {describe(missing)}."
            )
        scaled = round_half_up(np.asarray([counts[k] * f for k, f in factors.items()]))
        targets = dict(zip(factors, scaled.tolist(), strict=True))
        return make_plan(
            counts=counts, strategy=targets, seed=self.seed, rounding=self.rounding
        )


def tally(
    pairs: Pairs,
    places: np.ndarray,
    labels: np.ndarray,
    name: Callable[[Any], Label] | None = None,
) -> None:
    """Adds a block's samples, by (shard place, label), to `pairs`: the one
    tally of every read. `name` turns a value of `labels` into its label
    (bytes into str, a class index into the plan's class)."""
    values, inverse = distinct(labels)
    width = values.size
    flat = np.asarray(places, np.int64) * width + inverse.reshape(-1)
    if flat.size and int(flat.max()) < 4 * flat.size:  # NOTE: a histogram, no sort
        numbers = np.bincount(flat)
        cells = np.flatnonzero(numbers)
        numbers = numbers[cells]
    else:
        cells, numbers = np.unique(flat, return_counts=True)
    named = values.tolist() if name is None else [name(v) for v in values.tolist()]
    for cell, number in zip(cells.tolist(), numbers.tolist(), strict=True):
        pair = (cell // width, named[cell % width])
        pairs[pair] = pairs.get(pair, 0) + number


def distinct(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`np.unique(labels, return_inverse=True)`; ints in a range of at most
    four per label without a sort (0.05 -> 0.02 s for 10**6 labels in blocks
    of 4,096).

    Examples:
        >>> [a.tolist() for a in distinct(np.array([7, 3, 7, 5]))]
        [[3, 5, 7], [2, 0, 2, 1]]
    """
    if labels.dtype.kind in "iu" and labels.ndim == 1 and labels.size:
        low = labels.min()
        span = int(labels.max()) - int(low) + 1
        if span <= 4 * labels.size:
            # NOTE: unsigned labels minus their least cannot wrap; signed ones
            # are widened first (int8 labels -100 and 100 are 200 apart)
            wide = labels if labels.dtype.kind == "u" else labels.astype(np.int64)
            shifted = (wide - low).astype(np.intp)
            present = np.bincount(shifted, minlength=span) > 0
            inverse = (np.cumsum(present) - 1)[shifted]
            # every value is a label, so it fits the labels' type (an offset
            # cast to it may wrap, and adding the least wraps it back)
            return np.flatnonzero(present).astype(labels.dtype) + low, inverse
    return np.unique(labels, return_inverse=True)


@dataclass(frozen=True)
class Counted:
    """What a read of the labels found: samples per (shard place, label), the
    place 0 for one stream; where the plan is made from per-sample labels (a
    stable key's order, multi-label rows), those labels and keys; for shards
    read without counts, their `ShardCounts`."""

    pairs: Pairs
    labels: Any = None
    keys: Any = None
    multi: bool = False
    shard_counts: ShardCounts | None = None

    @property
    def counts(self) -> dict[Label, int]:
        if self.shard_counts is not None:
            return dict(self.shard_counts.counts)
        totals: dict[Label, int] = {}
        for (_, label), number in self.pairs.items():
            totals[label] = totals.get(label, 0) + number
        return dict(sorted(totals.items()))


class Reader(Protocol):
    """What a kind of source gives the preparation.

    `sharded`: counts are an `ovs.ShardCounts` and a plan needs them;
    `once`: the source can be read only once (a one-shot iterator).
    """

    sharded: bool
    once: bool

    def check(self, counts: Any, plan: Plan | None) -> None:
        """Given counts or plan against the source, before anything is read."""

    def unheld(self, plan: Plan | None) -> str | None:
        """Why nothing of this source can be held, or None when it can."""

    def count(self, progress: bool) -> Counted:
        """The label-only read."""

    def collect(
        self, budget: int, plan: Plan | None, progress: bool
    ) -> tuple[Any, Counted]:
        """One read that collects what to hold within `budget` and counts."""


@dataclass(frozen=True)
class Prepared:
    """What the stream is built from: the plan, the counts (`ShardCounts` for
    shards), what the collecting read holds within `budget` (or None, `reason`
    saying why) and what a read counted (None when nothing was read)."""

    plan: Plan
    counts: Any
    found: Any
    reason: str | None
    counted: Counted | None
    budget: int


def prepare(
    reader: Reader, choice: Choice, settings: Settings, progress: bool
) -> Prepared:
    """Checks what was given, reads what is needed once, chooses the plan."""
    plan = choice.given_plan(with_counts=reader.sharded)
    counts = _given_counts(reader, choice.counts, plan)
    if reader.once and plan is None and counts is None:
        raise TypeError(ONE_SHOT.format(name=getattr(reader, "name", "iterator")))
    if plan is None and counts is not None:
        plan = choice.from_counts(counts.counts if reader.sharded else counts)
    reader.check(counts, plan)
    reason = _unheld(reader, settings, plan)
    found = counted = None
    if reason is None:
        found, counted = reader.collect(settings.spread, plan, progress)
    elif plan is None:
        counted = reader.count(progress)
    if counted is not None:
        if plan is None:
            plan = _choose(choice, counted)
            if reader.sharded:
                counts = counted.shard_counts
        else:
            check_seen(plan, counts if reader.sharded else None, counted)
    assert plan is not None
    return Prepared(plan, counts, found, reason, counted, settings.spread)


def _given_counts(reader: Reader, counts: Any, plan: Plan | None) -> Any:
    if reader.sharded:
        if counts is None and plan is not None:
            raise ValueError(
                "with `ovs.Shards`, `plan=` needs `counts=` (the ovs.ShardCounts it"
                " was made from): decisions use each shard's counts."
            )
        if counts is not None and not isinstance(counts, ShardCounts):
            raise TypeError(
                "with `ovs.Shards`, `counts` must be the ovs.ShardCounts of"
                f" ovs.count_labels(shards); got counts={describe(counts)}."
            )
    return counts


def _unheld(reader: Reader, settings: Settings, plan: Plan | None) -> str | None:
    if not settings.spread:
        return "spread=None"
    reason = reader.unheld(plan)
    if reason is None and plan is not None and plan.kind != "classes":
        return PER_SAMPLE
    if reason is None and reader.once:
        return READ_ONCE
    return reason


def _choose(choice: Choice, counted: Counted) -> Plan:
    """The plan of what a read counted (of per-sample labels where the reader
    keys by them or the elements hold several labels each)."""
    if counted.multi and not isinstance(choice.strategy, RepeatFactor):
        raise ValueError(
            "multi-label elements (a list of labels each) work with"
            " strategy=ovs.RepeatFactor(threshold) only; got"
            f" strategy={describe(choice.strategy)}."
        )
    if counted.labels is not None:
        return choice.from_labels(counted.labels)
    return choice.from_counts(counted.counts)


def check_seen(plan: Plan, counts: ShardCounts | None, counted: Counted) -> None:
    """Refuses given counts (or a plan) that a read of every label contradicts,
    naming the first shard and class that differ (or the first class)."""
    if counts is not None:
        for place in range(counts.table.shape[0]):
            seen = [counted.pairs.get((place, label), 0) for label in counts.classes]
            where = f"shard {place} ({counts.files[place]!r})"
            check_counts(counts.classes, counts.table[place], np.asarray(seen), where)
        others = {label for _, label in counted.pairs} - set(counts.classes)
        if others:
            label = sorted(others, key=_order)[0]
            place = min(p for p, lb in counted.pairs if lb == label)
            raise ValueError(
                f"shard {place} ({counts.files[place]!r}) holds"
                f" {counted.pairs[place, label]} samples of class {label!r} but 0"
                " were counted; count it again."
            )
        return
    found = counted.counts
    read = np.asarray([found.get(label, 0) for label in plan.classes], np.int64)
    said = "the counts (or plan) say"
    check_counts(plan.classes, plan.class_rule.counts, read, "the stream", said)


def check_counts(
    classes: Sequence[Label],
    expected: Any,
    seen: Any,
    where: str = "the stream",
    said: str = "were counted",
) -> None:
    """Refuses a read whose samples per class differ from the counts a plan
    was made from, naming the first class that differs: the one check of
    counts against the data, for every executor."""
    differs = np.flatnonzero(np.asarray(seen) != np.asarray(expected))
    if differs.size:
        column = int(differs[0])
        again = (
            "count it again"
            if where.startswith("shard")
            else "count the same data you stream"
        )
        raise ValueError(
            f"{where} holds {int(seen[column])} samples of class"
            f" {classes[column]!r} but {said} {int(expected[column])}; {again}."
        )


def _order(label: Label) -> tuple[int, Any]:
    return (0, label) if isinstance(label, int) else (1, str(label))
