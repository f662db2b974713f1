"""The shard rule in NumPy: each sample's copies in one shard, from the
plan, the per-shard counts and the epoch alone. A sample's key is (shard,
position in the shard); its occurrence in its class is the class's count in
the earlier shards plus a running count inside the shard. What a reader of
one whole shard (a Ray task, a worker) needs to decide by itself."""

from __future__ import annotations

from typing import Any

import numpy as np

from oversample.core.labels import ClassIndex
from oversample.core.prepare import check_counts


def within(index: np.ndarray) -> np.ndarray:
    """For each entry, how many earlier entries hold the same value."""
    order = np.argsort(index, kind="stable")
    ordered = index[order]
    first = np.searchsorted(ordered, ordered, side="left")
    out = np.empty(index.size, np.int64)
    out[order] = np.arange(index.size) - first
    return out


def shard_copies(
    plan: Any, counts: Any, place: int, labels: np.ndarray, epoch: int
) -> np.ndarray:
    """The copies in `epoch` of every sample of shard `place`, whose labels in
    file order are `labels`; a shard that differs from its counts is refused."""
    index = ClassIndex(counts.classes)(labels)
    seen = np.bincount(index, minlength=len(counts.classes))
    where = f"shard {place} ({counts.files[place]!r})"
    check_counts(counts.classes, counts.table[place], seen, where)
    occurrence = counts.offsets[place, index] + within(index)
    keys = int(counts.starts[place]) + np.arange(labels.size, dtype=np.uint64)
    return plan.class_rule.copies(index, occurrence, epoch, keys)
