"""Class rules in TensorFlow: the plan's class of each label, and exact or
stochastic class rounding keyed by position or by a stable id."""

from __future__ import annotations

from typing import Any

import numpy as np

from oversample.core.plan import Plan
from oversample.tf import INT64_MAX
from oversample.tf import tf as _tf
from oversample.tf.labels import Label
from oversample.tf.rule import Rule, int64, sample_hash


class ClassIndex:
    """Maps a label tensor to the plan's class index; refuses unknown labels."""

    def __init__(self, classes: tuple[int | str, ...], dtype: Any) -> None:
        tf = _tf()
        strings = isinstance(classes[0], str)
        if strings != (dtype == tf.string):
            kind = "strings" if strings else "ints"
            raise TypeError(
                f"the plan's classes are {kind} but the label has dtype {dtype.name}."
            )
        if not strings and max(int(c) for c in classes) > INT64_MAX:
            raise ValueError("tf.data labels above 2**63 - 1 are not supported.")
        key_dtype = tf.string if strings else tf.int64
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(list(classes), key_dtype),
                tf.range(len(classes), dtype=tf.int64),
            ),
            default_value=-1,
        )

    def __call__(self, label: Any) -> Any:
        tf = _tf()
        if label.dtype == tf.uint64:
            label = tf.bitcast(label, tf.int64)
            wide = tf.debugging.assert_non_negative(
                label, message="oversample: a uint64 label is above 2**63 - 1"
            )
            with tf.control_dependencies([wide]):
                label = tf.identity(label)
        elif label.dtype != tf.string:
            label = tf.cast(label, tf.int64)
        index = self.table.lookup(label)
        unknown = tf.reshape(index < 0, [-1])
        known = tf.debugging.Assert(
            tf.logical_not(tf.reduce_any(unknown)),
            [
                "oversample: a label is not in the plan's classes (there is no"
                " default copy count); unknown labels:",
                tf.boolean_mask(tf.reshape(label, [-1]), unknown),
            ],
        )
        with tf.control_dependencies([known]):
            return tf.identity(index)


def _rank_among_equals(values: Any) -> Any:
    """For each entry, how many earlier entries of the vector hold the same value."""
    tf = _tf()
    order = tf.argsort(values, stable=True)
    ordered = tf.gather(values, order)
    first = tf.searchsorted(ordered, ordered, side="left", out_type=tf.int64)
    within = tf.range(tf.size(values, out_type=tf.int64)) - first
    return tf.scatter_nd(order[:, None], within, tf.shape(values))


def counted(seen: Any, index: Any, within: Any, limit: Any, message: list[Any]) -> Any:
    """The running count per class after a block of class indices, once every
    sample's occurrence `within` is checked to stay below its `limit` (else an
    error of `message`, the class indices and the limits)."""
    tf = _tf()
    check = tf.debugging.Assert(tf.reduce_all(within < limit), [*message, index, limit])
    size = tf.size(seen)
    with tf.control_dependencies([check]):
        added = tf.math.bincount(
            tf.cast(index, tf.int32), minlength=size, maxlength=size, dtype=tf.int64
        )
    return seen + added


class ClassRule(Rule):
    """Exact or stochastic class rounding from a plan's per-class rule."""

    uses_epoch = True

    def __init__(self, plan: Plan, label: Label) -> None:
        tf = _tf()
        # NOTE: one row per epoch of an epoch-dependent plan (the last row holds
        # for every later epoch); a single row otherwise. Sizes, multipliers
        # and offsets do not depend on the targets, so every row shares them.
        rows = 1 if plan._schedule is None else len(plan._schedule)
        rules = [plan._rule_at(row) for row in range(rows)]
        self.plan, self.label = plan, label
        self.batched = label.vectorised
        self.index = ClassIndex(plan.classes, label.dtype)
        self.last_row = rows - 1
        self.size = int64(rules[0].size)
        self.base = int64(np.stack([r.base for r in rules]))
        self.extra = int64(np.stack([r.extra for r in rules]))
        self.mult = int64(rules[0].mult)
        self.offset = int64(rules[0].offset)
        thresholds = np.stack([r.threshold for r in rules])
        self.threshold = tf.bitcast(tf.constant(thresholds, tf.uint64), tf.int64)
        self.held: Any = None  # per class: True when held for the spread

    def hold(self, classes: np.ndarray) -> None:
        """Streams no copy of the samples of these classes (a bool per class):
        their copies are placed over the epoch from memory instead."""
        self.held = _tf().constant(classes, _tf().bool)

    def init_state(self) -> tuple[Any, ...]:
        tf = _tf()
        return (tf.zeros([len(self.plan.classes)], tf.int64),)

    def read(self, element: Any, key: Any) -> Any:
        return self.index(self.label.read(element))

    def _copies(
        self, index: Any, occurrence: Any, key: Any, epoch: Any, streamed: bool = True
    ) -> tuple[Any, Any, Any]:
        """Base copies, candidacy and payload; works on scalars and vectors.
        A held sample streams no copy unless `streamed` is False."""
        tf = _tf()
        base, candidate, payload = self._plan_copies(index, occurrence, key, epoch)
        if self.held is None or not streamed:
            return base, candidate, payload
        streams = tf.logical_not(tf.gather(self.held, index))
        base = tf.where(streams, base, tf.zeros_like(base))
        return base, tf.logical_and(candidate, streams), payload

    def _plan_copies(
        self, index: Any, occurrence: Any, key: Any, epoch: Any
    ) -> tuple[Any, Any, Any]:
        tf = _tf()
        row = tf.minimum(epoch, self.last_row)
        extra = tf.gather(tf.gather(self.extra, row), index)
        if self.plan.rounding == "stochastic":
            threshold = tf.gather(tf.gather(self.threshold, row), index)
            payload = tf.stack([key, threshold, tf.zeros_like(key)], axis=-1)
        else:
            size = tf.gather(self.size, index)
            rank = tf.math.floormod(
                tf.gather(self.mult, index) * occurrence
                + tf.gather(self.offset, index),
                size,
            )
            payload = tf.stack([rank, size, extra], axis=-1)
        return tf.gather(tf.gather(self.base, row), index), extra > 0, payload

    def decide(
        self, values: Any, keys: Any, state: tuple[Any, ...], epoch: Any
    ) -> tuple[Any, Any, Any, tuple[Any, ...]]:
        tf = _tf()
        (seen,) = state
        index = values
        occurrence = tf.gather(seen, index) + _rank_among_equals(index)
        size = tf.gather(self.size, index)
        seen = counted(
            seen,
            index,
            occurrence,
            size,
            [
                "oversample: the stream holds more samples of a class than the"
                " plan counted; class indices and planned counts:"
            ],
        )
        return (*self._copies(index, occurrence, keys, epoch), (seen,))

    def resolve(self, payload: Any, epoch: Any) -> Any:
        tf = _tf()
        if self.plan.rounding == "stochastic":
            draw = sample_hash(self.plan.seed, epoch, payload[..., 0])
            return draw < tf.bitcast(payload[..., 1], tf.uint64)
        rank, size, extra = payload[..., 0], payload[..., 1], payload[..., 2]
        shift = tf.math.floormod(tf.math.floormod(epoch, size) * extra, size)
        return tf.math.floormod(rank - shift, size) < extra


class KeyedClassRule(ClassRule):
    """Class rounding keyed by a stable per-sample id instead of the position.

    The plan's sample i is the sample with the i-th smallest key; a table maps
    each key to that rank, so the source may come in any order.
    """

    by_position = False
    keyed = True

    def __init__(self, plan: Plan, label: Label, key: Label, keys: np.ndarray) -> None:
        tf = _tf()
        super().__init__(plan, label)
        assert plan._codes is not None
        self.key = key
        strings = keys.dtype.kind in "SUO"
        if strings != (key.dtype == tf.string):
            raise TypeError(f"`key` values have dtype {key.dtype.name}.")
        self.ranks = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(keys, tf.string if strings else tf.int64),
                tf.range(keys.size, dtype=tf.int64),
            ),
            default_value=-1,
        )
        self.strings = strings
        counts = plan._counts
        occurrence = np.empty(keys.size, np.int64)
        starts = np.repeat(np.cumsum(counts) - counts, counts)
        occurrence[plan._order] = np.arange(keys.size) - starts
        self.codes = int64(plan._codes)
        self.occurrence = int64(occurrence)
        self.batched = label.vectorised and key.vectorised

    def init_state(self) -> tuple[Any, ...]:
        return ()

    def read(self, element: Any, key: Any) -> Any:
        """(rank of the sample's key, its class index), checked against the plan."""
        tf = _tf()
        value = self.key.read(element)
        if not self.strings:
            value = tf.cast(value, tf.int64)
        rank = self.ranks.lookup(value)
        found = tf.debugging.Assert(
            tf.reduce_all(rank >= 0),
            ["oversample: this key was not seen when the plan was made; key:", value],
        )
        with tf.control_dependencies([found]):
            index = tf.gather(self.codes, rank)
        same = tf.debugging.Assert(
            tf.reduce_all(tf.equal(self.index(self.label.read(element)), index)),
            ["oversample: a sample's label changed since its key was counted"],
        )
        with tf.control_dependencies([same]):
            return tf.identity(rank), tf.identity(index)

    def decide(
        self, values: Any, keys: Any, state: tuple[Any, ...], epoch: Any
    ) -> tuple[Any, Any, Any, tuple[Any, ...]]:
        rank, index = values
        occurrence = _tf().gather(self.occurrence, rank)
        return (*self._copies(index, occurrence, rank, epoch), state)

    def sample(self, values: Any, keys: Any) -> Any:
        return values[0]
