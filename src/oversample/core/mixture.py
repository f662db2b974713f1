"""Mixtures: several named sources mixed at exact rates.

A mixture is a plan whose classes are the sources: source s of n_s samples
with a rate of r epochs (or a target of T samples) gets T_s = round(r * n_s)
copies per epoch, b or b+1 per sample, the extras rotating by the plan's one
rule (a rate below 1 thins the source: every sample is used within
ceil(n_s / T_s) epochs). A sample's key is (source, position in the source);
the plan holds each source as its range of the concatenation, nothing per
sample, so it plans sources of any size.

The order of the sources in an epoch is `oversample.core.interleave`'s.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from oversample.core import seeding as _seeding
from oversample.core.interleave import PIECE, batch_counts, batch_order, schedule_piece
from oversample.core.plan import Plan
from oversample.core.schedules import Schedule
from oversample.core.settings import INT64_MAX
from oversample.core.strategies import round_half_up
from oversample.core.validation import describe, is_int


@dataclass(frozen=True)
class Mixture:
    """The sources in the order given, their sizes and the plan over them.

    `plan.classes` are the names sorted; `code[i]` is the plan's class index
    of the i-th source given; `targets_at(epoch)[i]` its copies in an epoch
    (`targets` those of epoch 0; a schedule of rates changes them by phase).
    """

    names: tuple[str, ...]
    sizes: tuple[int, ...]
    plan: Plan
    within: Mapping[str, Plan] = field(default_factory=dict)  # classes inside a source

    @property
    def code(self) -> tuple[int, ...]:
        order = self.plan.classes
        return tuple(order.index(name) for name in self.names)

    @property
    def targets(self) -> tuple[int, ...]:
        return self.targets_at(0)

    def targets_at(self, epoch: int) -> tuple[int, ...]:
        """Each source's elements in `epoch`, in the order given."""
        targets = self.plan.targets_at(epoch)
        return tuple(int(targets[name]) for name in self.names)

    @property
    def offsets(self) -> tuple[int, ...]:
        """Where each source begins in the concatenation of the sources."""
        return tuple(int(x) for x in np.cumsum((0, *self.sizes[:-1])))

    @property
    def rates(self) -> dict[str, float]:
        """Epochs of each source in one epoch of the mixture."""
        return {
            n: t / s
            for n, s, t in zip(self.names, self.sizes, self.targets, strict=True)
        }

    def pieces(self, epoch: int = 0) -> int:
        return max(1, math.ceil(self.plan.total_at(epoch) / PIECE))

    def schedule(self, batch: int | None = None, epoch: int = 0) -> np.ndarray:
        """The source (index in `names`) of every output of an epoch; with
        `batch`, the stratified schedule of batches of that size."""
        targets = self.targets_at(epoch)
        if batch is not None:
            table = batch_counts(targets, batch)
            return np.concatenate([batch_order(row) for row in table])
        count = self.pieces(epoch)
        return np.concatenate([schedule_piece(targets, p, count) for p in range(count)])

    def copies(self, epoch: int) -> list[np.ndarray]:
        """Each source's per-sample copies in `epoch` (from the plan)."""
        copies = self.plan.copies(epoch)
        return [
            copies[o : o + s] for o, s in zip(self.offsets, self.sizes, strict=True)
        ]


def _check_names(sources: Mapping[str, object], argument: str) -> tuple[str, ...]:
    if not isinstance(sources, Mapping) or not sources:
        value = "size" if argument == "sizes" else "source"
        raise TypeError(
            f"`{argument}` must be a non-empty dict {{name: {value}}}; got"
            f" {argument}={describe(sources)}."
        )
    bad = [k for k in sources if not isinstance(k, str) or not k]
    if bad:
        raise TypeError(
            f"`{argument}` must be keyed by source names (non-empty str); got"
            f" {describe(bad)}."
        )
    return tuple(sources)


def _check_keys(
    given: Mapping[str, object], names: tuple[str, ...], argument: str
) -> None:
    if not isinstance(given, Mapping):
        raise TypeError(
            f"`{argument}` must be a dict {{source name: value}}; got"
            f" {argument}={describe(given)}."
        )
    unknown = [k for k in given if k not in names]
    missing = [n for n in names if n not in given]
    if unknown or missing:
        parts = []
        if unknown:
            parts.append(f"unknown sources {describe(unknown)}")
        if missing:
            parts.append(f"no value for {describe(missing)}")
        raise ValueError(
            f"`{argument}` must give one value for each source"
            f" {describe(list(names))}; got {', '.join(parts)}."
        )


def _phases(
    given: Mapping[Any, object] | Schedule, argument: str
) -> list[tuple[int, Mapping[str, object]]]:
    """(first epoch, {name: value}) of each phase of `rates` or `samples`: one
    phase for a dict of values, one per phase of a `Schedule` (or of a dict
    keyed by epochs)."""
    if isinstance(given, Mapping) and given and all(is_int(k) for k in given):
        try:
            given = Schedule(dict(given))
        except (TypeError, ValueError) as error:
            # NOTE: the user gave `rates` (or `samples`), not a Schedule.
            text = str(error).replace("`Schedule(phases)`", f"`{argument}`")
            text = text.replace("`Schedule` phase", f"`{argument}` phase")
            raise type(error)(text.replace(" phases=", f" {argument}=")) from None
    if not isinstance(given, Schedule):
        return [(0, given)]
    phases = []
    for epoch, values in given.phases.items():
        if not isinstance(values, Mapping):
            raise TypeError(
                f"`{argument}` phase {epoch} must be a dict {{source name: value}};"
                f" got {describe(values)}."
            )
        phases.append((int(epoch), values))
    return phases


def _targets(
    names: tuple[str, ...],
    sizes: tuple[int, ...],
    rates: Mapping[Any, object] | Schedule | None,
    samples: Mapping[Any, object] | Schedule | None,
) -> tuple[np.ndarray, np.ndarray]:
    """(the first epoch of each phase, each phase's targets in the order
    given): one phase for fixed rates or samples."""
    if (rates is None) == (samples is None):
        raise TypeError(
            "give exactly one of `rates` (epochs of each source per epoch of the"
            " mixture, e.g. {'wiki': 2.5, 'books': 0.3}) or `samples` (a"
            " number of samples per source); got"
            f" {'both' if rates is not None else 'neither'}."
        )
    argument = "rates" if rates is not None else "samples"
    given = rates if rates is not None else samples
    assert given is not None
    starts: list[int] = []
    rows: list[list[int]] = []
    for epoch, values in _phases(given, argument):
        named = argument if epoch == 0 and not rows else f"{argument}[{epoch}]"
        phase = (values, None) if argument == "rates" else (None, values)
        try:
            rows.append(_phase_targets(names, sizes, *phase))
        except (TypeError, ValueError) as error:
            if named == argument:
                raise
            raise type(error)(f"phase {epoch} of {error}") from error
        starts.append(epoch)
    return np.asarray(starts, np.int64), np.asarray(rows, np.int64)


def _phase_targets(
    names: tuple[str, ...],
    sizes: tuple[int, ...],
    rates: Mapping[str, object] | None,
    samples: Mapping[str, object] | None,
) -> list[int]:
    """One phase's targets, in the order given: of `rates` or of `samples`,
    exactly one given (`_targets` checked it)."""
    argument = "rates" if rates is not None else "samples"
    given = rates if rates is not None else samples
    assert given is not None
    _check_keys(given, names, argument)
    targets = []
    for name, size in zip(names, sizes, strict=True):
        value = given[name]
        if rates is not None:
            real = isinstance(value, numbers.Real) and not isinstance(value, bool)
            rate = float(value) if isinstance(value, numbers.Real) else math.nan
            if not real or not math.isfinite(rate) or rate <= 0:
                raise (ValueError if real else TypeError)(
                    f"`rates` must map each source to a finite number of epochs"
                    f" > 0; got rates[{name!r}]={describe(value)} (leave a source"
                    " out of `sources` to skip it)."
                )
            if rate * size >= INT64_MAX:
                raise ValueError(
                    f"`rates[{name!r}]`={value} gives the source of {size} samples"
                    f" {rate * size:.3g} samples per epoch; at most 2**63 - 1 are"
                    " supported (positions are int64)."
                )
            target = int(round_half_up(np.asarray(rate * size)))
            if target < 1:
                raise ValueError(
                    f"`rates[{name!r}]`={value} gives the source of {size} samples"
                    f" {rate * size:.3g} samples per epoch, which rounds to"
                    " 0; give a rate of at least 0.5 / size."
                )
        else:
            if not is_int(value) or not 1 <= int(value) <= INT64_MAX:
                raise (ValueError if is_int(value) else TypeError)(
                    f"`samples` must map each source to an int in [1, 2**63 - 1];"
                    f" got samples[{name!r}]={describe(value)}."
                )
            target = int(value)
        targets.append(target)
    return targets


def check_sizes(
    sizes: Mapping[str, object], argument: str = "sizes"
) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The names and sizes of the sources, each an int >= 1; messages name
    `argument` (`sizes` of `mix_plan`, or the `sources` of `mix`)."""
    names = _check_names(sizes, argument)
    values = []
    for name in names:
        size = sizes[name]
        if not is_int(size):
            raise TypeError(
                f"`{argument}[{name!r}]` must be a number of samples, an int >= 1;"
                f" got {argument}[{name!r}]={describe(size)}."
            )
        if int(size) < 1:
            raise ValueError(
                f"`{argument}[{name!r}]` is empty ({argument}[{name!r}]={size});"
                " every source must hold at least one sample."
            )
        values.append(int(size))
    return names, tuple(values)


def check_within(
    balance: object, names: tuple[str, ...], rates: object
) -> dict[str, Any]:
    """`balance={name: label}` or `{name: (label, strategy)}`, checked: the
    sources whose classes are balanced inside the mixture."""
    if balance is None:
        return {}
    if not isinstance(balance, Mapping):
        raise TypeError(
            "`balance` must be a dict {source name: label or (label, strategy)};"
            f" got balance={describe(balance)}."
        )
    unknown = [k for k in balance if k not in names]
    if unknown:
        raise ValueError(
            f"`balance` names unknown sources {describe(unknown)}; the sources are"
            f" {describe(list(names))}."
        )
    if balance and rates is None:
        raise ValueError(
            "`balance` scales each class's target by its source's rate: give"
            " `rates`, not `samples`."
        )
    if balance and len(_phases(rates, "rates")) > 1:  # type: ignore[arg-type]
        raise ValueError(
            "`balance` balances a source inside the mixture at one fixed rate; a"
            " schedule of rates with sources balanced inside is not supported."
        )
    found = {}
    for name, value in balance.items():
        label, strategy = value if isinstance(value, tuple) else (value, "not majority")
        found[name] = (label, strategy)
    return found


def within_targets(inner: Plan, rate: float) -> dict[Any, int]:
    """A balanced source's class targets in the mixture: rate x the class
    plan's targets, rounded half up, each at least 1."""
    scaled = round_half_up(np.asarray(list(inner.targets.values()), np.float64) * rate)
    return dict(zip(inner.classes, np.maximum(scaled, 1).tolist(), strict=True))


def plan_mixture(
    sizes: Mapping[str, int],
    rates: Mapping[str, object] | None,
    samples: Mapping[str, object] | None,
    seed: int | None,
    balance: object,
    count: Callable[[str, Any], Mapping[Any, int]],
    stratified: int | None = None,
) -> Mixture:
    """The mixture's plan, with a class plan per source in `balance`: every
    argument is checked before `count(name, label)` reads a source's labels
    (a stratified batch against the epochs' lengths too, once known)."""
    from oversample.core.planning import plan as make_plan

    resolved = _seeding.resolve_seed(seed)
    names, _ = check_sizes(sizes, "sources")
    wanted = check_within(balance, names, rates)
    found = mixture(sizes, rates, samples, resolved)
    if not wanted:
        _check_batch(found.plan, stratified)
        return found
    assert rates is not None
    within = {}
    for name, (label, strategy) in wanted.items():
        counts = count(name, label)
        inner_seed = _seeding.derive(resolved, "within", name)
        balanced = make_plan(counts=counts, strategy=strategy, seed=inner_seed)
        targets = within_targets(balanced, float(rates[name]))  # type: ignore[arg-type]
        within[name] = make_plan(
            counts=counts, strategy=targets, seed=inner_seed, thin=True
        )
    found = mixture(sizes, rates, samples, resolved, within)
    _check_batch(found.plan, stratified)
    return found


def _check_batch(plan: Plan, stratified: int | None) -> None:
    """A stratified batch must fit in every epoch of the mixture."""
    if stratified is None:
        return
    rule = plan.class_rule
    totals = rule.targets.sum(axis=1)
    if int(totals.min()) < stratified:
        row = int(np.argmin(totals))
        raise ValueError(
            f"`stratified`={stratified} is more than the {int(totals[row])}"
            f" elements of the mixture's epoch {int(rule.starts[row])}: a batch"
            " holds every source's share only within an epoch; use"
            f" stratified <= {int(totals.min())}, or more samples per epoch."
        )


def mixture(
    sizes: Mapping[str, int],
    rates: Mapping[str, object] | None = None,
    samples: Mapping[str, object] | None = None,
    seed: int | None = None,
    within: Mapping[str, Plan] | None = None,
) -> Mixture:
    """The plan of a mixture of sources of these sizes (in the order given);
    a source in `within` takes its total from its class plan."""
    names, counts = check_sizes(sizes)
    starts, rows = _targets(names, counts, rates, samples)
    within = dict(within or {})
    for place, name in enumerate(names):
        if name in within:
            rows[:, place] = within[name].total
    order = sorted(range(len(names)), key=names.__getitem__)
    offsets = np.cumsum((0, *counts[:-1]), dtype=np.int64)
    schedule, first = (rows[:, order], starts) if starts.size > 1 else (None, None)
    plan = Plan(
        classes=tuple(names[i] for i in order),
        seed=_seeding.resolve_seed(seed),
        rounding="exact",
        strategy="mixture",
        max_factor=None,
        num_samples=int(sum(counts)),
        _counts=np.asarray([counts[i] for i in order], np.int64),
        _targets=rows[0, order],
        _ranges=offsets[order],
        _schedule=schedule,
        _starts=first,
    )
    return Mixture(names, counts, plan, within)
