"""The pass that collects the held samples of a stream (see `oversample.core.spread`),
with the label count folded in when no counts are given."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from oversample.core import spread as _spread
from oversample.core.plan import Plan
from oversample.tf import labels as _labels
from oversample.tf import tf as _tf
from oversample.tf.checks import element_bytes
from oversample.tf.class_rules import ClassIndex
from oversample.tf.labels import Label

PASS_BYTES = 1 << 20


def holdable(spec: Any) -> str | None:
    """Why the samples of this stream cannot be held, or None when they can."""
    tf = _tf()
    if element_bytes(spec) is None:
        return "the elements have no static dense shape to stack in memory"
    if any(s.dtype == tf.variant for s in tf.nest.flatten(spec)):
        return "the elements hold nested datasets"
    return None


def _leaves(specs: list[Any]) -> list[tuple[tuple[int, ...], np.dtype[Any]]]:
    tf = _tf()
    return [
        (
            tuple(spec.shape.as_list()),
            np.dtype(object)
            if spec.dtype == tf.string
            else np.dtype(spec.dtype.as_numpy_dtype),
        )
        for spec in specs
    ]


@dataclass
class Pass:
    """What one collecting pass saw: the collector, and every element's ident
    and label when `keep_all` asked for them."""

    collector: _spread.Collector
    seen: int
    idents: list[np.ndarray] | None
    labels: list[np.ndarray] | None


def collect(
    source: Any,
    label: Label,
    budget: int,
    plan: Plan | None,
    progress: bool,
    keep_all: bool = False,
    positional: bool = False,
) -> Pass:
    """Reads `source`, a dataset of (ident, element), or of elements when
    `positional` (the ident is then the position, counted here), once.

    With a plan, only the classes `spread.choose_classes` picks are collected
    (labels are read as the plan's class indices, unknown labels refused);
    without one, the smallest classes are, and the pass also counts labels.
    """
    tf = _tf()
    if positional:
        ident_specs, spec = [tf.TensorSpec([], tf.int64)], source.element_spec
        source = source.map(_plain(lambda *e: ((), e[0] if len(e) == 1 else e)))
    else:
        ident_spec, spec = source.element_spec
        ident_specs = list(ident_spec)
    flat_specs = tf.nest.flatten(spec)
    priority = None
    read: Callable[[Any], Any] = label.read
    if plan is not None:
        row = _leaves(flat_specs)
        row_bytes = sum(int(np.prod(s, dtype=np.int64)) * d.itemsize for s, d in row)
        chosen = _spread.choose_classes(
            _spread.class_factors(plan), plan._counts * max(row_bytes, 1), budget
        )
        priority = np.where(chosen, _spread.class_factors(plan), 0.0)
        index = ClassIndex(plan.classes, label.dtype)

        def read(element: Any) -> Any:
            return index(label.read(element))

    collector = _spread.Collector(_leaves(ident_specs + flat_specs), budget, priority)
    size = element_bytes(spec) or 1
    batch = int(min(_labels.COUNT_BATCH, max(32, PASS_BYTES // size)))

    def with_label(ident: Any, element: Any) -> Any:
        return ident, read(element), element

    if label.vectorised:
        batches = source.batch(batch).map(_plain(with_label))
    else:
        batches = source.map(_plain(with_label)).batch(batch)
    idents: list[np.ndarray] | None = [] if keep_all else None
    all_labels: list[np.ndarray] | None = [] if keep_all else None
    seen = 0
    for ident, labels, elements in _labels._batches(
        source, batches, "reading the samples to hold", progress
    ):
        label_array = labels.numpy()
        rows = label_array.shape[0]
        ident_arrays = (
            [np.arange(seen, seen + rows, dtype=np.int64)]
            if positional
            else [x.numpy() for x in ident]
        )
        leaves = ident_arrays + [x.numpy() for x in tf.nest.flatten(elements)]
        collector.add(label_array, leaves)
        seen += rows
        if idents is not None and all_labels is not None:
            idents.append(ident_arrays[0])
            all_labels.append(label_array)
    return Pass(collector, seen, idents, all_labels)


def _plain(fn: Callable[..., Any]) -> Any:
    return _tf().autograph.experimental.do_not_convert(fn)


def counts_of(found: Pass, cardinality: int) -> dict[int | str, int]:
    """The label counts a folded pass made, checked as the counting pass checks."""
    counts: dict[int | str, int] = {}
    for value, number in found.collector.label_counts().items():
        counts[_labels._python_label(value)] = number
    if not counts:
        raise ValueError("`ds` is empty; there is nothing to plan.")
    if sum(counts.values()) != found.seen:
        raise RuntimeError(
            f"counted {sum(counts.values())} labels for {found.seen} elements; the"
            " label pass lost elements."
        )
    if cardinality >= 0 and found.seen != cardinality:
        raise RuntimeError(
            f"the dataset declares {cardinality} elements but the label pass saw"
            f" {found.seen}."
        )
    return dict(sorted(counts.items()))


@dataclass(frozen=True)
class Table:
    """The held samples: their elements' leaves and, per sample, the plan's
    class index, occurrence in its class and sample key."""

    classes: np.ndarray  # (C,) bool: held whole
    leaves: list[np.ndarray]  # rows in the order the pass met them
    rows: np.ndarray  # per sample, in key order: its row of `leaves`
    index: np.ndarray
    occurrence: np.ndarray
    keys: np.ndarray
    bytes: int

    @property
    def size(self) -> int:
        return int(self.index.size)


def class_indices(plan: Plan, labels: np.ndarray, by_index: bool) -> np.ndarray:
    """The plan's class index of each label (labels already are, `by_index`)."""
    if by_index:
        return labels.astype(np.int64)
    column = {label: place for place, label in enumerate(plan.classes)}
    return np.asarray(
        [column[_labels._python_label(v)] for v in labels.tolist()], np.int64
    )


def table(
    plan: Plan,
    found: Pass,
    idents: int,
    place: Callable[[list[np.ndarray], np.ndarray], tuple[np.ndarray, np.ndarray]],
) -> Table | None:
    """The samples of `found` worth holding under `plan` (factor above 1), with
    (occurrence, key) from `place(ident leaves, class indices)`; None when no
    class is held."""
    collector = found.collector
    by_index = collector.priority is not None
    if not by_index and collector.dropped.any():
        # NOTE: when every class fitted, all stay held and nothing is read
        # again; otherwise only the oversampled ones are worth their memory.
        factors = _spread.class_factors(plan)
        for value, code in list(collector.labels.items()):
            column = class_indices(plan, np.asarray([value]), False)[0]
            if not collector.dropped[code] and factors[column] <= 1:
                collector.drop(code)
    if collector.size == 0:
        return None
    labels, leaves = collector.rows()
    index = class_indices(plan, labels, by_index)
    classes = np.zeros(len(plan.classes), bool)
    classes[np.unique(index)] = True
    held_counts = np.bincount(index, minlength=classes.size)
    wrong = np.flatnonzero(classes & (held_counts != plan._counts))
    if wrong.size:
        column = int(wrong[0])
        raise ValueError(
            f"the stream holds {int(held_counts[column])} samples of class"
            f" {plan.classes[column]!r} but the plan counted"
            f" {int(plan._counts[column])}; plan on the same data you stream."
        )
    occurrence, keys = place(leaves[:idents], index)
    # NOTE: the pass may meet the samples in any order (files interleaved, a
    # keyed source shuffled); the samples are ordered by key, and their rows
    # found through `rows`, so that the same data give the same table.
    rows = np.argsort(keys, kind="stable")
    return Table(
        classes=classes,
        leaves=leaves[idents:],
        rows=rows,
        index=index[rows],
        occurrence=occurrence[rows],
        keys=keys[rows],
        bytes=collector.held_bytes,
    )


def check_counts(plan: Plan, found: Pass) -> None:
    """Refuses given counts that the pass, which read every label, contradicts."""
    seen = found.collector.counts
    wrong = np.flatnonzero(seen != plan._counts)
    if wrong.size:
        column = int(wrong[0])
        raise ValueError(
            f"the stream holds {int(seen[column])} samples of class"
            f" {plan.classes[column]!r} but the counts (or plan) say"
            f" {int(plan._counts[column])}; count the same data you stream."
        )


def in_order(positions: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Each sample's occurrence in its class, counting in `positions` order."""
    order = np.lexsort((positions, index))
    ordered = index[order]
    first = np.searchsorted(ordered, ordered, side="left")
    occurrence = np.empty(index.size, np.int64)
    occurrence[order] = np.arange(index.size) - first
    return occurrence
