"""The mixture's schedule in the graph: which source gives each output,
piece by piece, mirroring `oversample.core.interleave`, with a guard that
refuses an iterator state saved from another mixture at the next piece."""

from __future__ import annotations

from typing import Any

from oversample.core.interleave import batch_counts
from oversample.core.mixture import Mixture
from oversample.core.settings import Settings
from oversample.tf import tf as _tf
from oversample.tf.checks import GUARD_MESSAGE


def _spread(counts: Any) -> Any:
    """One stratified batch's sources, spread out (`core.mixture.batch_order`)."""
    tf = _tf()
    owner = tf.repeat(tf.range(tf.size(counts, tf.int64), dtype=tf.int64), counts)
    starts = tf.repeat(tf.cumsum(counts) - counts, counts)
    j = tf.range(tf.size(owner, tf.int64), dtype=tf.int64) - starts
    points = (2.0 * tf.cast(j, tf.float64) + 1.0) / (
        2.0 * tf.cast(tf.gather(counts, owner), tf.float64)
    )
    order = tf.argsort(points, stable=True)
    return tf.data.Dataset.from_tensor_slices(tf.gather(owner, order))


def choices(
    found: Mixture, settings: Settings, stratified: int | None, config: int
) -> Any:
    """The source of every output: the schedule, piece by piece, per epoch."""
    tf = _tf()
    totals = tf.constant(found.targets, tf.float64)
    sources = tf.range(len(found.names), dtype=tf.int64)
    pieces = found.pieces()

    def first(piece: Any) -> Any:
        edge = tf.math.ceil(tf.cast(piece, tf.float64) / pieces * totals - 0.5)
        edge = tf.clip_by_value(edge, 0.0, totals)
        return tf.cast(tf.where(piece >= pieces, totals, edge), tf.int64)

    def piece_of(piece: Any) -> Any:
        low, high = first(piece), first(piece + 1)
        counts = high - low
        owner = tf.repeat(sources, counts)
        starts = tf.repeat(tf.cumsum(counts) - counts - low, counts)
        j = tf.range(tf.size(owner, tf.int64), dtype=tf.int64) - starts
        points = (2.0 * tf.cast(j, tf.float64) + 1.0) / (2.0 * tf.gather(totals, owner))
        order = tf.argsort(points, stable=True)
        return tf.data.Dataset.from_tensor_slices(tf.gather(owner, order))

    guard = tf.constant(config, tf.int64)
    if stratified is None:
        pieces_of = tf.data.Dataset.range(pieces)
        epoch = pieces_of.scan(guard, _guard(config)).flat_map(piece_of)
    else:
        table = tf.data.Dataset.from_tensor_slices(
            batch_counts(found.targets, stratified)
        )
        epoch = table.scan(guard, _guard(config)).flat_map(_spread)
    epochs = settings.epochs
    if epochs.streaming:
        epoch = epoch.repeat(epochs.stream) if epochs.stream else epoch.repeat()

    return epoch


def _guard(config: int) -> Any:
    """A scan step whose state is the configuration, once per piece of the
    schedule: a state restored from another mixture fails at the next piece."""
    tf = _tf()

    def check(saved: Any, piece: Any) -> Any:
        same = tf.debugging.Assert(tf.equal(saved, config), [GUARD_MESSAGE])
        with tf.control_dependencies([same]):
            return saved, tf.nest.map_structure(tf.identity, piece)

    return check
