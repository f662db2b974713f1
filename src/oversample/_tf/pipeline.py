"""Assembling the streaming pipeline: epochs, spreading and shuffling copies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from oversample import _seeding
from oversample._tf import tf as _tf
from oversample._tf.rules import INT64_MAX, Rule
from oversample._validation import check_int, describe

UNSET: Any = type("Unset", (), {"__repr__": lambda self: "<unset>"})()
SPREAD_CAP = 256
BUFFER_FLOOR = 1024
BUFFER_CAP = 16384


def order_problem(ds: Any) -> str | None:
    """Names what makes the source order change between iterations, if anything."""
    from tensorflow.core.framework import graph_pb2

    if ds.options().deterministic is False:
        return "its options set deterministic=False"
    graph = graph_pb2.GraphDef()
    graph.ParseFromString(ds._as_serialized_graph().numpy())
    nodes = list(graph.node)
    for function in graph.library.function:
        nodes.extend(function.node_def)
    for node in nodes:
        if node.op.startswith(("ShuffleDataset", "ShuffleAndRepeatDataset")):
            reshuffle = node.attr.get("reshuffle_each_iteration")
            if reshuffle is None or reshuffle.b:
                return f"it holds a {node.op} that reshuffles on every iteration"
        deterministic = node.attr.get("deterministic")
        if deterministic is not None and deterministic.s == b"false":
            return f"it holds a {node.op} with deterministic=False"
    return None


def check_source(ds: Any, num_samples: int | None, keyed_by_position: bool) -> None:
    cardinality = int(ds.cardinality())
    if num_samples is not None and cardinality >= 0 and cardinality != num_samples:
        raise ValueError(
            f"the plan covers {num_samples} samples but `ds` has {cardinality}"
            " elements; plan on the same data you stream."
        )
    if keyed_by_position:
        problem = order_problem(ds)
        if problem is not None:
            raise ValueError(
                f"`ds` does not keep its order between iterations ({problem}), but"
                " per-sample decisions are keyed by position. Load TFDS with"
                " shuffle_files=False (shuffle after oversample), or shuffle"
                " with a seed and reshuffle_each_iteration=False."
            )


@dataclass(frozen=True)
class Epochs:
    """How epochs map onto iterations of the returned dataset."""

    fixed: int | None  # epoch=k: that epoch on every iteration
    stream: int | None  # epochs=E back to back (None with streaming: endless)
    streaming: bool  # True when `epochs=` was given

    @property
    def fresh(self) -> bool:
        return self.fixed is None and not self.streaming


def check_epochs(epoch: object, epochs: object) -> Epochs:
    if epoch is not None and epochs is not UNSET:
        raise ValueError(
            "give `epoch` (one chosen epoch) or `epochs` (several back to back), not"
            f" both; got epoch={describe(epoch)}, epochs={describe(epochs)}."
        )
    if epoch is not None:
        value = check_int(epoch, "epoch")
        if value > INT64_MAX:
            raise ValueError(f"`epoch` must be < 2**63; got epoch={value}.")
        return Epochs(fixed=value, stream=None, streaming=False)
    if epochs is UNSET:
        return Epochs(fixed=None, stream=None, streaming=False)
    if epochs is None:
        return Epochs(fixed=None, stream=None, streaming=True)
    count = check_int(epochs, "epochs", minimum=1)
    return Epochs(fixed=None, stream=count, streaming=True)


def check_buffer(shuffle_buffer: object) -> int | None:
    """The buffer size; None means automatic and 0 turns shuffling off."""
    if shuffle_buffer is None:
        return 0
    if isinstance(shuffle_buffer, str):
        if shuffle_buffer != "auto":
            raise ValueError(
                "`shuffle_buffer` must be 'auto', an int >= 0 or None; got"
                f" shuffle_buffer={shuffle_buffer!r}."
            )
        return None
    return check_int(shuffle_buffer, "shuffle_buffer")


def auto_buffer(total: int | None) -> int:
    """The default shuffle buffer: total / 16, within [1024, 16384]."""
    if total is not None and total > 0:
        return int(min(max(total // 16, BUFFER_FLOOR), BUFFER_CAP, total))
    return BUFFER_CAP


@dataclass(frozen=True)
class Settings:
    """What the caller chose, checked; shared by balance and duplicate."""

    epochs: Epochs
    shuffle_buffer: int | None
    provenance: bool


_GUARD_MESSAGE = (
    "oversample: this iterator state was saved from a pipeline with another plan"
    " or other settings; restore it into the same configuration."
)


def assemble(
    ds: Any,
    rule: Rule,
    settings: Settings,
    *,
    seed: int,
    num_samples: int | None,
    total_per_epoch: int | None,
    fingerprint: str,
) -> Any:
    """source -> decide copies -> spread copies -> shuffle."""
    tf = _tf()
    epochs = settings.epochs
    if epochs.streaming and num_samples is None:
        raise ValueError(
            "`epochs=` needs the number of source samples; the cardinality of `ds`"
            " is unknown and no plan gives it."
        )
    source = ds
    if epochs.streaming:
        source = ds.repeat(epochs.stream) if epochs.stream else ds.repeat()
    indexed = source.enumerate()
    fresh = epochs.fresh and rule.uses_epoch
    if fresh:
        # NOTE: one draw per iteration makes every iteration a fresh epoch; it is
        # deterministic for the seed and part of the iterator's checkpoint.
        draws = tf.data.Dataset.random(
            seed=_seeding.derive(seed, "epoch-draw") & INT64_MAX,
            rerandomize_each_iteration=True,
        )
        indexed = tf.data.Dataset.zip((indexed, draws))
    config = (
        _seeding.derive(
            0, "pipeline", fingerprint, epochs, num_samples, settings.shuffle_buffer
        )
        & INT64_MAX
    )
    samples = num_samples or 1

    def decide(state: Any, item: Any) -> Any:
        (position, element), draw = item if fresh else (item, 0)
        saved, started, drawn, inner = state
        same = tf.debugging.Assert(tf.equal(saved, config), [_GUARD_MESSAGE])
        with tf.control_dependencies([same]):
            position = tf.identity(position)
        epoch, key = tf.constant(epochs.fixed or 0, tf.int64), position
        if epochs.streaming:
            epoch, key = position // samples, position % samples
            inner = tf.nest.map_structure(
                lambda now, first: tf.where(key == 0, first, now),
                inner,
                rule.init_state(),
            )
        elif fresh:
            drawn = tf.where(started, drawn, draw % (2**31))
            epoch = drawn
        base, candidate, payload, inner = rule.prepare(element, key, inner)
        if rule.uses_epoch:
            extra = tf.logical_and(candidate, rule.resolve(payload, epoch))
            base += tf.cast(extra, tf.int64)
        state = (saved, tf.constant(True), drawn, inner)
        return state, (rule.sample(element, key), base, element)

    initial = (
        tf.constant(config, tf.int64),
        tf.constant(False),
        tf.constant(0, tf.int64),
        rule.init_state(),
    )
    decided = indexed.scan(initial, decide)
    provenance = settings.provenance

    def emit(key: Any, copies: Any, element: Any) -> Any:
        repeated = tf.data.Dataset.from_tensors(element).repeat(copies)
        if not provenance:
            return repeated
        marks = {
            "key": tf.data.Dataset.from_tensors(key).repeat(copies),
            "copy": tf.data.Dataset.range(copies),
        }
        return tf.data.Dataset.zip((repeated, marks))

    total = total_per_epoch
    if epochs.streaming:
        total = (
            None if epochs.stream is None or total is None else total * epochs.stream
        )
    buffer = (
        auto_buffer(total)
        if settings.shuffle_buffer is None
        else settings.shuffle_buffer
    )
    spread = max(1, min(buffer // 4, SPREAD_CAP)) if buffer else 1
    # NOTE: flat_map would emit a sample's copies back to back; interleave takes
    # one copy from each of `spread` samples in turn, so copies of one sample
    # leave `spread` apart before the shuffle mixes them further.
    out = decided.interleave(emit, cycle_length=spread, block_length=1)
    if buffer:
        out = out.shuffle(
            buffer,
            seed=_seeding.derive(seed, "shuffle", epochs.fixed) & INT64_MAX,
            reshuffle_each_iteration=epochs.fixed is None,
        )
    if epochs.streaming and epochs.stream is None:
        total = int(tf.data.INFINITE_CARDINALITY)
    if total is not None:
        out = out.apply(tf.data.experimental.assert_cardinality(total))
    return out
