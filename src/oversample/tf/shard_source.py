"""Reading shards into tf.data: the files interleaved, the per-shard label
count, and the checks of files and counts made before any pipeline runs."""

from __future__ import annotations

from typing import Any

import numpy as np

from oversample.core.plan import Plan
from oversample.core.settings import Settings, agreed_epochs
from oversample.core.shard_counts import ShardCounts, file_sizes
from oversample.shards import Shards
from oversample.tf import labels as _labels
from oversample.tf import tf as _tf
from oversample.tf.labels import Label
from oversample.tf.pipeline import _plain


def element_spec(shards: Shards) -> Any:
    """The spec of what `read` yields, from the first file (nothing is read)."""
    tf = _tf()
    probe = shards.read(tf.constant(shards.files[shards.places[0]]))
    if not isinstance(probe, tf.data.Dataset):
        raise TypeError(
            "`read` must return a tf.data.Dataset for a file name; it returned a"
            f" {type(probe).__name__}."
        )
    return probe.element_spec


def interleave(shards: Shards, root: Any, per_file: Any, ordered: bool) -> Any:
    tf = _tf()
    return root.interleave(
        _plain(per_file),
        cycle_length=shards.cycle_length or tf.data.AUTOTUNE,
        num_parallel_calls=shards.num_parallel_calls or tf.data.AUTOTUNE,
        deterministic=shards.deterministic if ordered else False,
    )


def _check_one_label(label: Label) -> None:
    if label.multi:
        raise ValueError(
            "sharded sources take one label per element; multi-label data needs"
            " one source (ovs.balance(ds, strategy=ovs.RepeatFactor(t)))."
        )


def count(shards: Shards, label: Label, progress: bool) -> ShardCounts:
    """Labels per shard: files read in parallel, one label-only pass."""
    labels = count_dataset(shards, label)
    batches = _labels._batches(labels, labels, "counting", progress)
    return tally(shards, batches)


def count_dataset(shards: Shards, label: Label) -> Any:
    """Batches of (labels, shard place), files read in parallel: the counting
    pass as a dataset (the tf.data service can run it)."""
    tf = _tf()
    _check_one_label(label)
    if shards.selected is not None:
        raise ValueError(
            "count the whole file list (not `shards.shard(...)`): every worker's"
            " decisions use the counts of all shards."
        )
    places = list(shards.places)
    root = tf.data.Dataset.from_tensor_slices(
        (tf.constant(places, tf.int64), [shards.files[p] for p in places])
    )

    def per_file(place: Any, name: Any) -> Any:
        batches = _labels.label_batches(shards.read(name), label)
        return batches.map(lambda labels: (labels, place))

    return interleave(shards, root, per_file, ordered=False)


def keyed_source(shards: Shards) -> Any:
    """((shard place, position in the shard), element) of every file, files
    read in parallel: what the pass that collects held samples reads. Every
    file, also for a reader of `shards.shard(...)`: held copies are emitted by
    whichever block owns their slots, so every reader holds all of them."""
    tf = _tf()
    places = list(range(len(shards.files)))
    root = tf.data.Dataset.from_tensor_slices(
        (tf.constant(places, tf.int64), [shards.files[p] for p in places])
    )

    def per_file(place: Any, name: Any) -> Any:
        return (
            shards.read(name)
            .enumerate()
            .map(lambda position, element: ((place, position), element))
        )

    return interleave(shards, root, per_file, ordered=False)


def tally(shards: Shards, batches: Any) -> ShardCounts:
    """Adds up batches of (labels, shard place) into `ShardCounts`."""
    pairs: dict[tuple[int, int | str], int] = {}
    for labels, place in batches:
        values, numbers = np.unique(labels.numpy(), return_counts=True)
        for value, number in zip(values.tolist(), numbers.tolist(), strict=True):
            key = (int(place), _labels._python_label(value))
            pairs[key] = pairs.get(key, 0) + int(number)
    if not pairs:
        raise ValueError("the shards hold no element; there is nothing to count.")
    return ShardCounts.from_pairs(shards.files, pairs, file_sizes(shards.files))


def check_source(shards: Shards, label: Label, settings: Settings) -> None:
    """What a sharded pipeline needs, checked before any file is read."""
    _check_one_label(label)
    epochs_of(settings)


def check_counts(shards: Shards, counts: ShardCounts, plan: Plan | None) -> None:
    """The counts are of these files, unchanged, and the plan of these counts."""
    counts.check_files(shards.files, file_sizes(shards.files))
    if plan is not None:
        counts.check_plan(plan)


def epochs_of(settings: Settings) -> list[int]:
    return agreed_epochs(settings.epochs, "with shards every worker")
