"""Choosing and collecting what a stream holds for the spread, per kind of
key (position, a stable id, shard and position), and the report of it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from oversample.core import spread as _spread
from oversample.core.plan import Plan
from oversample.core.prepare import Prepared
from oversample.core.settings import Settings
from oversample.tf import holding as _holding
from oversample.tf.class_rules import ClassRule
from oversample.tf.held import Held

Place = Callable[[list[np.ndarray], np.ndarray], tuple[Any, Any]]


@dataclass(frozen=True)
class Holding:
    """The plan a stream carries out and what it holds (`table` is None when
    nothing is; `reason` then says why)."""

    plan: Plan
    table: _holding.Table | None
    budget: int
    reason: str | None

    def held(
        self, rule: ClassRule, spec: Any, seed: int, settings: Settings
    ) -> Held | None:
        """The held samples in the graph, once `rule` streams none of them."""
        if self.table is None:
            return None
        rule.hold(self.table.classes)
        rows = 1 if self.plan._schedule is None else len(self.plan._schedule)
        totals = [self.plan.total_at(row) for row in range(rows)]
        held_totals = [
            int(self.plan._targets_of(row)[self.table.classes].sum())
            for row in range(rows)
        ]
        # NOTE: no epoch streams more than target + count of a class (b + 1
        # copies per sample at most), which bounds what is left to drain.
        streamed = ~self.table.classes
        bound = max(
            int((self.plan._targets_of(row) + self.plan._counts)[streamed].sum())
            for row in range(rows)
        )
        epochs = settings.epochs
        drain = bound * (epochs.stream if epochs.streaming and epochs.stream else 1)
        return Held(
            rule,
            self.table,
            spec,
            settings.marking(seed),
            totals,
            held_totals,
            drain,
        )

    def report(self) -> _spread.Spread:
        if self.table is None:
            return _spread.nothing(self.budget, self.reason or "")
        plan, table = self.plan, self.table
        return _spread.Spread(
            budget=self.budget,
            held_classes=tuple(
                c for c, h in zip(plan.classes, table.classes, strict=True) if h
            ),
            held_samples=table.size,
            held_bytes=table.bytes,
            held_copies=int(plan._targets_of(0)[table.classes].sum()),
            total=plan.total_at(0),
        )


def held(prepared: Prepared, idents: int, place: Place) -> Holding:
    """What the stream holds of what the preparation's read collected: the
    samples of `prepared.found` worth their memory, each placed by `place`
    (idents, class index) -> (occurrence in its class, sample key)."""
    plan, budget = prepared.plan, prepared.budget
    if prepared.found is None:
        return Holding(plan, None, budget, prepared.reason)
    if plan.kind != "classes":
        return Holding(plan, None, budget, _spread.PER_SAMPLE)
    table = _holding.table(plan, prepared.found, idents, place)
    return Holding(plan, table, budget, None if table else _spread.none_fits(budget))


def by_position(idents: list[np.ndarray], index: np.ndarray) -> tuple[Any, Any]:
    """One stream keyed by position: occurrences count in position order."""
    positions = idents[0].astype(np.int64)
    return _holding.in_order(positions, index), positions


def by_key(plan: Plan, keys: np.ndarray) -> Place:
    """One stream keyed by a stable id: the sample is the rank of its key."""
    occurrence = _occurrences(plan)

    def place(idents: list[np.ndarray], index: np.ndarray) -> tuple[Any, Any]:
        ranks = np.searchsorted(keys, comparable(idents[0]))
        return occurrence[ranks], ranks.astype(np.int64)

    return place


def by_shard(counts: Any, shards: int) -> Place:
    """Shards: a sample's occurrence is its class's count in earlier shards
    plus its rank among its class in its own shard."""

    def place(idents: list[np.ndarray], index: np.ndarray) -> tuple[Any, Any]:
        places, positions = (x.astype(np.int64) for x in idents)
        order = np.lexsort((positions, places, index))
        group = index[order] * shards + places[order]
        first = np.searchsorted(group, group, side="left")
        within = np.empty(index.size, np.int64)
        within[order] = np.arange(index.size) - first
        occurrence = counts.offsets[places, index] + within
        return occurrence, counts.starts[places] + positions

    return place


def comparable(keys: np.ndarray) -> np.ndarray:
    return keys.astype(np.bytes_) if keys.dtype == object else keys


def _occurrences(plan: Plan) -> np.ndarray:
    """Each sample's occurrence in its class, in the plan's sample order."""
    counts = plan._counts
    occurrence = np.empty(plan.num_samples, np.int64)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    occurrence[plan._order] = np.arange(plan.num_samples) - starts
    return occurrence
