"""The shard rule in NumPy: each sample's copies in one shard, from the
plan, the per-shard counts and the epoch alone. A sample's key is (shard,
position in the shard); its occurrence in its class is the class's count in
the earlier shards plus a running count inside the shard. What a reader of
one whole shard (a Ray task, a worker) needs to decide by itself."""

from __future__ import annotations

from typing import Any

import numpy as np

from oversample.core import rounding as _rounding
from oversample.core.validation import describe


def within(index: np.ndarray) -> np.ndarray:
    """For each entry, how many earlier entries hold the same value."""
    order = np.argsort(index, kind="stable")
    ordered = index[order]
    first = np.searchsorted(ordered, ordered, side="left")
    out = np.empty(index.size, np.int64)
    out[order] = np.arange(index.size) - first
    return out


def class_index(labels: np.ndarray, classes: tuple[Any, ...]) -> np.ndarray:
    """Each label's place in `classes`; a label not among them is refused."""
    column = {label: place for place, label in enumerate(classes)}
    index = np.asarray([column.get(v, -1) for v in labels.tolist()], np.int64)
    if (index < 0).any():
        shown = sorted({str(v) for v in labels[index < 0].tolist()})[:5]
        raise ValueError(
            "a label is not in the plan's classes (there is no default copy"
            f" count); unknown labels: {describe(shown)}."
        )
    return index


def shard_copies(
    plan: Any, counts: Any, place: int, labels: np.ndarray, epoch: int
) -> np.ndarray:
    """The copies in `epoch` of every sample of shard `place`, whose labels in
    file order are `labels`; a shard that differs from its counts is refused."""
    index = class_index(labels, counts.classes)
    seen = np.bincount(index, minlength=len(counts.classes))
    differs = np.flatnonzero(seen != counts.table[place])
    if differs.size:
        column = int(differs[0])
        raise ValueError(
            f"shard {place} ({counts.files[place]!r}) holds {int(seen[column])}"
            f" samples of class {counts.classes[column]!r} but"
            f" {int(counts.table[place, column])} were counted; count it again."
        )
    occurrence = counts.offsets[place, index] + within(index)
    keys = int(counts.starts[place]) + np.arange(labels.size, dtype=np.uint64)
    rule = plan._rule_at(epoch)
    return _rounding.copies_at(
        rule, plan.rounding, plan.seed, index, occurrence, keys, epoch
    )
