"""The readers of tf.data sources for the one preparation (`oversample.core.prepare`):
one stream keyed by position, one stream keyed by a stable id, and shards."""

from __future__ import annotations

from typing import Any

import numpy as np

from oversample.core.plan import Plan
from oversample.core.prepare import Counted, Pairs, Prepared
from oversample.core.shard_counts import ShardCounts, file_sizes
from oversample.core.validation import describe
from oversample.shards import Shards
from oversample.tf import checks as _checks
from oversample.tf import holding as _holding
from oversample.tf import labels as _labels
from oversample.tf import rules as _rules
from oversample.tf import shard_source as _source
from oversample.tf import spreading as _spreading
from oversample.tf.class_rules import KeyedClassRule
from oversample.tf.labels import Label
from oversample.tf.rule import Rule


class StreamReader:
    """One stream, keyed by its position: the order must not change."""

    sharded = False
    once = False

    def __init__(self, ds: Any, label: Label, what: str = "balance") -> None:
        self.ds, self.label, self.what = ds, label, what

    def check(self, counts: Any, plan: Plan | None) -> None:
        planned = None if plan is None else plan.num_samples
        _checks.check_source(self.ds, planned, "per-sample decisions")

    def unheld(self, plan: Plan | None) -> str | None:
        if self.label.multi:
            return "multi-label elements take per-sample factors"
        return _holding.holdable(self.ds.element_spec)

    def count(self, progress: bool) -> Counted:
        _labels.check_finite(self.ds, self.what)
        counted = _labels.count(self.ds, self.label, progress)
        pairs: Pairs = {(0, label): n for label, n in counted.counts.items()}
        return Counted(pairs, labels=counted.rows, multi=self.label.multi)

    def place(self, prepared: Prepared) -> _spreading.Place:
        """How a held sample finds its occurrence and key."""
        return _spreading.by_position

    def rule(self, prepared: Prepared) -> Rule:
        """The rule that carries the plan out in the stream."""
        return _rules.plan_rule(prepared.plan, self.label)

    def collect(
        self, budget: int, plan: Plan | None, progress: bool
    ) -> tuple[_holding.Pass, Counted]:
        ds = self.ds
        _labels.check_finite(ds, self.what)
        found = _holding.collect(
            ds, self.label, budget, plan, progress, positional=True
        )
        return found, Counted(_seen_pairs(found, plan, int(ds.cardinality())))


class KeyedReader(StreamReader):
    """One stream keyed by a stable id (`key=`): any order, the plan's sample
    i the i-th key in sorted order."""

    def __init__(self, ds: Any, label: Label, key: object) -> None:
        if label.multi:
            raise ValueError("`key=` supports one label per element.")
        resolved = _labels.resolve_label(ds.element_spec, key, name="key")
        if resolved.multi:
            raise ValueError("`key` must be a scalar id per element.")
        super().__init__(ds, label)
        self.key = resolved

    def check(self, counts: Any, plan: Plan | None) -> None:
        if counts is not None or plan is not None:
            raise ValueError(
                "`key=` reads every key in its own pass to rank the samples; it"
                " does not combine with `counts=` or `plan=`."
            )
        _labels.check_finite(self.ds, self.what)

    def place(self, prepared: Prepared) -> _spreading.Place:
        assert prepared.counted is not None
        return _spreading.by_key(prepared.plan, prepared.counted.keys)

    def rule(self, prepared: Prepared) -> Rule:
        assert prepared.counted is not None
        keys = prepared.counted.keys
        return KeyedClassRule(prepared.plan, self.label, self.key, keys)

    def count(self, progress: bool) -> Counted:
        keyed = _labels.collect_keyed(self.ds, self.label, self.key, progress)
        return Counted({}, labels=keyed.labels, keys=keyed.keys)

    def collect(
        self, budget: int, plan: Plan | None, progress: bool
    ) -> tuple[_holding.Pass, Counted]:
        source = _labels.map_elements(self.ds, lambda e: ((self.key.read(e),), e))
        found = _holding.collect(
            source, self.label, budget, None, progress, keep_all=True
        )
        assert found.idents is not None and found.labels is not None
        keys, labels = _sorted_keys(found.idents, found.labels)
        return found, Counted({}, labels=labels, keys=keys)


class ShardReader:
    """`ovs.Shards` read into tf.data: a sample's key is (shard, position in
    the shard), files read in parallel."""

    sharded = True
    once = False

    def __init__(self, shards: Shards, label: Label, spec: Any) -> None:
        self.shards, self.label, self.spec = shards, label, spec

    def check(self, counts: ShardCounts | None, plan: Plan | None) -> None:
        if counts is not None:
            _source.check_counts(self.shards, counts, plan)

    def unheld(self, plan: Plan | None) -> str | None:
        return _holding.holdable(self.spec)

    def count(self, progress: bool) -> Counted:
        counts = _source.count(self.shards, self.label, progress)
        return Counted({}, shard_counts=counts)

    def collect(
        self, budget: int, plan: Plan | None, progress: bool
    ) -> tuple[_holding.Pass, Counted]:
        source = _source.keyed_source(self.shards)
        found = _holding.collect(
            source, self.label, budget, plan, progress, keep_all=True
        )
        assert found.idents is not None and found.labels is not None
        pairs: Pairs = {}
        for places, labels in zip(found.idents, found.labels, strict=True):
            values, inverse = np.unique(labels, return_inverse=True)
            width = values.size
            cells, numbers = np.unique(
                places.astype(np.int64) * width + inverse.reshape(-1),
                return_counts=True,
            )
            for cell, number in zip(cells.tolist(), numbers.tolist(), strict=True):
                value = values[cell % width].item()
                label = (
                    _labels._python_label(value)
                    if plan is None
                    else plan.classes[int(value)]
                )
                pair = (cell // width, label)
                pairs[pair] = pairs.get(pair, 0) + number
        if not pairs:
            raise ValueError("the shards hold no element; there is nothing to count.")
        files = self.shards.files
        counts = (
            ShardCounts.from_pairs(files, pairs, file_sizes(files))
            if plan is None
            else None
        )
        return found, Counted(pairs, shard_counts=counts)


def _seen_pairs(found: _holding.Pass, plan: Plan | None, cardinality: int) -> Pairs:
    """The labels a positional collecting read counted (by class index when a
    plan told the read its classes)."""
    if plan is None:
        counts = _holding.counts_of(found, cardinality)
        return {(0, label): n for label, n in counts.items()}
    seen = found.collector.counts
    return {(0, label): int(seen[c]) for c, label in enumerate(plan.classes)}


def _sorted_keys(
    idents: list[np.ndarray], labels: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Every sample's key, sorted, and its label in that order; keys unique."""
    if not idents:
        raise ValueError("`ds` is empty; there is nothing to plan.")
    all_keys = _spreading.comparable(np.concatenate(idents))
    order = np.argsort(all_keys, kind="stable")
    ordered = all_keys[order]
    repeated = np.flatnonzero(ordered[1:] == ordered[:-1])
    if repeated.size:
        shown = [_labels._python_label(v) for v in ordered[repeated[:3]].tolist()]
        raise ValueError(
            f"`key` must be unique per sample; these keys repeat: {describe(shown)}."
        )
    return ordered, _labels._python_array(labels)[order]
