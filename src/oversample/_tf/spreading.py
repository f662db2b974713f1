"""Choosing and collecting what a stream holds for the spread, per kind of
key (position, a stable id, shard and position), and the report of it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from oversample import spread as _spread
from oversample._settings import Settings
from oversample._tf import holding as _holding
from oversample._tf.class_rules import ClassRule
from oversample._tf.held import Held
from oversample._tf.labels import Label
from oversample.plan import Plan

MakePlan = Callable[[dict[int | str, int]], Plan]


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
            seed,
            settings.provenance,
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


def none_fits(budget: int) -> str:
    return (
        f"no oversampled class fits in the budget of {budget / 2**20:,.1f} MiB;"
        " raise `spread` to hold the tail"
    )


def by_position(
    ds: Any,
    label: Label,
    budget: int,
    plan: Plan | None,
    make_plan: MakePlan,
    progress: bool,
) -> Holding:
    """One stream keyed by position: one pass collects the held samples (and
    counts the labels when no plan is given)."""
    found = _holding.collect(ds, label, budget, plan, progress, positional=True)
    if plan is None:
        plan = make_plan(_holding.counts_of(found, int(ds.cardinality())))
    else:
        _holding.check_counts(plan, found)

    def place(
        idents: list[np.ndarray], index: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        positions = idents[0].astype(np.int64)
        return _holding.in_order(positions, index), positions

    table = _holding.table(plan, found, 1, place)
    return Holding(plan, table, budget, None if table else none_fits(budget))


def by_key(
    ds: Any,
    label: Label,
    key: Label,
    budget: int,
    make_plan: Callable[[np.ndarray], Plan],
    progress: bool,
) -> tuple[Holding, np.ndarray]:
    """A stream keyed by a stable id: the pass that reads every (key, label)
    for the plan also collects the held samples. Returns the sorted keys too."""
    source = _keyed_source(ds, key)
    found = _holding.collect(source, label, budget, None, progress, keep_all=True)
    assert found.idents is not None and found.labels is not None
    keyed = _sorted_keys(found.idents, found.labels)
    plan = make_plan(keyed[1])
    sorted_keys = keyed[0]
    occurrence = _occurrences(plan)

    def place(
        idents: list[np.ndarray], index: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        values = _comparable(idents[0])
        ranks = np.searchsorted(sorted_keys, values)
        return occurrence[ranks], ranks.astype(np.int64)

    if budget and _holding.holdable(ds.element_spec, plan) is None:
        table = _holding.table(plan, found, 1, place)
    else:
        table = None
    reason = None if table else none_fits(budget)
    return Holding(plan, table, budget, reason), sorted_keys


def _keyed_source(ds: Any, key: Label) -> Any:
    from oversample._tf.labels import map_elements

    return map_elements(ds, lambda e: ((key.read(e),), e))


def _comparable(keys: np.ndarray) -> np.ndarray:
    return keys.astype(np.bytes_) if keys.dtype == object else keys


def _sorted_keys(
    idents: list[np.ndarray], labels: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Every sample's key, sorted, and its label in that order; keys unique."""
    from oversample._tf.labels import _python_array, _python_label
    from oversample._validation import describe

    if not idents:
        raise ValueError("`ds` is empty; there is nothing to plan.")
    all_keys = _comparable(np.concatenate(idents))
    order = np.argsort(all_keys, kind="stable")
    ordered = all_keys[order]
    repeated = np.flatnonzero(ordered[1:] == ordered[:-1])
    if repeated.size:
        shown = [_python_label(v) for v in ordered[repeated[:3]].tolist()]
        raise ValueError(
            f"`key` must be unique per sample; these keys repeat: {describe(shown)}."
        )
    return ordered, _python_array(labels)[order]


def _occurrences(plan: Plan) -> np.ndarray:
    """Each sample's occurrence in its class, in the plan's sample order."""
    counts = plan._counts
    occurrence = np.empty(plan.num_samples, np.int64)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    occurrence[plan._order] = np.arange(plan.num_samples) - starts
    return occurrence
