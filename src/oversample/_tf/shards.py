"""The tf.data executor over shards: `ovs.Shards` whose reader returns a
tf.data.Dataset per file. A sample's key is (shard, position in the shard);
see `oversample.shard_counts`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from oversample._choice import Choice
from oversample._copies import Copies
from oversample._settings import Settings
from oversample._tf import holding as _holding
from oversample._tf import labels as _labels
from oversample._tf import shard_source as _source
from oversample._tf import sharded as _sharded
from oversample._tf import spreading as _spreading
from oversample._tf.labels import Label, LabelSpec
from oversample._validation import describe
from oversample.plan import Plan
from oversample.shard_counts import ShardCounts, file_sizes
from oversample.shards import Shards


def count_labels(shards: Shards, label: LabelSpec, progress: bool) -> ShardCounts:
    """Labels per shard: files read in parallel, one label-only pass."""
    spec = _source.element_spec(shards)
    return _source.count(shards, _labels.resolve_label(spec, label), progress)


def duplicate(shards: Shards, form: Copies, **_: Any) -> Any:
    raise TypeError(
        "`duplicate` takes one stream (a tf.data.Dataset or an iterable); got"
        " Shards: use ovs.balance with per-class targets (strategy={label:"
        " target})."
    )


def balance(
    shards: Shards,
    label: LabelSpec,
    choice: Choice,
    settings: Settings,
    *,
    progress: bool,
    key: object,
) -> Any:
    """Decisions keyed by (shard, position in the shard); see `ovs.Shards`."""
    if key is not None:
        raise ValueError(
            "with `ovs.Shards` the key is (shard, position in the shard); `key=`"
            " does not apply."
        )
    spec = _source.element_spec(shards)
    resolved = _labels.resolve_label(spec, label)
    _source.check_source(shards, resolved, settings)
    counts, plan = choice.counts, choice.given_plan(with_counts=True)
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
    if counts is not None:
        plan = plan or choice.from_counts(counts.counts)
        _source.check_counts(shards, counts, plan)
    budget = settings.spread
    reason = _spread_problem(budget, spec, plan, resolved)
    if reason is None:
        holding, counts = by_shard(
            shards,
            resolved,
            budget,
            counts,
            plan,
            lambda found: choice.from_counts(found.counts),
            progress,
        )
    else:
        if counts is None:
            counts = _source.count(shards, resolved, progress)
            plan = choice.from_counts(counts.counts)
        assert plan is not None
        holding = _spreading.Holding(plan, None, budget, reason)
    return _sharded.balance(
        shards, resolved, holding.plan, counts, settings, spec, holding
    )


def _spread_problem(
    budget: int, spec: Any, plan: Plan | None, label: Label
) -> str | None:
    if not budget:
        return "spread=None"
    return _holding.holdable(spec, plan)


def by_shard(
    shards: Any,
    label: Label,
    budget: int,
    counts: Any,
    plan: Plan | None,
    make_plan: Callable[[Any], Plan],
    progress: bool,
) -> tuple[_spreading.Holding, Any]:
    """Sharded sources: one pass over every file collects the held samples
    (and counts per shard when no counts are given). Returns the counts too."""
    source = _source.keyed_source(shards)
    found = _holding.collect(source, label, budget, plan, progress, keep_all=True)
    assert found.idents is not None and found.labels is not None
    pairs: dict[tuple[int, int | str], int] = {}
    for places, labels in zip(found.idents, found.labels, strict=True):
        values, inverse = np.unique(labels, return_inverse=True)
        width = values.size
        cells, numbers = np.unique(
            places.astype(np.int64) * width + inverse.reshape(-1), return_counts=True
        )
        for cell, number in zip(cells.tolist(), numbers.tolist(), strict=True):
            value = values[cell % width].item()
            pair = (cell // width, value if plan is not None else _python_label(value))
            pairs[pair] = pairs.get(pair, 0) + number
    if not pairs:
        raise ValueError("the shards hold no element; there is nothing to count.")
    if counts is None:
        counts = ShardCounts.from_pairs(shards.files, pairs, file_sizes(shards.files))
        plan = make_plan(counts)
    else:
        assert plan is not None
        _check_shard_counts(shards, counts, pairs)

    def place(
        idents: list[np.ndarray], index: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        places, positions = (x.astype(np.int64) for x in idents)
        order = np.lexsort((positions, places, index))
        group = index[order] * len(shards.files) + places[order]
        first = np.searchsorted(group, group, side="left")
        within = np.empty(index.size, np.int64)
        within[order] = np.arange(index.size) - first
        occurrence = counts.offsets[places, index] + within
        return occurrence, counts.starts[places] + positions

    table = _holding.table(plan, found, 2, place)
    reason = None if table else _spreading.none_fits(budget)
    return _spreading.Holding(plan, table, budget, reason), counts


def _python_label(value: Any) -> int | str:
    return value.decode("utf-8") if isinstance(value, bytes) else int(value)


def _check_shard_counts(
    shards: Any, counts: Any, pairs: dict[tuple[int, int | str], int]
) -> None:
    """Refuses counts that the pass, which read every label, contradicts,
    naming the first shard and class that differ (`pairs` holds class indices)."""
    seen = np.zeros_like(counts.table)
    for (place, column), number in pairs.items():
        seen[place, int(column)] = number
    wrong = np.argwhere(seen != counts.table)
    if wrong.size:
        place, column = (int(v) for v in wrong[0])
        raise ValueError(
            f"shard {place} ({shards.files[place]!r}) holds {int(seen[place, column])}"
            f" samples of class {counts.classes[column]!r} but"
            f" {int(counts.table[place, column])} were counted; count it again."
        )
