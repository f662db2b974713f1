"""The sharded tf.data pipeline: copies decided inside each file's own
pipeline from (shard, position within the shard) and the per-shard counts."""

from __future__ import annotations

from typing import Any

import numpy as np

from oversample.core import seeding as _seeding
from oversample.core.plan import Plan
from oversample.core.settings import Settings, auto_buffer
from oversample.core.shard_counts import ShardCounts
from oversample.shards import Shards
from oversample.tf import INT64_MAX
from oversample.tf import labels as _labels
from oversample.tf import tf as _tf
from oversample.tf.checks import element_bytes
from oversample.tf.class_rules import ClassRule, _rank_among_equals, counted
from oversample.tf.held import keep_one_copy
from oversample.tf.labels import Label
from oversample.tf.pipeline import _block_size, _plain, lay_out
from oversample.tf.rule import int64
from oversample.tf.shard_source import epochs_of, interleave
from oversample.tf.spreading import Holding

_GUARD = (
    "oversample: this iterator state was saved from a sharded pipeline with"
    " another plan or other settings; restore it into the same configuration."
)


class ShardRule(ClassRule):
    """Class rounding keyed by (shard, position within the shard)."""

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
        within = tf.gather(seen, index) + _rank_among_equals(index)
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
        copies, candidate, payload = self._copies(index, occurrence, keys, epoch)
        extra = tf.logical_and(candidate, self.resolve(payload, epoch))
        return copies + tf.cast(extra, tf.int64), keys, seen


def check_ids(ids: Any, where: list[Any], base: Any, positions: Any) -> Any:
    """Checks a block's tfds_ids ("<file>__<record>") against the name `base`
    of the file being read and the records' places in it; returns the checks
    to depend on."""
    tf = _tf()
    parses = tf.strings.regex_full_match(ids, r".+__[0-9]+")
    parsed = tf.debugging.Assert(
        tf.reduce_all(parses),
        [
            *where,
            "holds a tfds_id that does not parse as <file>__<record>:",
            tf.boolean_mask(ids, tf.logical_not(parses)),
        ],
    )
    with tf.control_dependencies([parsed]):
        files = tf.strings.regex_replace(ids, "__[0-9]+$", "")
        records = tf.strings.to_number(
            tf.strings.regex_replace(ids, "^.*__", ""), tf.int64
        )
    other = tf.not_equal(files, base)
    same_file = tf.debugging.Assert(
        tf.logical_not(tf.reduce_any(other)),
        [*where, "holds records of another file:", tf.boolean_mask(ids, other)],
    )
    in_order = tf.debugging.Assert(
        tf.reduce_all(tf.equal(records, positions)),
        [
            *where,
            "yields records out of order (tfds_ids, then places):",
            ids,
            positions,
        ],
    )
    return [parsed, same_file, in_order]


def balance(
    shards: Shards,
    label: Label,
    plan: Plan,
    counts: ShardCounts,
    settings: Settings,
    spec: Any,
    holding: Holding,
) -> Any:
    """files -> interleave(read, enumerate, blocks, decide, lay out, with the
    held copies each block owns) -> shuffle."""
    tf = _tf()
    epochs = epochs_of(settings)
    rule = ShardRule(plan, label, counts)
    held = holding.held(rule, spec, plan.seed, settings)
    samples = counts.num_samples
    key = None
    if shards.key is not None:
        key = _labels.resolve_label(spec, shards.key, name="key")
        if key.dtype != tf.string or key.multi:
            raise TypeError(
                f"`key`={shards.key!r} must hold one tfds_id string per element;"
                f" it has dtype {key.dtype.name}."
            )
    size = element_bytes(spec)
    buffer = settings.shuffle_buffer
    if buffer is None:
        buffer = auto_buffer(max(plan.total_at(e) for e in epochs), size)
    fingerprints: tuple[object, ...] = (plan.fingerprint, counts.fingerprint)
    if held is not None:
        fingerprints = (*fingerprints, held.identity)
    config = _seeding.derive(0, "shards", *fingerprints, epochs, buffer) & INT64_MAX
    block = _block_size(size) or 1
    block_seed = _seeding.derive(plan.seed, "block-order") & INT64_MAX
    marking = settings.marking(plan.seed)
    places = [p for _ in epochs for p in shards.places]
    root = tf.data.Dataset.from_tensor_slices(
        (
            tf.constant(np.repeat(epochs, len(shards.places)), tf.int64),
            tf.constant(places, tf.int64),
            [shards.files[p] for p in places],
        )
    )

    def per_file(epoch: Any, place: Any, name: Any) -> Any:
        initial = (tf.constant(config, tf.int64), rule.init_state()[0])
        shard, where = rule.in_shard(place), ["oversample: shard", place, name]
        base = tf.strings.regex_replace(name, ".*/", "")
        bounds = None if held is None else held.bounds(epoch)

        def step(state: Any, item: Any) -> Any:
            saved, seen = state
            positions, elements = item
            if label.vectorised:
                values = label.read(elements)
            else:
                values, elements = elements["label"], elements["element"]
            checks = [tf.debugging.Assert(tf.equal(saved, config), [_GUARD])]
            if key is not None:
                checks += check_ids(key.read(elements), where, base, positions)
            with tf.control_dependencies(checks):
                index = rule.index(values)
            copies, keys, seen = rule.decide_in_shard(
                shard, where, index, positions, seen, epoch
            )
            order_seed = None
            if buffer:
                order_seed = tf.stack([block_seed, epoch * 1_000_003 + keys[0]])
            if held is None:
                laid = lay_out(copies, elements, keys, order_seed, marking, epoch)
                return (saved, seen), laid
            assert bounds is not None
            laid = lay_out(copies, elements, keys, None, marking, epoch)
            owned = held.in_range(epoch, bounds, keys[0], keys[-1] + 1, samples)
            block = tf.nest.map_structure(
                lambda a, b: tf.concat([a, b], 0), laid, owned
            )
            return (saved, seen), shuffled(block, order_seed)

        source = shards.read(name)
        if not label.vectorised:
            source = _labels.map_elements(
                source, lambda e: {"label": label.read(e), "element": e}
            )
        blocks = source.enumerate().batch(block)
        return blocks.scan(initial, _plain(step))

    # NOTE: the interleave moves whole blocks of laid-out copies, and unbatching
    # after it costs one step per element once instead of once per stage.
    out = interleave(shards, root, per_file, ordered=True).unbatch()
    if buffer:
        out = out.shuffle(
            buffer,
            seed=_seeding.derive(plan.seed, "shard-shuffle", epochs) & INT64_MAX,
            reshuffle_each_iteration=False,
        )
    if held is not None:
        out = keep_one_copy(out)
    out.plan, out.shard_counts, out.spread = plan, counts, holding.report()
    return out


def shuffled(block: Any, order_seed: Any) -> Any:
    """A block's rows in a stateless seeded order (as laid out, without a seed)."""
    tf = _tf()
    if order_seed is None:
        return block
    rows = tf.shape(tf.nest.flatten(block)[0], out_type=tf.int64)[0]
    order = tf.random.experimental.stateless_shuffle(tf.range(rows), seed=order_seed)
    return tf.nest.map_structure(lambda x: tf.gather(x, order), block)
