"""The tf.data executor of a mixture: several datasets in, one dataset out.

Each source is read in passes: in epoch t, pass j of source s keeps the
samples whose copies (the plan's rule for class s at their position) exceed
j, so a sample's copies lie a source-epoch apart and a rate below 1 reads the
source once and keeps its share. The sources are interleaved by the mixture's
schedule (`oversample.core.interleave`), computed in the graph piece by piece
(or batch by batch, stratified), through `choose_from_datasets`. No
`py_function`, no stateful RNG: iterators checkpoint, and a guard refuses a
state saved from another mixture.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from oversample.core import seeding as _seeding
from oversample.core import states as _states
from oversample.core.interleave import PIECE, batch_counts
from oversample.core.mixture import Mixture, plan_mixture
from oversample.core.settings import Settings, auto_buffer
from oversample.tf import INT64_MAX, plain
from oversample.tf import source as _source
from oversample.tf import tf as _tf
from oversample.tf.pipeline import run
from oversample.tf.rule import ClassCopies, ClassRule, int64, marks_of
from oversample.tf.source import Guard, Label, element_bytes, order_problem

__all__ = ["mix"]

BLOCK = 1024  # source elements decided at a time (fixed shapes)


def sizes(sources: dict[str, Any]) -> dict[str, int]:
    """Each dataset's size: its cardinality, or one counting pass when unknown."""
    tf = _tf()
    found = {}
    first_name, first = next(iter(sources.items()))
    for name, ds in sources.items():
        if not isinstance(ds, tf.data.Dataset):
            raise TypeError(
                f"`sources[{name!r}]` must be a tf.data.Dataset like"
                f" `sources[{first_name!r}]`; got {type(ds).__name__}. A mixture"
                " takes one kind of source."
            )
        _check_structure(name, ds, first_name, first)
        size = int(ds.cardinality())
        if size == int(tf.data.INFINITE_CARDINALITY):
            raise ValueError(
                f"`sources[{name!r}]` is infinite; a mixture needs finite sources"
                " (its rate counts epochs of each)."
            )
        if size < 0:
            size = int(ds.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))
        found[name] = size
    return found


def _check_structure(name: str, ds: Any, first_name: str, first: Any) -> None:
    tf = _tf()
    try:
        tf.nest.assert_same_structure(ds.element_spec, first.element_spec)
        same = all(
            a.dtype == b.dtype
            for a, b in zip(
                tf.nest.flatten(ds.element_spec),
                tf.nest.flatten(first.element_spec),
                strict=True,
            )
        )
    except (TypeError, ValueError):
        same = False
    if not same:
        raise TypeError(
            f"`sources[{name!r}]` has elements {ds.element_spec}, unlike"
            f" `sources[{first_name!r}]` ({first.element_spec}); mixed sources"
            " must share one element structure and dtypes (map them to one first)."
        )


def mix(
    sources: dict[str, Any],
    rates: Any,
    samples: Any,
    seed: int | None,
    settings: Settings,
    stratified: int | None,
    balance: Any = None,
) -> Any:
    """One dataset of the sources mixed at their exact rates."""
    tf = _tf()

    labels: dict[str, Label] = {}  # each source balanced inside: its label

    def count(name: str, label: Any) -> Any:
        ds = sources[name]
        _source.check_finite(ds, "count_labels")
        labels[name] = _source.resolve_label(ds.element_spec, label)
        return _source.count(ds, labels[name], False).counts

    found = plan_mixture(
        sizes(sources), rates, samples, seed, balance, count, stratified
    )
    epochs = settings.epochs
    identity = _states.plan_identity(found.plan, epochs)
    if settings.copy_seeds:
        _check_order(sources, found)
    parts = (epochs, stratified, settings.shuffle_buffer, settings.copy_seeds)
    config = _seeding.derive(0, "mixture", identity, *parts) & INT64_MAX
    streams = _Sources(sources, found, settings, labels)
    each = [streams.stream(i, sources[name]) for i, name in enumerate(found.names)]
    choice = choices(found, streams.copies_of, settings, stratified, config)
    out = tf.data.Dataset.choose_from_datasets(each, choice)
    # NOTE: a prefetch that tf.data injects would be saved with its buffered
    # choices and restored without their guard, so that a state restored into
    # another mixture would run on for a batch (or piece) more before it is
    # refused; without it the refusal comes at the next batch (or piece).
    options = tf.data.Options()
    options.experimental_optimization.inject_prefetch = False
    out = out.with_options(options)
    plan = found.plan
    total = plan.total_at(epochs.fixed or 0)
    if epochs.streaming:
        total = (
            int(tf.data.INFINITE_CARDINALITY)
            if epochs.stream is None
            else sum(plan.total_at(epoch) for epoch in range(epochs.stream))
        )
    out = out.apply(tf.data.experimental.assert_cardinality(total))
    out.plan = found.plan
    out.mixture = found
    return out


def _check_order(sources: dict[str, Any], found: Mixture) -> None:
    """Copy seeds are keyed by position: a source must keep its order."""
    for name in found.names:
        problem = order_problem(sources[name])
        if problem is not None:
            raise ValueError(
                f"`sources[{name!r}]` does not keep its order between iterations"
                f" ({problem}), but the copy seeds are keyed by position. Load"
                " TFDS with shuffle_files=False and shuffle after the mixture"
                " (`shuffle_buffer`), or shuffle with a seed and"
                " reshuffle_each_iteration=False."
            )


class _Sources:
    """Each source's stream in the mixture, from the mixture's plan and one
    set of seeds derived from its seed: its copies read in passes and shuffled
    in its own buffer, or, for a source balanced inside, its class plan
    streamed as `ovs.balance` streams one."""

    def __init__(
        self,
        sources: dict[str, Any],
        found: Mixture,
        settings: Settings,
        labels: dict[str, Label],
    ) -> None:
        self.found, self.settings, self.labels = found, settings, labels
        sizes = [element_bytes(sources[name].element_spec) for name in found.names]
        self.buffers = {
            name: auto_buffer(total, size)
            if settings.shuffle_buffer is None
            else settings.shuffle_buffer
            for name, total, size in zip(found.names, found.targets, sizes, strict=True)
        }
        seed, fixed = found.plan.seed, settings.epochs.fixed
        self.marking = settings.marking(seed)
        # NOTE: every source draws its epoch from the same seed, once per
        # iteration, so they agree; the draw is part of the iterator checkpoint.
        self.draw = _seeding.derive(seed, "mixture-epoch") & INT64_MAX
        self.shuffles = {
            name: _seeding.derive(seed, "mixture-shuffle", name, fixed) & INT64_MAX
            for name in found.names
        }
        self.copies_of = ClassCopies(found.plan.class_rule)

    def stream(self, i: int, ds: Any) -> Any:
        name = self.found.names[i]
        if name in self.found.within:
            return self._balanced(ds, name)
        return self._shuffled(self._passes(ds, i), name)

    def _balanced(self, ds: Any, name: str) -> Any:
        """A source whose classes are balanced inside the mixture: its class
        plan, with its copy seeds."""
        inner = self.found.within[name]
        settings = self.settings
        chosen = Settings(
            settings.epochs,
            settings.shuffle_buffer,
            provenance=False,
            copy_seeds=settings.copy_seeds,
        )
        rule = ClassRule(inner, self.labels[name])
        return run(ds, inner, rule, chosen)

    def _epochs(self) -> Any:
        """A dataset of the epochs one iteration streams."""
        tf = _tf()
        epochs = self.settings.epochs
        if epochs.fixed is not None:
            return tf.data.Dataset.from_tensors(tf.constant(epochs.fixed, tf.int64))
        if epochs.streaming:
            return tf.data.Dataset.range(epochs.stream or INT64_MAX)
        random = tf.data.Dataset.random(seed=self.draw, rerandomize_each_iteration=True)
        return random.take(1).map(lambda value: value % (2**31))

    def _passes(self, ds: Any, i: int) -> Any:
        """Source i's copies of each epoch: the first b passes keep every
        sample, the last (when the class has extras) those the rule gives one
        more. Pass j is copy j of its samples, for the marks."""
        tf = _tf()
        found, marking, copies_of = self.found, self.marking, self.copies_of
        arrays = found.plan.class_rule
        c = found.code[i]
        # NOTE: passes below `always` keep every sample in every epoch; the
        # others (one, unless a schedule changes the rates) keep the samples
        # whose copies exceed the pass, as many as the epoch's row asks for.
        always = int(arrays.base[:, c].min())
        passes = arrays.base[:, c] + (arrays.extras[:, c] > 0)
        counted = int(passes.max()) > always
        passes_of = int64(passes)
        first_key = found.offsets[i]  # keys as in the concatenation of the sources
        blocked = all(
            spec.shape.is_fully_defined() for spec in tf.nest.flatten(ds.element_spec)
        )

        def marked(positions: Any, elements: Any, copy: Any, epoch: Any) -> Any:
            if not marking.wanted:
                return elements
            keys = first_key + positions
            copies = tf.fill(tf.shape(positions), tf.cast(copy, tf.int64))
            return elements, marks_of(marking, keys, copies, epoch)

        def one_pass(copy: Any, epoch: Any, kept: Any = None) -> Any:
            """Copy `copy` of the samples `kept` (a function of positions;
            None: every sample), marked as asked."""
            if kept is None and not marking.wanted:
                return ds
            if not blocked:
                pairs = ds.enumerate()
                if kept is not None:
                    pairs = pairs.filter(lambda position, _: kept(position))
                return pairs.map(lambda p, element: marked(p, element, copy, epoch))

            def block(index: Any, elements: Any) -> Any:
                count = tf.shape(tf.nest.flatten(elements)[0], out_type=tf.int64)[0]
                positions = index * BLOCK + tf.range(count, dtype=tf.int64)
                if kept is not None:
                    mask = kept(positions)
                    positions = tf.boolean_mask(positions, mask)
                    elements = tf.nest.map_structure(
                        lambda v: tf.boolean_mask(v, mask), elements
                    )
                return marked(positions, elements, copy, epoch)

            return ds.batch(BLOCK).enumerate().map(block).unbatch()

        def epoch_of(epoch: Any) -> Any:
            def counted_pass(copy: Any) -> Any:
                def kept(position: Any) -> Any:
                    key = first_key + position
                    return copies_of(c, position, key, epoch) > copy

                return one_pass(copy, epoch, kept)

            parts = [one_pass(j, epoch) for j in range(always)]
            if counted:
                last = tf.gather(passes_of, copies_of.row(epoch))
                more = tf.data.Dataset.range(always, last)
                parts.append(more.flat_map(plain(counted_pass)))
            out = parts[0]
            for part in parts[1:]:
                out = out.concatenate(part)
            return out

        epochs = self.settings.epochs
        if epochs.fixed is not None:
            return epoch_of(tf.constant(epochs.fixed, tf.int64))
        return self._epochs().flat_map(epoch_of)

    def _shuffled(self, ds: Any, name: str) -> Any:
        """A source's seeded shuffle, top-level (a shuffle nested in
        `flat_map` would not checkpoint)."""
        buffer = self.buffers[name]
        if not buffer:
            return ds
        fixed = self.settings.epochs.fixed
        return ds.shuffle(
            buffer, seed=self.shuffles[name], reshuffle_each_iteration=fixed is None
        )


# The schedule: which source gives each output.


def _spread_out(counts: Any) -> Any:
    """One stratified batch's sources, spread out (`core.interleave.batch_order`)."""
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
    found: Mixture,
    copies: ClassCopies,
    settings: Settings,
    stratified: int | None,
    config: int,
) -> Any:
    """The source of every output: the schedule, piece by piece (or batch by
    batch), epoch after epoch, with each epoch's targets (the row of `copies`,
    the mixture's rule in the graph, for the epoch)."""
    tf = _tf()
    rule = found.plan.class_rule
    rows = rule.targets[:, list(found.code)]  # each row's targets, sources in order
    sources = tf.range(len(found.names), dtype=tf.int64)
    guard = Guard(config)
    initial = tf.constant(config, tf.int64)
    totals_of = tf.constant(rows, tf.float64)
    pieces_of = int64([max(1, math.ceil(int(row.sum()) / PIECE)) for row in rows])
    if stratified is not None:  # NOTE: a table of batches x sources, only then
        tables = [batch_counts(tuple(row.tolist()), stratified) for row in rows]
        bounds = int64(np.cumsum([0, *(len(table) for table in tables)]))
        batches = tf.constant(np.concatenate(tables), tf.int64)

    def epoch_choices(epoch: Any) -> Any:
        row = copies.row(epoch)
        totals = tf.gather(totals_of, row)
        pieces = tf.gather(pieces_of, row)

        def first(piece: Any) -> Any:
            share = tf.cast(piece, tf.float64) / tf.cast(pieces, tf.float64)
            edge = tf.clip_by_value(tf.math.ceil(share * totals - 0.5), 0.0, totals)
            return tf.cast(tf.where(piece >= pieces, totals, edge), tf.int64)

        def piece_of(piece: Any) -> Any:
            low, high = first(piece), first(piece + 1)
            counts = high - low
            owner = tf.repeat(sources, counts)
            starts = tf.repeat(tf.cumsum(counts) - counts - low, counts)
            j = tf.range(tf.size(owner, tf.int64), dtype=tf.int64) - starts
            points = (2.0 * tf.cast(j, tf.float64) + 1.0) / (
                2.0 * tf.gather(totals, owner)
            )
            order = tf.argsort(points, stable=True)
            return tf.data.Dataset.from_tensor_slices(tf.gather(owner, order))

        if stratified is None:
            each = tf.data.Dataset.range(pieces)
            return each.scan(initial, _checked(guard)).flat_map(plain(piece_of))
        table = batches[tf.gather(bounds, row) : tf.gather(bounds, row + 1)]
        each = tf.data.Dataset.from_tensor_slices(table)
        return each.scan(initial, _checked(guard)).flat_map(plain(_spread_out))

    epochs = settings.epochs
    if not found.plan.epoch_dependent:
        epoch = epoch_choices(tf.constant(epochs.fixed or 0, tf.int64))
        if epochs.streaming:
            epoch = epoch.repeat(epochs.stream) if epochs.stream else epoch.repeat()
        return epoch
    if epochs.fixed is not None:
        return epoch_choices(tf.constant(epochs.fixed, tf.int64))
    every = tf.data.Dataset.range(epochs.stream or INT64_MAX)
    return every.flat_map(plain(epoch_choices))


def _checked(guard: Guard) -> Any:
    """A scan step whose state is the configuration, once per piece of the
    schedule: a state restored from another mixture fails at the next piece."""
    tf = _tf()

    def check(saved: Any, piece: Any) -> Any:
        with tf.control_dependencies([guard.check(saved)]):
            return saved, tf.nest.map_structure(tf.identity, piece)

    return plain(check)
