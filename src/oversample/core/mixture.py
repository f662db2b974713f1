"""Mixtures: several named sources mixed at exact rates.

A mixture is a plan whose classes are the sources: source s of n_s samples
with a rate of r epochs (or a target of T samples) gets T_s = round(r * n_s)
copies per epoch, b or b+1 per sample, the extras rotating by the plan's one
rule (a rate below 1 thins the source: every sample is used within
ceil(n_s / T_s) epochs). A sample's key is (source, position in the source).

The interleave is a pure function of the targets: the j-th output of source s
sits at the point (2j + 1) / (2 T_s) of the epoch, and the epoch lists the
points in order (ties by source). Any run of B outputs then holds each
source's share B * T_s / T to within one sample, and the schedule can be
computed in pieces (`schedule_piece`) with no state carried between them.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from oversample.core import seeding as _seeding
from oversample.core.plan import Plan
from oversample.core.strategies import round_half_up
from oversample.core.validation import describe, is_int

PIECE = 4096  # outputs per piece of the schedule, on average


@dataclass(frozen=True)
class Mixture:
    """The sources in the order given, their sizes and the plan over them.

    `plan.classes` are the names sorted; `code[i]` is the plan's class index
    of the i-th source given; `targets[i]` its copies per epoch.
    """

    names: tuple[str, ...]
    sizes: tuple[int, ...]
    plan: Plan

    @property
    def code(self) -> tuple[int, ...]:
        order = self.plan.classes
        return tuple(order.index(name) for name in self.names)

    @property
    def targets(self) -> tuple[int, ...]:
        targets = self.plan.targets
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

    def pieces(self) -> int:
        return max(1, math.ceil(self.plan.total / PIECE))

    def schedule(self, batch: int | None = None) -> np.ndarray:
        """The source (index in `names`) of every output of an epoch; with
        `batch`, the stratified schedule of batches of that size."""
        if batch is not None:
            table = batch_counts(self.targets, batch)
            return np.concatenate([batch_order(row) for row in table])
        count = self.pieces()
        return np.concatenate(
            [schedule_piece(self.targets, p, count) for p in range(count)]
        )

    def copies(self, epoch: int) -> list[np.ndarray]:
        """Each source's per-sample copies in `epoch` (from the plan)."""
        copies = self.plan.copies(epoch)
        return [
            copies[o : o + s] for o, s in zip(self.offsets, self.sizes, strict=True)
        ]


def schedule_piece(targets: tuple[int, ...], piece: int, pieces: int) -> np.ndarray:
    """The sources of the outputs whose points lie in [piece, piece + 1) /
    pieces: source s's j-th output has the point (2j + 1) / (2 T_s)."""
    totals = np.asarray(targets, np.float64)
    low = _first_index(totals, piece, pieces)
    high = _first_index(totals, piece + 1, pieces)
    counts = high - low
    owner = np.repeat(np.arange(totals.size), counts)
    j = np.arange(owner.size) - np.repeat(np.cumsum(counts) - counts, counts)
    j = j + np.repeat(low, counts)
    points = (2.0 * j + 1.0) / (2.0 * totals[owner])
    return owner[np.argsort(points, kind="stable")]


def _first_index(totals: np.ndarray, piece: int, pieces: int) -> np.ndarray:
    """The first j of each source whose point is at or after piece / pieces."""
    if piece >= pieces:
        return totals.astype(np.int64)
    edge = np.ceil(piece / pieces * totals - 0.5)
    return np.clip(edge, 0, totals).astype(np.int64)


def batch_counts(targets: tuple[int, ...], batch: int) -> np.ndarray:
    """Each batch's count of each source, shape (batches, sources): batch k
    gives source s floor(B T_s / T) or one more, the ones chosen for the
    largest debt so far (k B T_s - T * given, exact integers), so every batch
    holds each source's share to within one sample and the epoch its total."""
    totals = np.asarray(targets, np.int64)
    total = int(totals.sum())
    size = min(batch, total)
    base = size * totals // total
    debt = np.zeros(totals.size, np.int64)  # in units of 1 / total
    given = np.zeros(totals.size, np.int64)
    rows = []
    for _ in range(total // size):
        debt += size * totals
        extra = size - int(base.sum())
        row = base.copy()
        if extra:
            owed = debt - total * base
            row[np.argsort(-owed, kind="stable")[:extra]] += 1
        row = np.minimum(row, totals - given)
        row[
            np.argsort(-(debt - total * row), kind="stable")[: size - int(row.sum())]
        ] += 1
        debt -= total * row
        given += row
        rows.append(row)
    if total % size:
        rows.append(totals - given)
    return np.asarray(rows, np.int64)


def batch_order(counts: np.ndarray) -> np.ndarray:
    """The sources of one batch, spread out: the j-th of source s at the point
    (2j + 1) / (2 a_s), ties by source."""
    owner = np.repeat(np.arange(counts.size), counts)
    j = np.arange(owner.size) - np.repeat(np.cumsum(counts) - counts, counts)
    points = (2.0 * j + 1.0) / (2.0 * counts[owner])
    return owner[np.argsort(points, kind="stable")]


def batch_deviation(sources: np.ndarray, shares: np.ndarray, batch: int) -> float:
    """The largest |count - batch * share| of any source in any whole batch."""
    whole = sources.size // batch * batch
    batches = sources[:whole].reshape(-1, batch)
    counts = np.stack([(batches == s).sum(axis=1) for s in range(shares.size)], axis=1)
    return float(np.abs(counts - batch * shares[None]).max())


def _check_names(sources: Mapping[str, object], argument: str) -> tuple[str, ...]:
    if not isinstance(sources, Mapping) or not sources:
        raise TypeError(
            f"`{argument}` must be a non-empty dict {{name: source}}; got"
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


def _targets(
    names: tuple[str, ...],
    sizes: tuple[int, ...],
    rates: Mapping[str, object] | None,
    samples: Mapping[str, object] | None,
) -> list[int]:
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
            target = int(round_half_up(np.asarray(rate * size)))
            if target < 1:
                raise ValueError(
                    f"`rates[{name!r}]`={value} gives the source of {size} samples"
                    f" {rate * size:.3g} samples per epoch, which rounds to"
                    " 0; give a rate of at least 0.5 / size."
                )
        else:
            if not is_int(value) or int(value) < 1:
                raise (ValueError if is_int(value) else TypeError)(
                    f"`samples` must map each source to an int >= 1; got"
                    f" samples[{name!r}]={describe(value)}."
                )
            target = int(value)
        targets.append(target)
    return targets


def check_sizes(sizes: Mapping[str, object]) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The names and sizes of the sources, each an int >= 1."""
    names = _check_names(sizes, "sources")
    values = []
    for name in names:
        size = sizes[name]
        if not is_int(size) or int(size) < 1:
            raise ValueError(
                f"`sources[{name!r}]` is empty or has no size ({describe(size)});"
                " every source must hold at least one sample."
            )
        values.append(int(size))
    return names, tuple(values)


def mixture(
    sizes: Mapping[str, int],
    rates: Mapping[str, object] | None = None,
    samples: Mapping[str, object] | None = None,
    seed: int | None = None,
) -> Mixture:
    """The plan of a mixture of sources of these sizes (in the order given)."""
    names, counts = check_sizes(sizes)
    targets = _targets(names, counts, rates, samples)
    order = sorted(range(len(names)), key=names.__getitem__)
    code = np.empty(len(names), np.int64)
    code[order] = np.arange(len(names))
    plan = Plan(
        classes=tuple(names[i] for i in order),
        seed=_seeding.resolve_seed(seed),
        rounding="exact",
        strategy="mixture",
        max_factor=None,
        num_samples=int(sum(counts)),
        _counts=np.asarray([counts[i] for i in order], np.int64),
        _targets=np.asarray([targets[i] for i in order], np.int64),
        _codes=np.repeat(code, counts),
    )
    return Mixture(names, counts, plan)
