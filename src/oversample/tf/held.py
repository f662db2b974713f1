"""Held samples in the graph: the copies of each epoch in a global seeded
order, merged into one stream or emitted by the blocks of a sharded one.

Epoch e's held copies are H = the sum of the plan's copies of the held
samples (the same class rule as the stream, so nothing else decides copies).
Held slot j in [0, H) takes copy h = index_shuffle(j) of the multiset, a
stateless keyed permutation, so any slot is computed alone: no state, no
order, nothing to checkpoint but a position.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from oversample.core import seeding as _seeding
from oversample.core.marks import Marking
from oversample.core.settings import Epochs
from oversample.tf import INT64_MAX
from oversample.tf import tf as _tf
from oversample.tf.checks import GUARD_MESSAGE
from oversample.tf.class_rules import ClassRule
from oversample.tf.holding import Table
from oversample.tf.rule import int64, marks_of

HELD_BLOCK = 1024
PICK_BLOCK = 4096


def _constant(array: np.ndarray) -> Any:
    """A tensor of `array`; numeric arrays share their (aligned) memory."""
    tf = _tf()
    if array.dtype == object:
        return tf.constant(
            array.tolist() if array.size else np.zeros(array.shape, bytes)
        )
    if array.ctypes.data % 64 or not array.flags.c_contiguous:
        return tf.constant(array)
    # NOTE: no copy: the held rows were collected into 64-byte aligned buffers
    # so that the budget, not twice the budget, is what they cost.
    return tf.experimental.dlpack.from_dlpack(array.__dlpack__())


class Held:
    """The held samples of a pipeline, as tensors, and their copies per epoch."""

    def __init__(
        self,
        rule: ClassRule,
        table: Table,
        spec: Any,
        marking: Marking,
        totals: list[int],
        held_totals: list[int],
        drain: int = 0,
    ) -> None:
        tf = _tf()
        self.rule, self.table, self.marking = rule, table, marking
        seed = marking.seed
        leaves = [_constant(leaf) for leaf in table.leaves]
        self.elements = tf.nest.pack_sequence_as(spec, leaves)
        self.rows = int64(table.rows)
        self.index = int64(table.index)
        self.occurrence = int64(table.occurrence)
        self.keys = int64(table.keys)
        self.seed = _seeding.derive(seed, "held") & INT64_MAX
        self.totals = int64(totals)  # elements per schedule row (expected, if random)
        self.expected = int(held_totals[0])  # held copies in epoch 0 (expected)
        self.drain = drain  # streamed elements one iteration yields, at most
        self.streams_rest = not bool(table.classes.all())
        self.identity = _seeding.derive(
            0, "held", table.classes.tobytes(), table.keys.tobytes(), table.bytes
        )

    def copies(self, epoch: Any) -> Any:
        """Each held sample's copies in `epoch`, by the plan's class rule."""
        tf = _tf()
        base, candidate, payload = self.rule._copies(
            self.index, self.occurrence, self.keys, epoch, streamed=False
        )
        extra = tf.logical_and(candidate, self.rule.resolve(payload, epoch))
        return base + tf.cast(extra, tf.int64)

    def bounds(self, epoch: Any) -> tuple[Any, Any, Any]:
        """(first copy of each sample, end of each, H) in `epoch`'s multiset."""
        tf = _tf()
        copies = self.copies(epoch)
        ends = tf.cumsum(copies)
        return ends - copies, ends, ends[-1]

    def take(self, slots: Any, epoch: Any, bounds: tuple[Any, Any, Any]) -> Any:
        """The held copies at `slots` of `epoch` (with the marks asked for)."""
        tf = _tf()
        starts, ends, total = bounds
        seed = tf.stack([tf.constant(self.seed, tf.int64), epoch])
        # NOTE: index_shuffle refuses an empty vector (a block of a shard may
        # own no slot), so one slot is added and its result dropped.
        padded = tf.concat([slots, tf.zeros([1], tf.int64)], 0)
        copy = tf.random.experimental.index_shuffle(padded, seed, total - 1)[:-1]
        row = tf.searchsorted(ends, copy, side="right", out_type=tf.int64)
        stored = tf.gather(self.rows, row)
        out = tf.nest.map_structure(lambda x: tf.gather(x, stored), self.elements)
        if not self.marking.wanted:
            return out
        keys, number = tf.gather(self.keys, row), copy - tf.gather(starts, row)
        return out, marks_of(self.marking, keys, number, epoch)

    def in_range(
        self,
        epoch: Any,
        bounds: tuple[Any, Any, Any],
        first: Any,
        end: Any,
        samples: int,
    ) -> Any:
        """The held copies owned by the samples [first, end) of an epoch of
        `samples`: slots floor(H k / samples) for k in that range. Every range
        of a partition of [0, samples) owns its own slots, so readers of
        disjoint ranges emit every slot once."""
        tf = _tf()
        total = bounds[2]
        low = _scaled(first, total, samples)
        high = _scaled(end, total, samples)
        return self.take(tf.range(low, high, dtype=tf.int64), epoch, bounds)

    # One stream: a held branch merged with the streamed one.

    def _epochs(self, epochs: Epochs, draw_seed: int) -> Any:
        """A dataset of the epochs one iteration covers, as the stream's scan
        finds them (the same per-iteration draw in the fresh-epoch mode)."""
        tf = _tf()
        if epochs.fixed is not None:
            return tf.data.Dataset.from_tensors(tf.constant(epochs.fixed, tf.int64))
        if epochs.streaming:
            return tf.data.Dataset.range(epochs.stream or INT64_MAX)
        draws = tf.data.Dataset.random(seed=draw_seed, rerandomize_each_iteration=True)
        return draws.take(1).map(_plain(lambda draw: draw % (2**31)))

    def _held_epoch(self, epoch: Any) -> Any:
        tf = _tf()
        bounds = self.bounds(epoch)
        slots = tf.data.Dataset.range(bounds[2]).batch(HELD_BLOCK)
        return slots.map(_plain(lambda block: self.take(block, epoch, bounds)))

    def _picks_epoch(self, epoch: Any) -> Any:
        """1 where the epoch's output takes a held copy, 0 a streamed element:
        the held copies evenly among the epoch's positions."""
        tf = _tf()
        total = tf.reduce_sum(self.copies(epoch))
        length = tf.gather(self.totals, tf.minimum(epoch, self.totals.shape[0] - 1))
        length = tf.maximum(length, total)

        def picks(positions: Any) -> Any:
            return _scaled(positions + 1, total, length) - _scaled(
                positions, total, length
            )

        return tf.data.Dataset.range(length).batch(PICK_BLOCK).map(_plain(picks))

    def merge(self, stream: Any, epochs: Epochs, draw_seed: int, config: int) -> Any:
        """The stream with the held copies placed among its elements; the held
        copies alone when nothing else streams."""
        tf = _tf()

        def guard(saved: Any, block: Any) -> Any:
            same = tf.debugging.Assert(tf.equal(saved, config), [GUARD_MESSAGE])
            with tf.control_dependencies([same]):
                return saved, tf.nest.map_structure(tf.identity, block)

        held = self._epochs(epochs, draw_seed).flat_map(_plain(self._held_epoch))
        # NOTE: whole blocks are prefetched, so that gathering held copies runs
        # beside reading the stream rather than in the consumer's thread; the
        # guard comes after, so that a restored state is checked at once.
        held = held.prefetch(2).scan(tf.constant(config, tf.int64), _plain(guard))
        held = held.unbatch()
        if stream is None:
            return held
        # NOTE: after the last epoch, alternating picks drain whatever is left
        # (a stochastic epoch streams more or fewer elements than expected);
        # an exhausted branch is skipped, so nothing is lost or repeated. The
        # drain is finite: restored from a checkpoint, choose_from_datasets can
        # miscount its exhausted inputs and would otherwise never end.
        drain = tf.data.Dataset.from_tensor_slices(tf.constant([0, 1], tf.int64))
        picks = self._epochs(epochs, draw_seed).flat_map(_plain(self._picks_epoch))
        picks = picks.unbatch()
        picks = picks.concatenate(drain.repeat(self.drain + 1))
        return tf.data.Dataset.choose_from_datasets(
            [stream, held], picks, stop_on_empty_dataset=False
        )


def keep_one_copy(ds: Any) -> Any:
    """Turns off tf.data's default static optimizations, which rewrite the
    graph and so copy every captured tensor: the held samples would take twice
    their bytes (measured: 941 against 815 MiB peak for 129 MiB held, and no
    slower without them). Autotuning stays on."""
    options = _tf().data.Options()
    options.experimental_optimization.apply_default_optimizations = False
    return ds.with_options(options)


def _plain(fn: Any) -> Any:
    """No autograph conversion: these functions have no Python control flow."""
    return _tf().autograph.experimental.do_not_convert(fn)


def _scaled(k: Any, total: Any, samples: Any) -> Any:
    """floor(total * k / samples) without overflow for totals and k below 2**31,
    and through float64 beyond (a rounded slot is drained at the end)."""
    tf = _tf()
    k = tf.cast(k, tf.int64)
    exact = tf.math.floordiv(k * total, samples)
    ratio = tf.cast(total, tf.float64) / tf.cast(samples, tf.float64)
    rounded = tf.cast(tf.math.floor(tf.cast(k, tf.float64) * ratio), tf.int64)
    small = tf.logical_and(total < 2**31, tf.reduce_max(k) < 2**31)
    return tf.where(k >= samples, total, tf.where(small, exact, rounded))
