"""Per-sample copy rules in TensorFlow, mirroring `oversample.core.rounding`.

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

from oversample.core import rounding as _rounding
from oversample.core import seeding as _seeding
from oversample.tf import tf as _tf

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


def hash_step(tf: Any, key: Any, sample: Any) -> Any:
    """Mirrors `_seeding.sample_hash(key, sample)`: `key` uint64, `sample` int."""
    golden = tf.constant(_seeding.GOLDEN64, tf.uint64)
    word = tf.bitcast(tf.cast(sample, tf.int64), tf.uint64) * golden
    return _mix64(tf, tf.bitwise.bitwise_xor(key, _mix64(tf, word)))


def sample_hash(seed: int, epoch: Any, key: Any) -> Any:
    """Mirrors `_seeding.sample_hash(_seeding.epoch_key(seed, epoch), key)`."""
    tf = _tf()
    base = tf.constant(_seeding.derive(seed, "stochastic"), tf.uint64)
    return hash_step(tf, hash_step(tf, base, epoch), key)


def copy_seeds(seed: int, epoch: Any, keys: Any, copies: Any) -> Any:
    """The augmentation seed of each copy as int64 [..., 2], ready for
    `tf.image.stateless_random_*`; the first word's bits are
    `_seeding.copy_seeds(seed, epoch, keys, copies)`, the second is mixed
    from it."""
    tf = _tf()
    base = tf.constant(_seeding.derive(seed, "copy-seed"), tf.uint64)
    word = hash_step(tf, hash_step(tf, hash_step(tf, base, epoch), keys), copies)
    golden = tf.constant(_seeding.GOLDEN64, tf.uint64)
    second = _mix64(tf, tf.bitwise.bitwise_xor(word, golden))
    return tf.bitcast(tf.stack([word, second], -1), tf.int64)


def marks_of(marking: Any, keys: Any, copies: Any, epoch: Any) -> dict[str, Any]:
    """The marks of `marking` (an `oversample.core.marks.Marking`) for copies
    of samples `keys` with copy indices `copies` in `epoch`."""
    out = {}
    if marking.provenance:
        out["key"], out["copy"] = keys, copies
    if marking.copy_seeds:
        out["seed"] = copy_seeds(marking.seed, epoch, keys, copies)
    return out


def int64(values: Any) -> Any:
    return _tf().constant(np.asarray(values, dtype=np.int64))


class Rule:
    """The interface.

    `uses_epoch` is False for rules without randomness; `by_position` is True
    when decisions depend on the source order; `keyed` is True when `sample`
    names samples by a stable id, whatever the order.
    """

    uses_epoch = False
    by_position = True
    keyed = False
    batched = False  # `read` also works on a block of elements

    def init_state(self) -> tuple[Any, ...]:
        return ()

    def read(self, element: Any, key: Any) -> Any:
        """The per-sample values `decide` needs, for one element or a block."""
        raise NotImplementedError

    def decide(
        self, values: Any, keys: Any, state: tuple[Any, ...], epoch: Any
    ) -> tuple[Any, Any, Any, tuple[Any, ...]]:
        """Vectors of (base copies, may get an extra, payload [n, 3]), new state;
        `epoch` (an int64 scalar) picks the targets of an epoch-dependent plan."""
        raise NotImplementedError

    def sample(self, values: Any, keys: Any) -> Any:
        """The plan's index of each sample, reported by `provenance`."""
        return keys

    def resolve(self, payload: Any, epoch: Any) -> Any:
        """True where the sample gets its extra copy in `epoch`."""
        return _tf().constant(False)


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
        self, values: Any, keys: Any, state: tuple[Any, ...], epoch: Any
    ) -> tuple[Any, Any, Any, tuple[Any, ...]]:
        tf = _tf()
        payload = tf.zeros([tf.size(keys), PAYLOAD], tf.int64)
        return values, tf.zeros_like(keys, tf.bool), payload, state


def fixed_from_weight(weight: Any) -> Any:
    """A factor in 32.32 fixed point, exactly as `rounding.to_fixed` computes it."""
    tf = _tf()
    weight = tf.cast(weight, tf.float64)
    return tf.cast(tf.math.rint(weight * float(_rounding.FIXED_ONE)), tf.int64)
