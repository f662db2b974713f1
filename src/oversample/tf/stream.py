"""The tf.data executor of one stream: count_labels, balance and duplicate.

Every decision comes from a `Plan` (or, for `duplicate` with whole-number
copies, a fixed rule). Per element, the pipeline looks the label up in a table
of the plan's classes, keeps a running count per class (the sample's
occurrence index: O(classes) state), turns (class, occurrence, epoch) into a
number of copies with the plan's rule and emits that many bit-identical copies,
laid out in a seeded order and mixed by a top-level seeded shuffle. With the
spread, the classes with the most copies are held in memory and their copies
placed over the whole epoch (`oversample.core.spread`). No `py_function` and no
stateful RNG: iterators checkpoint and resume exactly.

Reached through `ovs.balance` and friends (`oversample.sources` dispatches);
TensorFlow is imported here, on first use.
"""

from __future__ import annotations

from typing import Any

from oversample.core.prepare import Choice, prepare
from oversample.core.settings import Settings
from oversample.tf import labels as _labels
from oversample.tf import run as _run
from oversample.tf import spreading as _spreading
from oversample.tf.duplicate import duplicate
from oversample.tf.labels import LabelSpec
from oversample.tf.readers import KeyedReader, StreamReader

__all__ = ["balance", "count_labels", "duplicate"]


def count_labels(ds: Any, label: LabelSpec, progress: bool) -> dict[int | str, int]:
    """Elements per class in one label-only pass."""
    resolved = _labels.resolve_label(ds.element_spec, label)
    _labels.check_finite(ds, "count_labels")
    return _labels.count(ds, resolved, progress).counts


def balance(
    ds: Any,
    label: LabelSpec,
    choice: Choice,
    settings: Settings,
    *,
    progress: bool,
    key: LabelSpec | None,
) -> Any:
    """One stream keyed by position (or, with `key`, by a stable id)."""
    resolved = _labels.resolve_label(ds.element_spec, label)
    plan = choice.given_plan()
    _run.check_schedule(plan if plan is not None else choice.strategy, settings)
    reader = (
        StreamReader(ds, resolved) if key is None else KeyedReader(ds, resolved, key)
    )
    prepared = prepare(reader, choice, settings, progress)
    plan = prepared.plan
    holding = _spreading.held(prepared, 1, reader.place(prepared))
    out = _run.run_plan(
        ds, plan, resolved, settings, rule=reader.rule(prepared), holding=holding
    )
    if prepared.counted is not None and prepared.counted.keys is not None:
        out.keys = prepared.counted.keys
    return out
