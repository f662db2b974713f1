"""What a caller chose for a pipeline, checked before any data flows: epochs,
the shuffle buffer, and whether the source keeps its order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from oversample._tf import INT64_MAX
from oversample._tf import tf as _tf
from oversample._validation import check_int, describe

UNSET: Any = type("Unset", (), {"__repr__": lambda self: "<unset>"})()
BUFFER_FLOOR = 1024
BUFFER_CAP = 16384
BUFFER_BYTES = 24 << 20
GUARD_MESSAGE = (
    "oversample: this iterator state was saved from a pipeline with another plan"
    " or other settings; restore it into the same configuration."
)


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


def auto_buffer(total: int | None, element_bytes: int | None) -> int:
    """The default shuffle buffer: total / 16 within [1024, 16384] elements, and
    at most 24 MiB when the element size is known."""
    size = BUFFER_CAP if total is None or total <= 0 else min(total // 16, BUFFER_CAP)
    size = max(size, BUFFER_FLOOR)
    if element_bytes:
        size = min(size, max(BUFFER_FLOOR, BUFFER_BYTES // element_bytes))
    return int(min(size, total)) if total else size


@dataclass(frozen=True)
class Settings:
    """What the caller chose, checked; shared by balance and duplicate."""

    epochs: Epochs
    shuffle_buffer: int | None
    provenance: bool


def element_bytes(element_spec: Any) -> int | None:
    """Bytes per element when every component has a static dense shape."""
    tf = _tf()
    size = 0
    for spec in tf.nest.flatten(element_spec):
        if not isinstance(spec, tf.TensorSpec) or not spec.shape.is_fully_defined():
            return None
        per_item = 64 if spec.dtype == tf.string else spec.dtype.size
        size += max(spec.shape.num_elements(), 1) * per_item
    return max(size, 1)
