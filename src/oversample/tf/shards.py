"""The tf.data executor over shards: `ovs.Shards` whose reader returns a
tf.data.Dataset per file. A sample's key is (shard, position in the shard)
(see `oversample.core.shard_counts`): each file's copies are decided inside
that file's own pipeline from the per-shard counts, so any split of the files
over workers (tf.distribute FILE auto-sharding, the tf.data service) yields
exactly the plan's epoch in union. Also the per-shard counting pass, the
reader for the one preparation, and the checks of files and counts made
before any pipeline runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from oversample.core import seeding as _seeding
from oversample.core import states as _states
from oversample.core.keying import Keying
from oversample.core.plan import Plan
from oversample.core.prepare import Choice, Counted, Pairs, prepare, tally
from oversample.core.settings import Settings, agreed_epochs, auto_buffer
from oversample.core.shard_counts import ShardCounts
from oversample.shards import Shards
from oversample.tf import INT64_MAX, plain
from oversample.tf import source as _source
from oversample.tf import spread as _spread
from oversample.tf import tf as _tf
from oversample.tf.pipeline import Seeds, block_size, lay_out
from oversample.tf.rule import ShardRule, order_seed
from oversample.tf.source import Guard, Label, LabelSpec, element_bytes

SHARD_GUARD = (
    "oversample: this iterator state was saved from a sharded pipeline with"
    " another plan or other settings; restore it into the same configuration."
)


def count_labels(
    shards: Shards, label: LabelSpec, progress: bool, *, keying: Keying
) -> ShardCounts:
    """Labels per shard: files read in parallel, one label-only pass."""
    spec = element_spec(shards)
    return count(shards, _source.resolve_label(spec, label), progress)


def balance(
    shards: Shards,
    label: LabelSpec,
    choice: Choice,
    settings: Settings,
    *,
    keying: Keying,
    progress: bool,
) -> Any:
    """Decisions keyed by (shard, position in the shard); see `ovs.Shards`."""
    spec = element_spec(shards)
    resolved = _source.resolve_label(spec, label)
    check_shards(shards, resolved, settings)
    prepared = prepare(ShardReader(shards, resolved, spec), choice, settings, progress)
    counts = prepared.counts
    place = _spread.by_shard(counts, len(shards.files))
    holding = _spread.held(prepared, 2, place)
    return _pipeline(shards, resolved, prepared.plan, counts, settings, spec, holding)


class ShardReader:
    """`ovs.Shards` read into tf.data: a sample's key is (shard, position in
    the shard), files read in parallel."""

    sharded = True
    once = False

    def __init__(self, shards: Shards, label: Label, spec: Any) -> None:
        self.shards, self.label, self.spec = shards, label, spec

    def check(self, counts: ShardCounts | None, plan: Plan | None) -> None:
        if counts is not None:
            check_counts(self.shards, counts, plan)

    def unheld(self, plan: Plan | None) -> str | None:
        return _spread.holdable(self.spec)

    def count(self, progress: bool) -> Counted:
        counts = count(self.shards, self.label, progress)
        return Counted({}, shard_counts=counts)

    def collect(
        self, budget: int, plan: Plan | None, progress: bool
    ) -> tuple[_spread.Pass, Counted]:
        source = keyed_source(self.shards)
        found = _spread.collect(
            source, self.label, budget, plan, progress, keep_all=True
        )
        assert found.idents is not None and found.labels is not None
        pairs: Pairs = {}
        name = _source.python_label if plan is None else plan.classes.__getitem__
        for places, labels in zip(found.idents, found.labels, strict=True):
            tally(pairs, places, labels, name)
        if not pairs:
            raise ValueError("the shards hold no element; there is nothing to count.")
        files = self.shards.files
        counts = (
            ShardCounts.from_pairs(files, pairs, file_sizes(files))
            if plan is None
            else None
        )
        return found, Counted(pairs, shard_counts=counts)


# Reading the files.


def file_sizes(files: Sequence[str]) -> tuple[int, ...]:
    """Each file's size in bytes, through TensorFlow's file system (local or
    remote alike)."""
    gfile = _tf().io.gfile
    return tuple(int(gfile.stat(name).length) for name in files)


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
        plain(per_file),
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
    batches = _source.read_batches(labels, labels, "counting", progress)
    return shard_counts(shards, batches)


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
        batches = _source.label_batches(shards.read(name), label)
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


def shard_counts(shards: Shards, batches: Any) -> ShardCounts:
    """Adds up batches of (labels, shard place) into `ShardCounts`."""
    pairs: Pairs = {}
    for labels, place in batches:
        values = labels.numpy()
        places = np.full(values.shape[0], int(place), np.int64)
        tally(pairs, places, values, _source.python_label)
    if not pairs:
        raise ValueError("the shards hold no element; there is nothing to count.")
    return ShardCounts.from_pairs(shards.files, pairs, file_sizes(shards.files))


def check_shards(shards: Shards, label: Label, settings: Settings) -> None:
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


# The pipeline of each file.


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


def _pipeline(
    shards: Shards,
    label: Label,
    plan: Plan,
    counts: ShardCounts,
    settings: Settings,
    spec: Any,
    holding: _spread.Holding,
) -> Any:
    """files -> interleave(read, enumerate, blocks, decide, lay out, with the
    held copies each block owns) -> shuffle."""
    tf = _tf()
    epochs = epochs_of(settings)
    rule = ShardRule(plan, label, counts)
    seeds = Seeds.of(plan.seed, settings)
    marking = seeds.marking
    held = holding.held(rule, spec, seeds.held, marking, settings.epochs)
    samples = counts.num_samples
    key = None
    if shards.key is not None:
        key = _source.resolve_label(spec, shards.key, name="key")
        if key.dtype != tf.string or key.multi:
            raise TypeError(
                f"`key`={shards.key!r} must hold one tfds_id string per element;"
                f" it has dtype {key.dtype.name}."
            )
    size = element_bytes(spec)
    buffer = settings.shuffle_buffer
    if buffer is None:
        buffer = auto_buffer(max(plan.total_at(e) for e in epochs), size)
    identity = _states.plan_identity(plan, settings.epochs)
    fingerprints: tuple[object, ...] = (identity, counts.fingerprint)
    if held is not None:
        fingerprints = (*fingerprints, held.identity)
    config = _seeding.derive(0, "shards", *fingerprints, epochs, buffer) & INT64_MAX
    guard = Guard(config, SHARD_GUARD)
    order_base = seeds.order
    block = block_size(size) or 1
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
            checks = [guard.check(saved)]
            if key is not None:
                checks += check_ids(key.read(elements), where, base, positions)
            with tf.control_dependencies(checks):
                index = rule.index(values)
            copies, keys, seen = rule.decide_in_shard(
                shard, where, index, positions, seen, epoch
            )
            order = order_base if buffer else None
            if held is None:
                laid = lay_out(copies, elements, keys, order, marking, epoch)
                return (saved, seen), laid
            assert bounds is not None
            laid = lay_out(copies, elements, keys, None, marking, epoch)
            owned = held.in_range(epoch, bounds, keys[0], keys[-1] + 1, samples)
            block = tf.nest.map_structure(
                lambda a, b: tf.concat([a, b], 0), laid, owned
            )
            if order is not None:
                block = shuffled(block, order_seed(order, epoch, keys[0]))
            return (saved, seen), block

        source = shards.read(name)
        if not label.vectorised:
            source = _source.map_elements(
                source, lambda e: {"label": label.read(e), "element": e}
            )
        blocks = source.enumerate().batch(block)
        return blocks.scan(initial, plain(step))

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
        out = _spread.keep_one_copy(out)
    out.plan, out.shard_counts, out.spread = plan, counts, holding.report()
    return out


def shuffled(block: Any, order: Any) -> Any:
    """A block's rows in the stateless order of the seed `order`."""
    tf = _tf()
    rows = tf.shape(tf.nest.flatten(block)[0], out_type=tf.int64)[0]
    places = tf.random.experimental.stateless_shuffle(tf.range(rows), seed=order)
    return tf.nest.map_structure(lambda x: tf.gather(x, places), block)
