"""The tf.data executor over shards: counting per shard, and copies decided
inside each file's own pipeline from (shard, position within the shard)."""

from __future__ import annotations

from typing import Any

import numpy as np

from oversample import _seeding
from oversample._tf import INT64_MAX
from oversample._tf import labels as _labels
from oversample._tf import tf as _tf
from oversample._tf.class_rules import ClassRule, _rank_among_equals, counted
from oversample._tf.labels import Label
from oversample._tf.pipeline import _block_size, _plain, lay_out
from oversample._tf.rule import int64
from oversample._tf.settings import Settings, auto_buffer, element_bytes
from oversample._tf.spreading import Holding
from oversample.plan import Plan
from oversample.shard_counts import ShardCounts, file_sizes
from oversample.shards import Shards

_GUARD = (
    "oversample: this iterator state was saved from a sharded pipeline with"
    " another plan or other settings; restore it into the same configuration."
)


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


def _interleave(shards: Shards, root: Any, per_file: Any, ordered: bool) -> Any:
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

    return _interleave(shards, root, per_file, ordered=False)


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

    return _interleave(shards, root, per_file, ordered=False)


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


def check_source(shards: Shards, label: Label, settings: Settings) -> None:
    """What a sharded pipeline needs, checked before any file is read."""
    _check_one_label(label)
    _epochs_of(settings)


def check_counts(shards: Shards, counts: ShardCounts, plan: Plan | None) -> None:
    """The counts are of these files, unchanged, and the plan of these counts."""
    counts.check_files(shards.files, file_sizes(shards.files))
    if plan is not None:
        counts.check_plan(plan)


def _epochs_of(settings: Settings) -> list[int]:
    epochs = settings.epochs
    if epochs.fixed is not None:
        return [epochs.fixed]
    if epochs.stream is not None:
        return list(range(epochs.stream))
    raise ValueError(
        "with shards every worker must decide the same epoch: give `epoch=k` (the"
        " same k on every worker, e.g. one per fit) or `epochs=E`; without them"
        " each worker would draw its own random epoch, and endless epochs are"
        " not supported."
    )


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
    epochs = _epochs_of(settings)
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
    fingerprints = (plan.fingerprint, counts.fingerprint)
    if held is not None:
        fingerprints = (*fingerprints, held.identity)
    config = _seeding.derive(0, "shards", *fingerprints, epochs, buffer) & INT64_MAX
    block = _block_size(size) or 1
    block_seed = _seeding.derive(plan.seed, "block-order") & INT64_MAX
    provenance = settings.provenance
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
                laid = lay_out(copies, elements, keys, order_seed, provenance)
                return (saved, seen), laid
            laid = lay_out(copies, elements, keys, None, provenance)
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
    out = _interleave(shards, root, per_file, ordered=True).unbatch()
    if buffer:
        out = out.shuffle(
            buffer,
            seed=_seeding.derive(plan.seed, "shard-shuffle", epochs) & INT64_MAX,
            reshuffle_each_iteration=False,
        )
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
