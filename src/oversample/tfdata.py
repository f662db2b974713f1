"""The tf.data executor of one stream: count_labels, balance and duplicate.

Every decision comes from a `Plan` (or, for `duplicate` with whole-number
copies, a fixed rule). Per element, the pipeline looks the label up in a table
of the plan's classes, keeps a running count per class (the sample's
occurrence index: O(classes) state), turns (class, occurrence, epoch) into a
number of copies with the plan's rule and emits that many bit-identical copies,
laid out in a seeded order and mixed by a top-level seeded shuffle. With the
spread, the classes with the most copies are held in memory and their copies
placed over the whole epoch (`oversample.spread`). No `py_function` and no
stateful RNG: iterators checkpoint and resume exactly.

Reached through `ovs.balance` and friends (`oversample.sources` dispatches);
TensorFlow is imported here, on first use.
"""

from __future__ import annotations

from typing import Any

from oversample._choice import Choice
from oversample._copies import Copies
from oversample._settings import Settings
from oversample._tf import checks as _checks
from oversample._tf import holding as _holding
from oversample._tf import labels as _labels
from oversample._tf import run as _run
from oversample._tf import spreading as _spreading
from oversample._tf.class_rules import KeyedClassRule
from oversample._tf.duplicate import duplicate as _duplicate
from oversample._tf.labels import Label, LabelSpec
from oversample._validation import describe
from oversample.plan import Plan
from oversample.strategies import RepeatFactor


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
    if key is not None:
        return _balance_by_key(ds, resolved, key, choice, settings, progress)
    if plan is None and choice.counts is not None:
        plan = choice.from_counts(choice.counts)
    planned = None if plan is None else plan.num_samples
    _checks.check_source(ds, planned, keyed_by_position=True)
    reason = _spread_problem(settings.spread, ds.element_spec, plan, resolved)
    if reason is None:
        _labels.check_finite(ds, "balance")
        holding = _spreading.by_position(
            ds, resolved, settings.spread, plan, choice.from_counts, progress
        )
    else:
        if plan is None:
            plan = _count_and_plan(ds, resolved, choice, progress)
        holding = _spreading.Holding(plan, None, settings.spread, reason)
    return _run.run_plan(ds, holding.plan, resolved, settings, holding=holding)


def duplicate(
    ds: Any,
    form: Copies,
    *,
    label: LabelSpec | None,
    choice: Choice,
    settings: Settings,
) -> Any:
    return _duplicate(ds, form, label=label, choice=choice, settings=settings)


def _count_and_plan(ds: Any, label: Label, choice: Choice, progress: bool) -> Plan:
    """The counting pass, then the plan (per-sample label lists for
    multi-label elements)."""
    _labels.check_finite(ds, "balance")
    if not label.multi:
        return choice.from_counts(_labels.count(ds, label, progress).counts)
    if not isinstance(choice.strategy, RepeatFactor):
        raise ValueError(
            "multi-label elements (a list of labels each) work with"
            " strategy=ovs.RepeatFactor(threshold) only; got"
            f" strategy={describe(choice.strategy)}."
        )
    return choice.from_labels(_labels.count(ds, label, progress).rows)


def _spread_problem(
    budget: int, spec: Any, plan: Plan | None, label: Label
) -> str | None:
    """Why this stream holds nothing for the spread, or None when it can."""
    if not budget:
        return "spread=None"
    if label.multi:
        return "multi-label elements take per-sample factors"
    return _holding.holdable(spec, plan)


def _balance_by_key(
    ds: Any,
    label: Label,
    key: LabelSpec,
    choice: Choice,
    settings: Settings,
    progress: bool,
) -> Any:
    """Decisions keyed by a stable id: the plan's sample i has the i-th key."""
    if choice.counts is not None or choice.plan is not None:
        raise ValueError(
            "`key=` reads every key in its own pass to rank the samples; it does"
            " not combine with `counts=` or `plan=`."
        )
    if label.multi:
        raise ValueError("`key=` supports one label per element.")
    resolved_key = _labels.resolve_label(ds.element_spec, key, name="key")
    if resolved_key.multi:
        raise ValueError("`key` must be a scalar id per element.")
    _labels.check_finite(ds, "balance")
    reason = _spread_problem(settings.spread, ds.element_spec, None, label)
    if reason is None:
        holding, keys = _spreading.by_key(
            ds, label, resolved_key, settings.spread, choice.from_labels, progress
        )
    else:
        keyed = _labels.collect_keyed(ds, label, resolved_key, progress)
        keys = keyed.keys
        plan = choice.from_labels(keyed.labels)
        holding = _spreading.Holding(plan, None, settings.spread, reason)
    chosen = holding.plan
    out = _run.run(
        ds,
        KeyedClassRule(chosen, label, resolved_key, keys),
        settings,
        seed=chosen.seed,
        fingerprint=chosen.fingerprint,
        plan=chosen,
        holding=holding,
    )
    out.keys = keys
    return out
