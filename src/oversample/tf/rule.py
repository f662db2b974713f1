"""The plan's copy rule in graph ops: the arrays of `Plan.rule` (see
`oversample.core.rule`) as constants and the same function of (class,
occurrence, epoch), by position, by a stable id, by (shard, position), per
sample weight, or as whole copies; and the counter-based hashes of the
stochastic rounding and the copy seeds.

A rule works in two steps. `read` takes what it needs from an element (or a
block of elements): a class index, a weight, a predicate's value. `decide`
turns a vector of those values into each sample's copies in an epoch (the
epoch an int64 scalar tensor, the copies a vector), updating the running
state (a count per class, a running sum), and names each sample by its key
in the plan.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from oversample.core import rule as _rule
from oversample.core import seeding as _seeding
from oversample.core.marks import Marking
from oversample.core.plan import Plan
from oversample.core.shard_counts import ShardCounts
from oversample.tf import INT64_MAX
from oversample.tf import tf as _tf
from oversample.tf.source import Label


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


def order_seed(base: int, epoch: Any, first: Any) -> Any:
    """The stateless seed (int64 [2]) that orders a block's copies: a hash of
    (`base`, epoch, the block's first key), `base` the plan seed's sub-stream
    for the order (`_seeding.derive(seed, "block-order")`)."""
    tf = _tf()
    word = hash_step(tf, hash_step(tf, tf.constant(base, tf.uint64), epoch), first)
    return tf.bitcast(tf.stack([word, _mix64(tf, word)]), tf.int64)


def copy_seeds(key: int, epoch: Any, keys: Any, copies: Any) -> Any:
    """The augmentation seed of each copy as int64 [..., 2], ready for
    `tf.image.stateless_random_*`; the first word's bits are
    `_seeding.copy_seeds(seed, epoch, keys, copies)` (`key` is the plan seed's
    `_seeding.copy_key`), the second is mixed from it."""
    tf = _tf()
    base = tf.constant(key, tf.uint64)
    word = hash_step(tf, hash_step(tf, hash_step(tf, base, epoch), keys), copies)
    golden = tf.constant(_seeding.GOLDEN64, tf.uint64)
    second = _mix64(tf, tf.bitwise.bitwise_xor(word, golden))
    return tf.bitcast(tf.stack([word, second], -1), tf.int64)


def marks_of(marking: Marking, keys: Any, copies: Any, epoch: Any) -> dict[str, Any]:
    """The marks of `marking` for copies of samples `keys` with copy indices
    `copies` in `epoch`."""
    out = {}
    if marking.provenance:
        out["key"], out["copy"] = keys, copies
    if marking.copy_seeds:
        out["seed"] = copy_seeds(marking.copy_key, epoch, keys, copies)
    return out


def int64(values: Any) -> Any:
    return _tf().constant(np.asarray(values, dtype=np.int64))


class Rule:
    """The interface every rule follows.

    `uses_epoch` is False for rules whose copies are the same in every epoch;
    `by_position` is True when decisions depend on the source order; `keyed`
    is True when samples are named by a stable id, whatever the order;
    `batched` when `read` also works on a block of elements.
    """

    uses_epoch = False
    by_position = True
    keyed = False
    batched = False

    def init_state(self) -> tuple[Any, ...]:
        return ()

    def read(self, element: Any, key: Any) -> Any:
        """The per-sample values `decide` needs, for one element or a block."""
        raise NotImplementedError

    def decide(
        self, values: Any, keys: Any, state: tuple[Any, ...], epoch: Any
    ) -> tuple[Any, Any, tuple[Any, ...]]:
        """(copies in `epoch`, each sample's key in the plan, new state) of a
        vector of samples at source positions `keys`."""
        raise NotImplementedError


# Classes.


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


def rank_among_equals(values: Any) -> Any:
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


class ClassCopies:
    """A plan's `ClassRule` in the graph: its arrays as constants and
    `EpochRule.copies` as graph ops, for any epoch (an int64 tensor)."""

    def __init__(self, rule: _rule.ClassRule) -> None:
        tf = _tf()
        self.rounding, self.seed = rule.rounding, rule.seed
        self.starts = int64(rule.starts)
        self.size = int64(rule.counts)
        self.base = int64(rule.base)
        self.extras = int64(rule.extras)
        self.ledger = int64(rule.ledger)
        self.mult = int64(rule.rank_mult)
        self.add = int64(rule.rank_add)
        self.threshold = tf.bitcast(tf.constant(rule.threshold, tf.uint64), tf.int64)

    def row(self, epoch: Any) -> Any:
        """The row of targets of `epoch` (an int64 scalar tensor)."""
        tf = _tf()
        found = tf.searchsorted(self.starts, tf.reshape(epoch, [1]), side="right")
        return tf.cast(found[0], tf.int64) - 1

    def __call__(self, index: Any, occurrence: Any, key: Any, epoch: Any) -> Any:
        """Copies in `epoch` of samples of classes `index` with these
        occurrences (and keys, for stochastic rounding); scalars or vectors."""
        tf = _tf()
        row = self.row(epoch)
        base = tf.gather(tf.gather(self.base, row), index)
        extras = tf.gather(tf.gather(self.extras, row), index)
        if self.rounding == "stochastic":
            threshold = tf.gather(tf.gather(self.threshold, row), index)
            draw = sample_hash(self.seed, epoch, key)
            extra = draw < tf.bitcast(threshold, tf.uint64)
        else:
            size = tf.gather(self.size, index)
            rank = tf.math.floormod(
                tf.gather(self.mult, index) * occurrence + tf.gather(self.add, index),
                size,
            )
            later = tf.math.floormod(epoch - tf.gather(self.starts, row), size)
            rotation = tf.math.floormod(
                tf.gather(tf.gather(self.ledger, row), index)
                + tf.math.floormod(later * extras, size),
                size,
            )
            extra = tf.math.floormod(rank - rotation, size) < extras
        return base + tf.cast(extra, tf.int64)


class ClassRule(Rule):
    """The plan's `ClassRule` keyed by source position: a running count per
    class gives each sample's occurrence."""

    uses_epoch = True

    def __init__(self, plan: Plan, label: Label) -> None:
        self.plan, self.label = plan, label
        self.batched = label.vectorised
        self.index = ClassIndex(plan.classes, label.dtype)
        self.rule = ClassCopies(plan.class_rule)
        self.size = self.rule.size
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

    def copies(
        self, index: Any, occurrence: Any, key: Any, epoch: Any, streamed: bool = True
    ) -> Any:
        """The plan's copies; a held sample streams none unless not `streamed`."""
        tf = _tf()
        copies = self.rule(index, occurrence, key, epoch)
        if self.held is None or not streamed:
            return copies
        return tf.where(tf.gather(self.held, index), tf.zeros_like(copies), copies)

    def decide(
        self, values: Any, keys: Any, state: tuple[Any, ...], epoch: Any
    ) -> tuple[Any, Any, tuple[Any, ...]]:
        tf = _tf()
        (seen,) = state
        index = values
        occurrence = tf.gather(seen, index) + rank_among_equals(index)
        seen = counted(
            seen,
            index,
            occurrence,
            tf.gather(self.size, index),
            [
                "oversample: the stream holds more samples of a class than the"
                " plan counted; class indices and planned counts:"
            ],
        )
        return self.copies(index, occurrence, keys, epoch), keys, (seen,)


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
        members = plan.members
        self.codes = int64(members.codes)
        self.occurrence = int64(members.occurrences)
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
    ) -> tuple[Any, Any, tuple[Any, ...]]:
        rank, index = values
        occurrence = _tf().gather(self.occurrence, rank)
        return self.copies(index, occurrence, rank, epoch), rank, state


class ShardRule(ClassRule):
    """Class rounding keyed by (shard, position within the shard): a sample's
    occurrence is its class's count in earlier shards plus its running count
    in its own shard."""

    def __init__(self, plan: Plan, label: Label, counts: ShardCounts) -> None:
        tf = _tf()
        super().__init__(plan, label)
        # NOTE: one (shards + 1, classes) table serves both the offsets (row s)
        # and the shard's counts (row s + 1 - row s); int32 while it fits, so
        # the graph carries 4 bytes per shard and class.
        bounds = np.vstack([counts.offsets, counts.table.sum(axis=0)])
        narrow = counts.num_samples < 2**31
        self.bounds = tf.constant(bounds, tf.int32 if narrow else tf.int64)
        self.starts = int64(counts.starts)

    def in_shard(self, place: Any) -> tuple[Any, Any, Any]:
        """A shard's per-class offsets and counts and its first sample index,
        looked up once per file."""
        tf = _tf()
        rows = tf.cast(tf.gather(self.bounds, [place, place + 1]), tf.int64)
        return rows[0], rows[1] - rows[0], tf.gather(self.starts, place)

    def decide_in_shard(
        self,
        shard: tuple[Any, Any, Any],
        where: list[Any],
        index: Any,
        positions: Any,
        seen: Any,
        epoch: Any,
    ) -> tuple[Any, Any, Any]:
        """(copies, plan's sample index, new running counts) of a block."""
        tf = _tf()
        offsets, sizes, start = shard
        within = tf.gather(seen, index) + rank_among_equals(index)
        seen = counted(
            seen,
            index,
            within,
            tf.gather(sizes, index),
            [
                *where,
                "holds more samples of a class than were counted; class indices"
                " and counted samples in this shard:",
            ],
        )
        keys = start + positions
        occurrence = tf.gather(offsets, index) + within
        return self.copies(index, occurrence, keys, epoch), keys, seen


# Per-sample weights.


def fixed_from_weight(weight: Any) -> Any:
    """A factor in 32.32 fixed point, exactly as `rule.to_fixed` computes it."""
    tf = _tf()
    weight = tf.cast(weight, tf.float64)
    return tf.cast(tf.math.rint(weight * float(_rule.FIXED_ONE)), tf.int64)


class WeightRule(Rule):
    """The plan's `WeightRule` in the graph: floor(w) plus systematic (or
    stochastic) extras, from a running sum of the fractions."""

    uses_epoch = True

    def __init__(
        self,
        plan: Plan,
        fixed_of: Callable[[Any, Any], Any],
        vectorised: bool = False,
    ) -> None:
        rule = plan.rule
        assert isinstance(rule, _rule.WeightRule)
        self.rule = rule
        self.fixed_of = fixed_of
        self.batched = vectorised

    def init_state(self) -> tuple[Any, ...]:
        return (_tf().constant(0, _tf().int64),)

    def read(self, element: Any, key: Any) -> Any:
        return self.fixed_of(element, key)

    def _offset(self, epoch: Any) -> Any:
        tf = _tf()
        rule = self.rule
        mask = tf.constant(_rule.FIXED_MASK, tf.uint64)
        epoch_low = tf.bitwise.bitwise_and(tf.cast(epoch, tf.uint64), mask)
        step = tf.bitwise.bitwise_and(
            tf.constant(rule.start, tf.uint64)
            + epoch_low * tf.constant(_rule.GOLDEN32, tf.uint64),
            mask,
        )
        offset = tf.constant(rule.low, tf.uint64) + step % tf.constant(
            rule.width, tf.uint64
        )
        return tf.cast(offset, tf.int64)

    def decide(
        self, values: Any, keys: Any, state: tuple[Any, ...], epoch: Any
    ) -> tuple[Any, Any, tuple[Any, ...]]:
        tf = _tf()
        (running,) = state
        whole = tf.bitwise.right_shift(values, tf.constant(32, tf.int64))
        fraction = tf.bitwise.bitwise_and(
            values, tf.constant(_rule.FIXED_MASK, tf.int64)
        )
        if self.rule.rounding == "stochastic":
            draw = tf.bitwise.right_shift(
                sample_hash(self.rule.seed, epoch, keys), tf.constant(32, tf.uint64)
            )
            extra = draw < tf.cast(fraction, tf.uint64)
        else:
            before = running + tf.cumsum(fraction, exclusive=True) + self._offset(epoch)
            high = tf.constant(32, tf.int64)
            crossed = tf.bitwise.right_shift(before + fraction, high) - (
                tf.bitwise.right_shift(before, high)
            )
            extra = crossed > 0
        copies = whole + tf.cast(extra, tf.int64)
        return copies, keys, (running + tf.reduce_sum(fraction),)


# Whole copies.


class WholeRule(Rule):
    """The plan's `WholeRule` in the graph: `factor` copies for every sample,
    for chosen positions or where the predicate holds, or per class from a
    table (classes it does not name keep one copy)."""

    def __init__(self, plan: Plan, label: Label | None) -> None:
        tf = _tf()
        rule = plan.rule
        assert isinstance(rule, _rule.WholeRule)
        self.selection = rule.selection
        self.many = tf.constant(rule.factor, tf.int64)
        self.by_position = rule.selection == "indices"
        self.batched = rule.selection != "where"
        if rule.selection == "where":
            self.where = rule.where
        elif rule.selection == "indices":
            assert rule.indices is not None
            self.chosen = tf.constant(rule.indices, tf.int64)
            self.none_chosen = rule.indices.size == 0
        elif rule.selection == "classes":
            assert rule.table is not None and label is not None
            if label.multi:
                raise ValueError(
                    "per-class `copies` read one class per element, but the label"
                    " is a list of labels; multi-label data plans with"
                    " ovs.RepeatFactor."
                )
            strings = isinstance(next(iter(rule.table)), str)
            if strings != (label.dtype == tf.string):
                raise TypeError(
                    f"`copies` keys are {'strings' if strings else 'ints'} but the"
                    f" label has dtype {label.dtype.name}."
                )
            self.label, self.strings = label, strings
            self.batched = label.vectorised
            self.table = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(
                    tf.constant(list(rule.table), tf.string if strings else tf.int64),
                    tf.constant(list(rule.table.values()), tf.int64),
                ),
                default_value=1,
            )

    def read(self, element: Any, key: Any) -> Any:
        tf = _tf()
        one = tf.ones_like(key)
        if self.selection == "where":
            assert self.where is not None
            return tf.where(self.where(element), self.many, 1) * one
        if self.selection == "indices":
            if self.none_chosen:
                return one
            flat = tf.reshape(key, [-1])
            last = tf.size(self.chosen, out_type=tf.int64) - 1
            slot = tf.minimum(
                tf.searchsorted(self.chosen, flat, out_type=tf.int64), last
            )
            hit = tf.reshape(tf.gather(self.chosen, slot) == flat, tf.shape(key))
            return tf.where(hit, self.many, 1)
        if self.selection == "classes":
            value = self.label.read(element)
            return self.table.lookup(
                value if self.strings else tf.cast(value, tf.int64)
            )
        return self.many * one

    def decide(
        self, values: Any, keys: Any, state: tuple[Any, ...], epoch: Any
    ) -> tuple[Any, Any, tuple[Any, ...]]:
        return values, keys, state


def plan_rule(plan: Plan, label: Label | None) -> Rule:
    """The rule that carries out `plan` in one stream: a class plan keyed by
    source position, per-sample weights, or whole copies."""
    tf = _tf()
    rule = plan.rule
    if isinstance(rule, _rule.WholeRule):
        return WholeRule(plan, label)
    if isinstance(rule, _rule.ClassRule):
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
    if rule.class_factors is not None:
        if label is None or not label.multi:
            raise ValueError(
                "this multi-label plan needs `label=` selecting a list of labels per"
                " element."
            )
        index = ClassIndex(plan.classes, label.dtype)
        factors = tf.constant(rule.class_factors, tf.float64)
        read = label.read

        def sample_factor(element: Any, key: Any) -> Any:
            labels = read(element)
            if isinstance(labels, tf.RaggedTensor):
                labels = labels.flat_values
            held = tf.gather(factors, index(labels))
            return fixed_from_weight(tf.reduce_max(tf.concat([[1.0], held], 0)))

        return WeightRule(plan, sample_factor)
    fixed = tf.constant(rule.fixed, tf.int64)
    return WeightRule(plan, lambda element, key: tf.gather(fixed, key), vectorised=True)
