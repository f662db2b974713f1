"""Reading labels out of elements, and the label-only counting pass."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from oversample.core.labels import keys_of as _keys_of
from oversample.core.labels import walk
from oversample.core.validation import describe, is_int
from oversample.tf import tf as _tf
from oversample.tf.checks import element_bytes

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


def output_spec(element_spec: Any, fn: Callable[[Any], Any], name: str) -> Any:
    """The spec of fn(element), found by tracing; no data flows."""
    tf = _tf()
    try:
        concrete = tf.function(fn, autograph=True).get_concrete_function(element_spec)
    except Exception as error:
        raise TypeError(
            f"`{name}` failed when traced on the element spec: {error}"
        ) from error
    return tf.nest.map_structure(tf.type_spec_from_value, concrete.structured_outputs)


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


def _python_label(value: Any) -> int | str:
    return value.decode("utf-8") if isinstance(value, bytes) else int(value)


@dataclass(frozen=True)
class Counted:
    counts: dict[int | str, int]
    elements: int
    rows: list[list[int | str]] | None  # per-element labels, multi-label only


def count(ds: Any, label: Label, progress: bool) -> Counted:
    """One batched pass over the labels only."""
    tf = _tf()
    cardinality = int(ds.cardinality())
    counts: dict[int | str, int] = {}
    rows: list[list[int | str]] | None = [] if label.multi else None
    seen = 0
    for batch in _batches(ds, label_batches(ds, label), "counting labels", progress):
        if rows is not None:
            values = (
                batch.to_list()
                if isinstance(batch, tf.RaggedTensor)
                else batch.numpy().tolist()
            )
            for row in values:
                row_labels = sorted({_python_label(v) for v in row})
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
            key = _python_label(value)
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
    return Counted(dict(sorted(counts.items())), seen, rows)


def _batches(ds: Any, batches: Any, description: str, progress: bool) -> Any:
    """Iterates `batches` of `ds` with an optional progress bar over elements."""
    cardinality = int(ds.cardinality())
    bar = _progress_bar(cardinality if cardinality >= 0 else None, description)
    with bar if progress else contextlib.nullcontext():
        for batch in batches.prefetch(2):
            yield batch
            if progress:
                bar.advance(bar.task_ids[0], int(_tf().nest.flatten(batch)[0].shape[0]))


def _python_array(parts: list[np.ndarray]) -> np.ndarray:
    if not parts:
        raise ValueError("`ds` is empty; there is nothing to plan.")
    array = np.concatenate(parts)
    if array.dtype == object:
        array = np.asarray([_python_label(v) for v in array.tolist()])
    return array


def collect(ds: Any, label: Label, progress: bool) -> np.ndarray:
    """Every element's label, in source order (a few bytes per sample)."""
    batches = _batches(ds, label_batches(ds, label), "reading labels", progress)
    return _python_array([batch.numpy() for batch in batches])


def collect_keyed(ds: Any, label: Label, key: Label, progress: bool) -> Keyed:
    """One pass reading (key, label) of every element; keys must be unique."""
    pairs = map_elements(ds, lambda e: (key.read(e), label.read(e)))
    keys: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    for key_batch, label_batch in _batches(
        ds, pairs.batch(COUNT_BATCH), "reading keys", progress
    ):
        keys.append(key_batch.numpy())
        labels.append(label_batch.numpy())
    if not keys:
        raise ValueError("`ds` is empty; there is nothing to plan.")
    all_keys = np.concatenate(keys)
    if all_keys.dtype == object:
        all_keys = all_keys.astype(np.bytes_)
    order = np.argsort(all_keys, kind="stable")
    ordered = all_keys[order]
    repeated = np.flatnonzero(ordered[1:] == ordered[:-1])
    if repeated.size:
        shown = [_python_label(v) for v in ordered[repeated[:3]].tolist()]
        raise ValueError(
            f"`key` must be unique per sample; these keys repeat: {describe(shown)}."
        )
    return Keyed(keys=ordered, labels=_python_array(labels)[order])


@dataclass(frozen=True)
class Keyed:
    """Every sample's key (sorted) and its label in the same order."""

    keys: np.ndarray
    labels: np.ndarray
