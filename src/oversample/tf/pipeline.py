"""The streaming pipeline of one stream: the plan's rule applied to every
element (or block of elements), the copies laid out in a seeded order,
epochs, the shuffle, the held copies of the spread placed among them, and the
guard that refuses an iterator state saved from another configuration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from oversample.core import seeding as _seeding
from oversample.core import spread as _spread
from oversample.core import states as _states
from oversample.core.marks import Marking
from oversample.core.plan import Plan
from oversample.core.settings import Epochs, Settings, auto_buffer
from oversample.tf import INT64_MAX, plain
from oversample.tf import tf as _tf
from oversample.tf.rule import ClassRule, Rule, marks_of, order_seed
from oversample.tf.source import Guard, checked
from oversample.tf.spread import Held, Holding

SPREAD_CAP = 256
BLOCK_BYTES = 256 << 10
BLOCK_FLOOR = 32
BLOCK_CAP = 1024


def block_size(size: int | None) -> int | None:
    """Source elements per block (about 256 KiB), or None for one at a time."""
    if size is None:
        return None
    return int(min(max(BLOCK_BYTES // size, BLOCK_FLOOR), BLOCK_CAP))


@dataclass(frozen=True)
class Seeds:
    """The seeds of one pipeline, each derived once from the plan's seed
    (`oversample.core.seeding`): the per-iteration epoch draw of the
    fresh-epoch mode, the shuffle buffer's, the order of a block's copies,
    the held copies' order, and the marks' (the copy seeds are the plan
    seed's)."""

    draw: int
    shuffle: int
    order: int
    held: int
    marking: Marking

    @classmethod
    def of(cls, seed: int, settings: Settings) -> Seeds:
        return cls(
            draw=_seeding.derive(seed, "epoch-draw") & INT64_MAX,
            shuffle=_seeding.derive(seed, "shuffle", settings.epochs.fixed) & INT64_MAX,
            held=_seeding.derive(seed, "held") & INT64_MAX,
            order=_seeding.derive(seed, "block-order"),
            marking=settings.marking(seed),
        )


def stream_total(plan: Plan, epochs: Epochs, cardinality: int) -> int | None:
    """Elements one iteration yields, when exact rounding fixes them."""
    if plan.rounding != "exact":
        return None
    if plan.kind == "whole":
        if cardinality < 0 or not plan.knows_samples:
            return None
        per_epoch = plan.total
    elif plan.epoch_dependent and epochs.stream is not None:
        return sum(plan.total_at(epoch) for epoch in range(epochs.stream))
    else:
        per_epoch = plan.total_at(epochs.fixed or 0)
    if not epochs.streaming:
        return per_epoch
    return None if epochs.stream is None else per_epoch * epochs.stream


def run(
    ds: Any,
    plan: Plan,
    rule: Rule,
    settings: Settings,
    holding: Holding | None = None,
) -> Any:
    """Checks the source against the plan, builds the pipeline that carries
    the plan out with `rule`, attaches the plan and the spread's report."""
    epochs = settings.epochs
    identity = _states.plan_identity(plan, epochs)
    cardinality = int(ds.cardinality())
    total = stream_total(plan, epochs, cardinality)
    num_samples = plan.num_samples
    if num_samples is None and cardinality >= 0:
        num_samples = cardinality
    if epochs.streaming and num_samples is None:
        raise ValueError(
            "`epochs=` needs the number of source samples; the cardinality of `ds`"
            " is unknown and no plan gives it."
        )
    keyed_by_position = "per-sample decisions" if rule.by_position else None
    if keyed_by_position is None and settings.copy_seeds and not rule.keyed:
        keyed_by_position = "the copy seeds"
    facts = checked(ds, plan, keyed_by_position)
    seeds = Seeds.of(plan.seed, settings)
    held = None
    if holding is not None and isinstance(rule, ClassRule):
        held = holding.held(rule, ds.element_spec, seeds.held, seeds.marking, epochs)
    streamed = total if held is None or total is None else total - held.expected
    buffer = settings.shuffle_buffer
    if buffer is None:
        buffer = auto_buffer(streamed, facts.element_bytes)
    parts: tuple[object, ...] = (identity, epochs, num_samples, buffer)
    if held is not None:
        parts = (*parts, held.identity)
    guard = Guard.of(_seeding.derive(0, "pipeline", *parts) & INT64_MAX, plan)
    layout = _Layout(rule, epochs, seeds, guard, num_samples or 1, buffer)
    out = layout.stream(ds, facts.element_bytes, held)
    if epochs.streaming and epochs.stream is None:
        total = int(_tf().data.INFINITE_CARDINALITY)
    if total is not None:
        out = out.apply(_tf().data.experimental.assert_cardinality(total))
    out.plan = plan
    out.spread = (
        holding.report()
        if holding is not None
        else _spread.nothing(0, "the copies do not come from per-class targets")
    )
    return out


class _Layout:
    """Decides copies and emits them, per element or per block of elements."""

    def __init__(
        self,
        rule: Rule,
        epochs: Epochs,
        seeds: Seeds,
        guard: Guard,
        samples: int,
        buffer: int,
    ) -> None:
        self.rule, self.epochs, self.seeds = rule, epochs, seeds
        self.guard, self.samples, self.buffer = guard, samples, buffer
        self.fresh = epochs.fresh and rule.uses_epoch

    def stream(self, ds: Any, element_bytes: int | None, held: Held | None) -> Any:
        """source -> decide copies -> lay copies out -> shuffle, and the held
        copies placed among them."""
        out = None
        if held is None or held.streams_rest:
            block = block_size(element_bytes) if self.rule.batched else None
            out = self.elements(ds) if block is None else self.blocks(ds, block)
            if self.buffer:
                out = out.shuffle(
                    self.buffer,
                    seed=self.seeds.shuffle,
                    reshuffle_each_iteration=self.epochs.fixed is None,
                )
        if held is not None:
            out = held.merge(out, self.epochs, self.seeds.draw, self.guard)
        return out

    def _draws(self) -> Any:
        # NOTE: one draw per iteration makes every iteration a fresh epoch; it is
        # deterministic for the seed and part of the iterator's checkpoint.
        return _tf().data.Dataset.random(
            seed=self.seeds.draw, rerandomize_each_iteration=True
        )

    def _initial(self) -> tuple[Any, ...]:
        tf = _tf()
        return (
            tf.constant(self.guard.config, tf.int64),
            tf.constant(False),
            tf.constant(0, tf.int64),
            tf.constant(-1, tf.int64),
            self.rule.init_state(),
        )

    def _decide(
        self, state: tuple[Any, ...], positions: Any, elements: Any, draw: Any
    ) -> tuple[tuple[Any, ...], Any, Any, Any]:
        """One scan step over a vector of positions and their elements: checks the
        state, finds the epoch, and returns (state, copies, samples, epoch)."""
        tf = _tf()
        rule, epochs = self.rule, self.epochs
        saved, started, drawn, counter, inner = state
        with tf.control_dependencies([self.guard.check(saved)]):
            epoch = tf.constant(epochs.fixed or 0, tf.int64)
        keys = positions
        if epochs.streaming:
            keys = positions % self.samples
            begins = tf.equal(keys[0], 0)
            counter = tf.where(begins, counter + 1, counter)
            inner = tf.nest.map_structure(
                lambda now, initial: tf.where(begins, initial, now),
                inner,
                rule.init_state(),
            )
            epoch = counter
        elif self.fresh:
            drawn = tf.where(started, drawn, draw % (2**31))
            epoch = drawn
        values = elements(keys)
        copies, samples, inner = rule.decide(values, keys, inner, epoch)
        state = (saved, tf.constant(True), drawn, counter, inner)
        return state, copies, samples, epoch

    def _scan(self, ds: Any, step: Any) -> Any:
        """Repeats for `epochs=`, adds the per-iteration draw, scans with `step`."""
        tf = _tf()
        epochs = self.epochs
        if epochs.streaming:
            ds = ds.repeat(epochs.stream) if epochs.stream else ds.repeat()
        if self.fresh:
            ds = tf.data.Dataset.zip((ds, self._draws()))
            return ds.scan(self._initial(), plain(step))

        def undrawn(state: Any, item: Any) -> Any:
            return step(state, (item, None))

        return ds.scan(self._initial(), plain(undrawn))

    def elements(self, ds: Any) -> Any:
        """One element at a time: for ragged, sparse or variable shapes, and for
        user callables that may not work on a block."""
        tf = _tf()
        rule, marking = self.rule, self.seeds.marking

        def step(state: Any, item: Any) -> Any:
            (position, element), draw = item

            def one(keys: Any) -> Any:
                value = rule.read(element, keys[0])
                return tf.nest.map_structure(lambda v: tf.reshape(v, [1]), value)

            state, copies, samples, epoch = self._decide(
                state, tf.reshape(position, [1]), one, draw
            )
            return state, (samples[0], copies[0], epoch, element)

        def emit(sample: Any, copies: Any, epoch: Any, element: Any) -> Any:
            repeated = tf.data.Dataset.from_tensors(element).repeat(copies)
            if not marking.wanted:
                return repeated
            marks = tf.data.Dataset.range(copies).map(
                plain(lambda copy: marks_of(marking, sample, copy, epoch))
            )
            return tf.data.Dataset.zip((repeated, marks))

        # NOTE: flat_map would emit a sample's copies back to back; interleave
        # takes one copy from each of SPREAD samples in turn.
        spread = SPREAD_CAP if self.buffer else 1
        decided = self._scan(ds.enumerate(), step)
        return decided.interleave(plain(emit), cycle_length=spread, block_length=1)

    def blocks(self, ds: Any, block: int) -> Any:
        """A block of elements per step: one function call per block, not per
        element. The copies of a block are laid out in a seeded random order."""
        rule, mix = self.rule, self.buffer > 0
        marking = self.seeds.marking

        def step(state: Any, item: Any) -> Any:
            (positions, elements), draw = item
            state, copies, samples, epoch = self._decide(
                state, positions, lambda keys: rule.read(elements, keys), draw
            )
            order = self.seeds.order if mix else None
            laid = lay_out(copies, elements, samples, order, marking, epoch)
            return state, laid

        return self._scan(ds.enumerate().batch(block), step).prefetch(2).unbatch()


def lay_out(
    copies: Any,
    elements: Any,
    samples: Any,
    order: int | None,
    marking: Marking,
    epoch: Any,
) -> Any:
    """A block's copies: each element `copies` times, with the marks `marking`
    asks for; in a stateless random order of (`order`, the epoch, the block's
    first sample) when the order's seed `order` is given."""
    tf = _tf()
    owner = tf.repeat(tf.range(tf.size(copies, out_type=tf.int64)), copies)
    copy = tf.ragged.range(copies).flat_values
    if order is not None:
        shuffled = tf.random.experimental.stateless_shuffle(
            tf.range(tf.size(owner, out_type=tf.int64)),
            seed=order_seed(order, epoch, samples[0]),
        )
        owner, copy = tf.gather(owner, shuffled), tf.gather(copy, shuffled)
    laid = tf.nest.map_structure(lambda x: tf.gather(x, owner), elements)
    if marking.wanted:
        keys = tf.gather(samples, owner)
        laid = (laid, marks_of(marking, keys, copy, epoch))
    return laid
