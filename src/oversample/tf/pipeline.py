"""Assembling the streaming pipeline: epochs, spreading and shuffling copies."""

from __future__ import annotations

from typing import Any

from oversample.core import seeding as _seeding
from oversample.core.marks import Marking
from oversample.core.settings import Settings, auto_buffer
from oversample.tf import INT64_MAX
from oversample.tf import tf as _tf
from oversample.tf.checks import GUARD_MESSAGE, element_bytes
from oversample.tf.held import Held, keep_one_copy
from oversample.tf.rule import Rule, marks_of

SPREAD_CAP = 256
BLOCK_BYTES = 256 << 10
BLOCK_FLOOR = 32
BLOCK_CAP = 1024


def _block_size(size: int | None) -> int | None:
    """Source elements per block (about 256 KiB), or None for one at a time."""
    if size is None:
        return None
    return int(min(max(BLOCK_BYTES // size, BLOCK_FLOOR), BLOCK_CAP))


def draw_seed(seed: int) -> int:
    """The seed of the per-iteration epoch draw of the fresh-epoch mode."""
    return _seeding.derive(seed, "epoch-draw") & INT64_MAX


def assemble(
    ds: Any,
    rule: Rule,
    settings: Settings,
    *,
    seed: int,
    num_samples: int | None,
    total: int | None,
    fingerprint: str,
    held: Held | None = None,
) -> Any:
    """source -> decide copies -> lay copies out -> shuffle, and the held
    copies placed among them; `total` is the number of elements one iteration
    yields, when known."""
    tf = _tf()
    epochs = settings.epochs
    if epochs.streaming and num_samples is None:
        raise ValueError(
            "`epochs=` needs the number of source samples; the cardinality of `ds`"
            " is unknown and no plan gives it."
        )
    parts: tuple[object, ...] = (
        fingerprint,
        epochs,
        num_samples,
        settings.shuffle_buffer,
    )
    if held is not None:
        parts = (*parts, held.identity)
    config = _seeding.derive(0, "pipeline", *parts) & INT64_MAX
    out = None
    if held is None or held.streams_rest:
        size = element_bytes(ds.element_spec)
        streamed = total if held is None or total is None else total - held.expected
        buffer = (
            auto_buffer(streamed, size)
            if settings.shuffle_buffer is None
            else settings.shuffle_buffer
        )
        block = _block_size(size) if rule.batched else None
        layout = _Layout(rule, settings, seed, config, num_samples or 1, buffer > 0)
        out = layout.elements(ds) if block is None else layout.blocks(ds, block)
        if buffer:
            out = out.shuffle(
                buffer,
                seed=_seeding.derive(seed, "shuffle", epochs.fixed) & INT64_MAX,
                reshuffle_each_iteration=epochs.fixed is None,
            )
    if held is not None:
        out = keep_one_copy(held.merge(out, epochs, draw_seed(seed), config))
    assert out is not None
    if epochs.streaming and epochs.stream is None:
        total = int(tf.data.INFINITE_CARDINALITY)
    if total is not None:
        out = out.apply(tf.data.experimental.assert_cardinality(total))
    return out


class _Layout:
    """Decides copies and emits them, per element or per block of elements."""

    def __init__(
        self,
        rule: Rule,
        settings: Settings,
        seed: int,
        config: int,
        samples: int,
        mix: bool,
    ) -> None:
        self.rule, self.settings, self.seed = rule, settings, seed
        self.config, self.samples, self.mix = config, samples, mix
        self.epochs = settings.epochs
        self.fresh = self.epochs.fresh and rule.uses_epoch

    def _draws(self) -> Any:
        # NOTE: one draw per iteration makes every iteration a fresh epoch; it is
        # deterministic for the seed and part of the iterator's checkpoint.
        return _tf().data.Dataset.random(
            seed=draw_seed(self.seed), rerandomize_each_iteration=True
        )

    def _initial(self) -> tuple[Any, ...]:
        tf = _tf()
        return (
            tf.constant(self.config, tf.int64),
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
        same = tf.debugging.Assert(tf.equal(saved, self.config), [GUARD_MESSAGE])
        with tf.control_dependencies([same]):
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
        copies, candidate, payload, inner = rule.decide(values, keys, inner, epoch)
        if rule.uses_epoch:
            extra = tf.logical_and(candidate, rule.resolve(payload, epoch))
            copies += tf.cast(extra, tf.int64)
        state = (saved, tf.constant(True), drawn, counter, inner)
        return state, copies, rule.sample(values, keys), epoch

    def _scan(self, ds: Any, step: Any) -> Any:
        """Repeats for `epochs=`, adds the per-iteration draw, scans with `step`."""
        tf = _tf()
        epochs = self.epochs
        if epochs.streaming:
            ds = ds.repeat(epochs.stream) if epochs.stream else ds.repeat()
        if self.fresh:
            ds = tf.data.Dataset.zip((ds, self._draws()))
            return ds.scan(self._initial(), _plain(step))

        def undrawn(state: Any, item: Any) -> Any:
            return step(state, (item, None))

        return ds.scan(self._initial(), _plain(undrawn))

    def elements(self, ds: Any) -> Any:
        """One element at a time: for ragged, sparse or variable shapes, and for
        user callables that may not work on a block."""
        tf = _tf()
        rule, marking = self.rule, self.settings.marking(self.seed)

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
                _plain(lambda copy: marks_of(marking, sample, copy, epoch))
            )
            return tf.data.Dataset.zip((repeated, marks))

        # NOTE: flat_map would emit a sample's copies back to back; interleave
        # takes one copy from each of SPREAD samples in turn.
        spread = SPREAD_CAP if self.mix else 1
        decided = self._scan(ds.enumerate(), step)
        return decided.interleave(_plain(emit), cycle_length=spread, block_length=1)

    def blocks(self, ds: Any, block: int) -> Any:
        """A block of elements per step: one function call per block, not per
        element. The copies of a block are laid out in a seeded random order."""
        tf = _tf()
        rule, mix = self.rule, self.mix
        marking = self.settings.marking(self.seed)
        block_seed = _seeding.derive(self.seed, "block-order") & INT64_MAX

        def step(state: Any, item: Any) -> Any:
            (positions, elements), draw = item
            state, copies, samples, epoch = self._decide(
                state, positions, lambda keys: rule.read(elements, keys), draw
            )
            order_seed = None
            if mix:
                order_seed = tf.stack([block_seed, epoch * 1_000_003 + positions[0]])
            laid = lay_out(copies, elements, samples, order_seed, marking, epoch)
            return state, laid

        return self._scan(ds.enumerate().batch(block), step).prefetch(2).unbatch()


def lay_out(
    copies: Any,
    elements: Any,
    samples: Any,
    order_seed: Any,
    marking: Marking,
    epoch: Any,
) -> Any:
    """A block's copies: each element `copies` times, in a stateless random
    order when `order_seed` is given, with the marks `marking` asks for."""
    tf = _tf()
    owner = tf.repeat(tf.range(tf.size(copies, out_type=tf.int64)), copies)
    copy = tf.ragged.range(copies).flat_values
    if order_seed is not None:
        order = tf.random.experimental.stateless_shuffle(
            tf.range(tf.size(owner, out_type=tf.int64)), seed=order_seed
        )
        owner, copy = tf.gather(owner, order), tf.gather(copy, order)
    laid = tf.nest.map_structure(lambda x: tf.gather(x, owner), elements)
    if marking.wanted:
        keys = tf.gather(samples, owner)
        laid = (laid, marks_of(marking, keys, copy, epoch))
    return laid


def _plain(fn: Any) -> Any:
    """Marks a graph function as needing no autograph conversion.

    NOTE: these functions use no Python control flow on tensors; skipping the
    conversion saves about half a second of pipeline construction.
    """
    return _tf().autograph.experimental.do_not_convert(fn)
