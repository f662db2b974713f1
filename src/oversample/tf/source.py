"""A tf.data source before its copies stream: reading labels (and keys) out of
its elements, the label-only counting pass, and the checks of its order and
size made before any data flows."""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from oversample.core.identity import HINT
from oversample.core.labels import keys_of as _keys_of
from oversample.core.labels import walk
from oversample.core.validation import describe, is_int
from oversample.tf import tf as _tf

COUNT_BATCH = 4096
COUNT_BYTES = 1 << 20

LabelSpec = str | int | Callable[[Any], Any]  # what `label=` and `key=` take


@dataclass(frozen=True)
class Label:
    """A validated way to read the label of an element."""

    read: Callable[[Any], Any]
    dtype: Any
    multi: bool
    vectorised: bool = True  # `read` also works on a batch of elements


def _traced(element_spec: Any, fn: Callable[[Any], Any], name: str) -> Any:
    """fn traced on the element spec (no data flows), or a clear error."""
    tf = _tf()
    try:
        return tf.function(fn, autograph=True).get_concrete_function(element_spec)
    except Exception as error:
        raise TypeError(
            f"`{name}` failed when traced on the element spec: {error}"
        ) from error


def output_spec(element_spec: Any, fn: Callable[[Any], Any], name: str) -> Any:
    """The spec of fn(element), found by tracing; no data flows."""
    concrete = _traced(element_spec, fn, name)
    return _tf().nest.map_structure(
        _tf().type_spec_from_value, concrete.structured_outputs
    )


def graph_identity(
    element_spec: Any, where: Callable[[Any], Any]
) -> tuple[str | None, str | None]:
    """The identity of a `where` predicate: a hash of its graph traced on the
    element spec (inner functions' names made canonical) and of the values it
    captures; (None, why) when it runs a stateful op (a Python function, a
    random op) or reads a resource (a lookup table, a variable), whose
    results are not part of the graph. Refuses a predicate that does not
    return a boolean scalar."""
    tf = _tf()
    from tensorflow.python.framework import op_def_registry

    traced = _traced(element_spec, where, "where")
    spec = tf.nest.map_structure(tf.type_spec_from_value, traced.structured_outputs)
    if not (
        isinstance(spec, tf.TensorSpec)
        and spec.dtype == tf.bool
        and spec.shape.rank == 0
    ):
        raise TypeError(
            f"`where` must return a boolean scalar per element; it returns {spec}."
        )
    graph = traced.graph.as_graph_def()
    nodes = [*graph.node, *(n for f in graph.library.function for n in f.node_def)]
    for node in nodes:
        op = op_def_registry.get(node.op)
        if op is not None and op.is_stateful:
            return None, (
                f"`where` runs the stateful op {node.op} (a Python function, a"
                " random op, a lookup table or a variable), whose results are not"
                " part of its graph"
            )
    names: dict[str, str] = {}
    text = re.sub(
        r"__inference_\w+_\d+\b",
        lambda found: names.setdefault(found.group(0), f"function{len(names)}"),
        str(graph),
    )
    digest = hashlib.blake2b(text.encode(), digest_size=16)
    for value in traced.captured_inputs:
        if value.dtype in (tf.resource, tf.variant):
            return None, (
                "`where` reads a lookup table or a variable, whose contents are not"
                " part of its graph"
            )
        digest.update(tf.io.serialize_tensor(value).numpy())
    return digest.hexdigest(), None


def resolve_label(element_spec: Any, label: object, name: str = "label") -> Label:
    """Checks `label` against the dataset's element_spec, before data flows."""
    tf = _tf()
    if isinstance(label, str):
        parts = label.split("/")
        spec = walk(element_spec, label, name, "the element")

        def read(element: Any) -> Any:
            for part in parts:
                element = element[part]
            return element

    elif is_int(label):
        position = int(label)
        size = len(element_spec) if isinstance(element_spec, tuple) else 0
        if not -size <= position < size or not size:
            shape = f"tuples of {size}" if size else _keys_of(element_spec)
            raise ValueError(
                f"`{name}`={position} is a tuple position, but the elements are"
                f" {shape}."
            )
        spec = element_spec[position]

        def read(element: Any) -> Any:
            return element[position]

    elif callable(label) and not isinstance(label, bool):
        read = label
        spec = output_spec(element_spec, read, name)
    else:
        raise TypeError(
            f"`{name}` must be a feature key (nested as 'a/b'), a tuple position or"
            f" a callable element -> label; got {name}={describe(label)}."
        )
    if isinstance(spec, tf.RaggedTensorSpec | tf.TensorSpec):
        dtype, rank = spec.dtype, spec.shape.rank
    else:
        raise TypeError(
            f"`{name}`={describe(label)} must select a tensor of int or string"
            f" labels; got {spec!r}."
        )
    if dtype == tf.bool or not (dtype.is_integer or dtype == tf.string):
        raise TypeError(
            f"`{name}`={describe(label)} has dtype {dtype.name}; labels must be ints"
            " or strings (cast whole-number float labels in a callable label)."
        )
    if rank is None or rank > 1:
        raise ValueError(
            f"`{name}`={describe(label)} must be a scalar label per element (or a"
            f" 1-D list of labels for multi-label data); got shape {spec.shape}."
        )
    builtin = not callable(label)
    if builtin:
        # NOTE: a key path or tuple position has no control flow to convert.
        read = tf.autograph.experimental.do_not_convert(read)
    return Label(read=read, dtype=dtype, multi=rank == 1, vectorised=builtin)


def check_unbatched(element_spec: Any) -> None:
    """Refuses elements that look batched (every component with a leading
    dimension of unknown size), whose labels would pass for multi-label."""
    tf = _tf()
    specs = tf.nest.flatten(element_spec)
    batched = specs and all(
        isinstance(s, tf.TensorSpec | tf.RaggedTensorSpec)
        and s.shape.rank
        and s.shape[0] is None
        for s in specs
    )
    if batched:
        raise ValueError(
            "the elements of `ds` look batched (every component has a leading"
            f" dimension of unknown size: {element_spec}); balance the samples"
            " before `.batch()`. For multi-label elements (a list of labels"
            " each), use strategy=ovs.RepeatFactor(threshold)."
        )


def label_batches(ds: Any, label: Label) -> Any:
    """Batches of labels. Static shapes are batched first and read once per
    batch, so the pass adds no function call per element."""
    size = element_bytes(ds.element_spec)
    if label.vectorised and not label.multi and size:
        batched = ds.batch(min(COUNT_BATCH, max(32, COUNT_BYTES // size)))
        if isinstance(batched.element_spec, tuple):
            return batched.map(lambda *e: label.read(e))
        return batched.map(label.read)
    labels = map_elements(ds, label.read)
    if label.multi:
        return labels.ragged_batch(COUNT_BATCH)
    return labels.batch(COUNT_BATCH)


def map_elements(ds: Any, fn: Callable[[Any], Any]) -> Any:
    """Dataset.map that hands tuple elements to `fn` as one tuple."""
    tf = _tf()
    if isinstance(ds.element_spec, tuple):
        return ds.map(lambda *e: fn(e), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.map(fn, num_parallel_calls=tf.data.AUTOTUNE)


# Counting.


def weights(ds: Any, weight: Callable[[Any], Any]) -> np.ndarray:
    """Each element's real factor `weight(element)`, in one pass, once the
    callable is traced to return a real scalar."""
    tf = _tf()
    spec = output_spec(ds.element_spec, weight, "copies")
    if not (
        isinstance(spec, tf.TensorSpec)
        and spec.shape.rank == 0
        and (spec.dtype.is_floating or spec.dtype.is_integer)
        and spec.dtype != tf.bool
    ):
        raise TypeError(
            f"a callable `copies` must return a real scalar per element; it returns"
            f" {spec}."
        )
    check_finite(ds, "a callable `copies`")
    factors = map_elements(ds, lambda e: tf.cast(weight(e), tf.float64))
    parts = [b.numpy() for b in factors.batch(COUNT_BATCH)]
    return np.concatenate(parts) if parts else np.zeros(0)


def known_size(ds: Any, what: str) -> int:
    """The cardinality, which `what` needs known."""
    cardinality = int(ds.cardinality())
    if cardinality < 0:
        raise ValueError(
            f"{what} needs the number of samples, but the cardinality of `ds` is"
            " unknown; pass `ds.apply(tf.data.experimental.assert_cardinality(n))`."
        )
    return cardinality


def length(ds: Any, what: str) -> int:
    """The dataset's length: its cardinality, or one pass when unknown."""
    size = int(ds.cardinality())
    if size < 0:
        check_finite(ds, what)
        size = int(ds.reduce(np.int64(0), lambda n, _: n + 1))
    return size


def check_finite(ds: Any, what: str) -> None:
    tf = _tf()
    if int(ds.cardinality()) == int(tf.data.INFINITE_CARDINALITY):
        raise ValueError(
            f"`ds` is infinite (cardinality INFINITE); {what} needs a finite"
            " dataset: count before `.repeat()`, or pass `counts=`."
        )


def _progress_bar(total: int | None, description: str) -> Any:
    from oversample import report

    bar = report.progress()
    bar.add_task(description, total=total)
    return bar


def python_label(value: Any) -> int | str:
    return value.decode("utf-8") if isinstance(value, bytes) else int(value)


@dataclass(frozen=True)
class LabelCount:
    counts: dict[int | str, int]
    elements: int
    rows: list[list[int | str]] | None  # per-element labels, multi-label only


def count(ds: Any, label: Label, progress: bool) -> LabelCount:
    """One batched pass over the labels only."""
    tf = _tf()
    cardinality = int(ds.cardinality())
    counts: dict[int | str, int] = {}
    rows: list[list[int | str]] | None = [] if label.multi else None
    seen = 0
    for batch in read_batches(
        ds, label_batches(ds, label), "counting labels", progress
    ):
        if rows is not None:
            values = (
                batch.to_list()
                if isinstance(batch, tf.RaggedTensor)
                else batch.numpy().tolist()
            )
            for row in values:
                row_labels = sorted({python_label(v) for v in row})
                rows.append(row_labels)
                for value in row_labels:
                    counts[value] = counts.get(value, 0) + 1
            seen += len(values)
            continue
        array = batch.numpy()
        values, numbers = np.unique(array, return_counts=True)
        if int(numbers.sum()) != array.shape[0]:
            raise RuntimeError("label counts do not add up to the batch size")
        for value, number in zip(values.tolist(), numbers.tolist(), strict=True):
            key = python_label(value)
            counts[key] = counts.get(key, 0) + int(number)
        seen += int(array.shape[0])
    if not label.multi and sum(counts.values()) != seen:
        raise RuntimeError(
            f"counted {sum(counts.values())} labels for {seen} elements; the label"
            " pass lost elements."
        )
    if cardinality >= 0 and seen != cardinality:
        raise RuntimeError(
            f"the dataset declares {cardinality} elements but the label pass saw"
            f" {seen}."
        )
    return LabelCount(dict(sorted(counts.items())), seen, rows)


def read_batches(ds: Any, batches: Any, description: str, progress: bool) -> Any:
    """Iterates `batches` of `ds` with an optional progress bar over elements."""
    cardinality = int(ds.cardinality())
    bar = _progress_bar(cardinality if cardinality >= 0 else None, description)
    with bar if progress else contextlib.nullcontext():
        for batch in batches.prefetch(2):
            yield batch
            if progress:
                bar.advance(bar.task_ids[0], int(_tf().nest.flatten(batch)[0].shape[0]))


def python_array(parts: list[np.ndarray]) -> np.ndarray:
    if not parts:
        raise ValueError("`ds` is empty; there is nothing to plan.")
    array = np.concatenate(parts)
    if array.dtype == object:
        array = np.asarray([python_label(v) for v in array.tolist()])
    return array


def collect(ds: Any, label: Label, progress: bool) -> np.ndarray:
    """Every element's label, in source order (a few bytes per sample)."""
    batches = read_batches(ds, label_batches(ds, label), "reading labels", progress)
    return python_array([batch.numpy() for batch in batches])


def collect_keyed(ds: Any, label: Label, key: Label, progress: bool) -> Keyed:
    """One pass reading (key, label) of every element; keys must be unique."""
    pairs = map_elements(ds, lambda e: (key.read(e), label.read(e)))
    keys: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    for key_batch, label_batch in read_batches(
        ds, pairs.batch(COUNT_BATCH), "reading keys", progress
    ):
        keys.append(key_batch.numpy())
        labels.append(label_batch.numpy())
    ordered, order = sorted_keys(keys)
    return Keyed(keys=ordered, labels=python_array(labels)[order])


def sorted_keys(parts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Every sample's key, sorted, and the order that sorts them; keys must be
    unique."""
    if not parts:
        raise ValueError("`ds` is empty; there is nothing to plan.")
    keys = comparable(np.concatenate(parts))
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    repeated = np.flatnonzero(ordered[1:] == ordered[:-1])
    if repeated.size:
        shown = [python_label(v) for v in ordered[repeated[:3]].tolist()]
        raise ValueError(
            f"`key` must be unique per sample; these keys repeat: {describe(shown)}."
        )
    return ordered, order


def comparable(keys: np.ndarray) -> np.ndarray:
    """String keys as bytes, so that NumPy sorts and searches them."""
    return keys.astype(np.bytes_) if keys.dtype == object else keys


@dataclass(frozen=True)
class Keyed:
    """Every sample's key (sorted) and its label in the same order."""

    keys: np.ndarray
    labels: np.ndarray


# The order and size of the source.

GUARD_MESSAGE = (
    "oversample: this iterator state was saved from a pipeline with another plan"
    " or other settings (or by an oversample of another copy rule); restore it"
    " into the same configuration."
)


@dataclass(frozen=True)
class Guard:
    """The configuration an iterator state must have been saved from (a hash
    of the plan's fingerprint and the settings), and what a refusal says."""

    config: int
    message: str = GUARD_MESSAGE

    @classmethod
    def of(cls, config: int, plan: Any) -> Guard:
        """The guard of a pipeline of `plan`; a plan whose identity cannot be
        known refuses every restore, saying why."""
        if plan.unknown_identity is None:
            return cls(config)
        return cls(
            config,
            f"oversample: {plan.unknown_identity}, so a saved iterator state"
            f" cannot be checked against this pipeline and is refused. {HINT}",
        )

    def check(self, saved: Any) -> Any:
        """The assertion that `saved` (a scan state) is this configuration."""
        tf = _tf()
        return tf.debugging.Assert(tf.equal(saved, self.config), [self.message])


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


def check_source(ds: Any, plan: Any, keyed_by_position: str | None) -> None:
    """Refuses a source of another size than the plan's and, when
    `keyed_by_position` names what is keyed by position, one whose order
    changes between iterations."""
    cardinality = int(ds.cardinality())
    planned = None if plan is None else plan.num_samples
    if planned is not None and cardinality >= 0 and cardinality != planned:
        classes = ", ".join(repr(c) for c in plan.classes[:8])
        more = ", ..." if len(plan.classes) > 8 else ""
        named = f" of classes {classes}{more}" if plan.classes else ""
        raise ValueError(
            f"the plan covers {planned} samples{named} but `ds` has {cardinality}"
            " elements; plan on the same data you stream (a class missing from"
            " `counts=`, or counts of another split?)."
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


@dataclass(frozen=True)
class Facts:
    """What the pipeline needs to know of a checked source."""

    cardinality: int  # < 0: unknown or infinite
    element_bytes: int | None  # None: not every component has a static shape


def checked(ds: Any, plan: Any, keyed_by_position: str | None) -> Facts:
    """`check_source`, then the source's cardinality and element size."""
    check_source(ds, plan, keyed_by_position)
    return Facts(int(ds.cardinality()), element_bytes(ds.element_spec))


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
