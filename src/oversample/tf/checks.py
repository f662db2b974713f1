"""Checks of a tf.data source before any data flows (its order, its size) and
the static size of its elements."""

from __future__ import annotations

from typing import Any

from oversample.tf import tf as _tf

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


def check_source(
    ds: Any, num_samples: int | None, keyed_by_position: str | None
) -> None:
    """Refuses a source of another size than the plan's and, when
    `keyed_by_position` names what is keyed by position, one whose order
    changes between iterations."""
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
                f" {keyed_by_position} are keyed by position. Load TFDS with"
                " shuffle_files=False (shuffle after oversample), or shuffle"
                " with a seed and reshuffle_each_iteration=False."
            )


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
