"""Per-sample copy rules in TensorFlow, mirroring `oversample.rounding`.

A rule works in three steps. `read` takes what it needs from an element (or a
block of elements): a class index, a weight, a copy count. `decide` turns a
vector of those values into each sample's sure copies, whether it may get one
extra copy, and a small int64 payload, updating the running state (a count per
class, a running sum). `resolve(payload, epoch)` says whether the extra copy is
taken in that epoch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from oversample import _seeding
from oversample import rounding as _rounding
from oversample._tf import tf as _tf
from oversample._tf.labels import Label
from oversample.plan import Plan

INT64_MAX = 2**63 - 1
PAYLOAD = 3


def _mix64(tf: Any, z: Any) -> Any:
    """splitmix64's finaliser on uint64 tensors; mirrors `_seeding.mix64`."""
    shift = tf.bitwise.right_shift
    xor = tf.bitwise.bitwise_xor
    z = xor(z, shift(z, tf.constant(30, tf.uint64)))
    z = z * tf.constant(0xBF58476D1CE4E5B9, tf.uint64)
    z = xor(z, shift(z, tf.constant(27, tf.uint64)))
    z = z * tf.constant(0x94D049BB133111EB, tf.uint64)
    return xor(z, shift(z, tf.constant(31, tf.uint64)))


def sample_hash(seed: int, epoch: Any, key: Any) -> Any:
    """Mirrors `_seeding.sample_hash(_seeding.epoch_key(seed, epoch), key)`."""
    tf = _tf()
    golden = tf.constant(_seeding.GOLDEN64, tf.uint64)
    xor = tf.bitwise.bitwise_xor
    base = tf.constant(_seeding.derive(seed, "stochastic"), tf.uint64)
    epoch_word = tf.bitcast(tf.cast(epoch, tf.int64), tf.uint64) * golden
    epoch_key = _mix64(tf, xor(base, _mix64(tf, epoch_word)))
    key_word = tf.bitcast(tf.cast(key, tf.int64), tf.uint64) * golden
    return _mix64(tf, xor(epoch_key, _mix64(tf, key_word)))


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


def _int64(values: Any) -> Any:
    return _tf().constant(np.asarray(values, dtype=np.int64))


class Rule:
    """The interface.

    `uses_epoch` is False for rules without randomness; `by_position` is True
    when decisions depend on the source order.
    """

    uses_epoch = False
    by_position = True
    batched = False  # `read` also works on a block of elements

    def init_state(self) -> tuple[Any, ...]:
        return ()

    def read(self, element: Any, key: Any) -> Any:
        """The per-sample values `decide` needs, for one element or a block."""
        raise NotImplementedError

    def decide(
        self, values: Any, keys: Any, state: tuple[Any, ...]
    ) -> tuple[Any, Any, Any, tuple[Any, ...]]:
        """Vectors of (base copies, may get an extra, payload [n, 3]), new state."""
        raise NotImplementedError

    def sample(self, values: Any, keys: Any) -> Any:
        """The plan's index of each sample, reported by `provenance`."""
        return keys

    def resolve(self, payload: Any, epoch: Any) -> Any:
        """True where the sample gets its extra copy in `epoch`."""
        return _tf().constant(False)


class ClassRule(Rule):
    """Exact or stochastic class rounding from a plan's per-class rule."""

    uses_epoch = True

    def __init__(self, plan: Plan, label: Label) -> None:
        tf = _tf()
        rule = plan._rule
        self.plan, self.label = plan, label
        self.batched = label.vectorised
        self.index = ClassIndex(plan.classes, label.dtype)
        self.size = _int64(rule.size)
        self.base = _int64(rule.base)
        self.extra = _int64(rule.extra)
        self.mult = _int64(rule.mult)
        self.offset = _int64(rule.offset)
        self.threshold = tf.bitcast(tf.constant(rule.threshold, tf.uint64), tf.int64)

    def init_state(self) -> tuple[Any, ...]:
        tf = _tf()
        return (tf.zeros([len(self.plan.classes)], tf.int64),)

    def read(self, element: Any, key: Any) -> Any:
        return self.index(self.label.read(element))

    def _copies(self, index: Any, occurrence: Any, key: Any) -> tuple[Any, Any, Any]:
        """Base copies, candidacy and payload; works on scalars and vectors."""
        tf = _tf()
        extra = tf.gather(self.extra, index)
        if self.plan.rounding == "stochastic":
            threshold = tf.gather(self.threshold, index)
            payload = tf.stack([key, threshold, tf.zeros_like(key)], axis=-1)
        else:
            size = tf.gather(self.size, index)
            rank = tf.math.floormod(
                tf.gather(self.mult, index) * occurrence
                + tf.gather(self.offset, index),
                size,
            )
            payload = tf.stack([rank, size, extra], axis=-1)
        return tf.gather(self.base, index), extra > 0, payload

    def decide(
        self, values: Any, keys: Any, state: tuple[Any, ...]
    ) -> tuple[Any, Any, Any, tuple[Any, ...]]:
        tf = _tf()
        (seen,) = state
        index = values
        occurrence = tf.gather(seen, index) + _rank_among_equals(index)
        size = tf.gather(self.size, index)
        within = tf.debugging.Assert(
            tf.reduce_all(occurrence < size),
            [
                "oversample: the stream holds more samples of a class than the plan"
                " counted; class indices and planned counts:",
                index,
                size,
            ],
        )
        with tf.control_dependencies([within]):
            seen = seen + tf.math.bincount(
                tf.cast(index, tf.int32),
                minlength=tf.size(seen),
                maxlength=tf.size(seen),
                dtype=tf.int64,
            )
        return (*self._copies(index, occurrence, keys), (seen,))

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
        self.codes = _int64(plan._codes)
        self.occurrence = _int64(occurrence)
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
        self, values: Any, keys: Any, state: tuple[Any, ...]
    ) -> tuple[Any, Any, Any, tuple[Any, ...]]:
        rank, index = values
        occurrence = _tf().gather(self.occurrence, rank)
        return (*self._copies(index, occurrence, rank), state)

    def sample(self, values: Any, keys: Any) -> Any:
        return values[0]


class WeightRule(Rule):
    """Weight rounding: floor(w) plus systematic (or stochastic) extras."""

    uses_epoch = True

    def __init__(
        self,
        plan: Plan,
        fixed_of: Callable[[Any, Any], Any],
        vectorised: bool = False,
    ) -> None:
        assert plan._fixed is not None
        self.plan = plan
        self.rule = _rounding.weight_rule(plan.seed, plan._fixed)
        self.fixed_of = fixed_of
        self.batched = vectorised

    def init_state(self) -> tuple[Any, ...]:
        return (_tf().constant(0, _tf().int64),)

    def read(self, element: Any, key: Any) -> Any:
        return self.fixed_of(element, key)

    def decide(
        self, values: Any, keys: Any, state: tuple[Any, ...]
    ) -> tuple[Any, Any, Any, tuple[Any, ...]]:
        tf = _tf()
        (running,) = state
        whole = tf.bitwise.right_shift(values, tf.constant(32, tf.int64))
        fraction = tf.bitwise.bitwise_and(
            values, tf.constant(_rounding.FIXED_MASK, tf.int64)
        )
        before = running + tf.cumsum(fraction, exclusive=True)
        first = keys if self.plan.rounding == "stochastic" else before
        payload = tf.stack([first, fraction, tf.zeros_like(fraction)], axis=-1)
        return whole, fraction > 0, payload, (running + tf.reduce_sum(fraction),)

    def _offset(self, epoch: Any) -> Any:
        tf = _tf()
        rule = self.rule
        mask = tf.constant(_rounding.FIXED_MASK, tf.uint64)
        epoch_low = tf.bitwise.bitwise_and(tf.cast(epoch, tf.uint64), mask)
        step = tf.bitwise.bitwise_and(
            tf.constant(rule.start, tf.uint64)
            + epoch_low * tf.constant(_rounding.GOLDEN32, tf.uint64),
            mask,
        )
        offset = tf.constant(rule.low, tf.uint64) + step % tf.constant(
            rule.width, tf.uint64
        )
        return tf.cast(offset, tf.int64)

    def resolve(self, payload: Any, epoch: Any) -> Any:
        tf = _tf()
        fraction = payload[..., 1]
        if self.plan.rounding == "stochastic":
            draw = tf.bitwise.right_shift(
                sample_hash(self.plan.seed, epoch, payload[..., 0]),
                tf.constant(32, tf.uint64),
            )
            return draw < tf.cast(fraction, tf.uint64)
        before = payload[..., 0] + self._offset(epoch)
        high = tf.constant(32, tf.int64)
        crossed = tf.bitwise.right_shift(before + fraction, high) - (
            tf.bitwise.right_shift(before, high)
        )
        return crossed > 0


class FixedRule(Rule):
    """Whole-number copies from a fixed rule (`duplicate`): no plan, no epoch."""

    def __init__(
        self,
        copies_of: Callable[[Any, Any], Any],
        by_position: bool = False,
        vectorised: bool = False,
    ) -> None:
        self.copies_of = copies_of
        self.by_position = by_position
        self.batched = vectorised

    def read(self, element: Any, key: Any) -> Any:
        return self.copies_of(element, key) + _tf().zeros_like(key)

    def decide(
        self, values: Any, keys: Any, state: tuple[Any, ...]
    ) -> tuple[Any, Any, Any, tuple[Any, ...]]:
        tf = _tf()
        payload = tf.zeros([tf.size(keys), PAYLOAD], tf.int64)
        return values, tf.zeros_like(keys, tf.bool), payload, state


def fixed_from_weight(weight: Any) -> Any:
    """A factor in 32.32 fixed point, exactly as `rounding.to_fixed` computes it."""
    tf = _tf()
    weight = tf.cast(weight, tf.float64)
    return tf.cast(tf.math.rint(weight * float(_rounding.FIXED_ONE)), tf.int64)


def plan_rule(plan: Plan, label: Label | None) -> Rule:
    """The rule that carries out `plan`, keyed by source position."""
    tf = _tf()
    if plan.kind == "classes":
        if label is None:
            raise ValueError(
                "a class plan needs `label=` to read each element's class."
            )
        if label.multi:
            raise ValueError(
                "this plan has one class per sample, but the label is a list of"
                " labels; multi-label data plans with ovs.RepeatFactor."
            )
        return ClassRule(plan, label)
    if plan._class_factors is not None:
        if label is None or not label.multi:
            raise ValueError(
                "this multi-label plan needs `label=` selecting a list of labels per"
                " element."
            )
        index = ClassIndex(plan.classes, label.dtype)
        factors = tf.constant(plan._class_factors, tf.float64)
        read = label.read

        def sample_factor(element: Any, key: Any) -> Any:
            labels = read(element)
            if isinstance(labels, tf.RaggedTensor):
                labels = labels.flat_values
            held = tf.gather(factors, index(labels))
            return fixed_from_weight(tf.reduce_max(tf.concat([[1.0], held], 0)))

        return WeightRule(plan, sample_factor)
    assert plan._fixed is not None
    fixed = tf.constant(plan._fixed, tf.int64)
    return WeightRule(plan, lambda element, key: tf.gather(fixed, key), vectorised=True)
