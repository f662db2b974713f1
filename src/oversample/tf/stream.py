"""The tf.data executor of one stream: `count_labels`, `balance` and
`duplicate`, and its readers for the one preparation
(`oversample.core.prepare`): one stream keyed by position, or by a stable id.

Every decision comes from a `Plan`. Per element, the pipeline looks the label
up in a table of the plan's classes, keeps a running count per class (the
sample's occurrence index: O(classes) state), turns (class, occurrence,
epoch) into a number of copies with the plan's rule and emits that many
bit-identical copies, laid out in a seeded order and mixed by a top-level
seeded shuffle. With the spread, the classes with the most copies are held
in memory and their copies placed over the whole epoch
(`oversample.core.spread`). No `py_function` and no stateful RNG: iterators
checkpoint and resume exactly.

Reached through `ovs.balance` and friends (`oversample.sources` dispatches);
TensorFlow is imported here, on first use.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from oversample.core import copies as _copies
from oversample.core.copies import Copies
from oversample.core.keying import POSITION, By, Keying
from oversample.core.plan import Plan
from oversample.core.planning import plan as make_plan
from oversample.core.prepare import Choice, Counted, FactorChoice, Pairs, prepare
from oversample.core.schedules import check_fresh
from oversample.core.settings import Settings
from oversample.core.strategies import RepeatFactor
from oversample.tf import source as _source
from oversample.tf import spread as _spread
from oversample.tf.pipeline import run
from oversample.tf.rule import KeyedClassRule, Rule, WeightRule, fixed_from_weight
from oversample.tf.rule import plan_rule as _plan_rule
from oversample.tf.source import Label, LabelSpec

__all__ = ["balance", "count_labels", "duplicate"]


def count_labels(
    ds: Any, label: LabelSpec, progress: bool, *, keying: Keying = POSITION
) -> dict[int | str, int]:
    """Elements per class in one label-only pass."""
    resolved = _source.resolve_label(ds.element_spec, label)
    _source.check_finite(ds, "count_labels")
    return _source.count(ds, resolved, progress).counts


def balance(
    ds: Any,
    label: LabelSpec,
    choice: Choice,
    settings: Settings,
    *,
    keying: Keying,
    progress: bool,
) -> Any:
    """One stream keyed by position (or, with `key=`, by a stable id)."""
    resolved = _source.resolve_label(ds.element_spec, label)
    if resolved.multi and not isinstance(choice.strategy, RepeatFactor):
        _source.check_unbatched(ds.element_spec)
    plan = choice.given_plan()
    check_fresh(plan if plan is not None else choice.strategy, settings.epochs)
    reader = (
        KeyedReader(ds, resolved, keying.key)
        if keying.by is By.ID
        else StreamReader(ds, resolved)
    )
    prepared = prepare(reader, choice, settings, progress)
    holding = _spread.held(prepared, 1, reader.place(prepared))
    out = run(ds, prepared.plan, reader.rule(prepared), settings, holding)
    if isinstance(reader, KeyedReader):
        assert prepared.counted is not None
        out.keys = prepared.counted.keys
    return out


def duplicate(
    ds: Any,
    form: Copies,
    *,
    label: LabelSpec | None,
    choice: Choice,
    settings: Settings,
    keying: Keying = POSITION,
) -> Any:
    """`ovs.duplicate` on a tf.data stream: every form becomes a plan first,
    then streams as any plan does."""
    resolved = None if label is None else _source.resolve_label(ds.element_spec, label)
    plan, rule, holding = _planned(ds, form, resolved, choice, settings)
    return run(ds, plan, rule, settings, holding)


def _planned(
    ds: Any, form: Copies, label: Label | None, choice: Choice, settings: Settings
) -> tuple[Plan, Rule, _spread.Holding | None]:
    """The plan of one form of `duplicate`, the rule that carries it out and
    what the stream holds for the spread."""
    plan = choice.given_plan()
    by_class = plan.kind == "classes" if plan is not None else form.per_class
    if by_class and not _copies.by_table(form, settings):
        # NOTE: a class plan, given or of per-class factors (count x factor),
        # goes through the one preparation: checked against the data or made
        # from a read of the labels, with what the spread holds collected.
        assert label is not None
        if plan is None:
            choice = FactorChoice(
                seed=choice.seed, rounding=choice.rounding, factors=form.per_class
            )
        reader = StreamReader(ds, label, what="per-class `copies`")
        prepared = prepare(reader, choice, settings, progress=False)
        holding = _spread.held(prepared, 1, _spread.by_position)
        return prepared.plan, _plan_rule(prepared.plan, label), holding
    if plan is None and form.weight is not None:
        weight = form.weight
        weights = _source.weights(ds, weight)
        plan = make_plan(weights=weights, seed=choice.seed, rounding=choice.rounding)
        rule = WeightRule(plan, lambda element, key: fixed_from_weight(weight(element)))
        return plan, rule, None
    if plan is None:
        plan = _whole(ds, form, choice)
    return plan, _plan_rule(plan, label), None


def _whole(ds: Any, form: Copies, choice: Choice) -> Plan:
    """The plan of one factor for every sample (a real one through weights),
    for a predicate or for chosen positions, or of whole factors per class."""
    seed = choice.seed
    if form.kind == "fraction":
        size = _source.known_size(ds, f"a fractional `copies`={form.factor}")
        weights = np.full(size, form.factor)
        return make_plan(weights=weights, seed=seed, rounding=choice.rounding)
    cardinality = int(ds.cardinality())
    known = cardinality if cardinality >= 0 else None
    if form.where is not None:
        identity, unknown = _source.graph_identity(ds.element_spec, form.where)
        return _copies.whole_plan(form, seed, known, identity=identity, unknown=unknown)
    if form.indices is not None:
        size = known if known is not None else _source.length(ds, "`indices`")
        indices = _copies.positions(form.indices, lambda: size)
        return _copies.whole_plan(form, seed, size, indices=indices)
    return _copies.whole_plan(form, seed, known)


# The readers of one stream.


class StreamReader:
    """One stream, keyed by its position: the order must not change."""

    sharded = False
    once = False

    def __init__(self, ds: Any, label: Label, what: str = "balance") -> None:
        self.ds, self.label, self.what = ds, label, what

    def check(self, counts: Any, plan: Plan | None) -> None:
        _source.check_source(self.ds, plan, "per-sample decisions")

    def unheld(self, plan: Plan | None) -> str | None:
        if self.label.multi:
            return "multi-label elements take per-sample factors"
        return _spread.holdable(self.ds.element_spec)

    def count(self, progress: bool) -> Counted:
        _source.check_finite(self.ds, self.what)
        counted = _source.count(self.ds, self.label, progress)
        pairs: Pairs = {(0, label): n for label, n in counted.counts.items()}
        return Counted(pairs, labels=counted.rows, multi=self.label.multi)

    def place(self, prepared: Any) -> _spread.Place:
        """How a held sample finds its occurrence and key."""
        return _spread.by_position

    def rule(self, prepared: Any) -> Rule:
        """The rule that carries the plan out in the stream."""
        return _plan_rule(prepared.plan, self.label)

    def collect(
        self, budget: int, plan: Plan | None, progress: bool
    ) -> tuple[_spread.Pass, Counted]:
        ds = self.ds
        _source.check_finite(ds, self.what)
        found = _spread.collect(ds, self.label, budget, plan, progress, positional=True)
        return found, Counted(_seen_pairs(found, plan, int(ds.cardinality())))


class KeyedReader(StreamReader):
    """One stream keyed by a stable id (`key=`): any order, the plan's sample
    i the i-th key in sorted order."""

    def __init__(self, ds: Any, label: Label, key: object) -> None:
        if label.multi:
            raise ValueError("`key=` supports one label per element.")
        resolved = _source.resolve_label(ds.element_spec, key, name="key")
        if resolved.multi:
            raise ValueError("`key` must be a scalar id per element.")
        super().__init__(ds, label)
        self.key = resolved

    def check(self, counts: Any, plan: Plan | None) -> None:
        if counts is not None or plan is not None:
            raise ValueError(
                "`key=` reads every key in its own pass to rank the samples; it"
                " does not combine with `counts=` or `plan=`."
            )
        _source.check_finite(self.ds, self.what)

    def place(self, prepared: Any) -> _spread.Place:
        assert prepared.counted is not None
        return _spread.by_key(prepared.plan, prepared.counted.keys)

    def rule(self, prepared: Any) -> Rule:
        assert prepared.counted is not None
        keys = prepared.counted.keys
        return KeyedClassRule(prepared.plan, self.label, self.key, keys)

    def count(self, progress: bool) -> Counted:
        keyed = _source.collect_keyed(self.ds, self.label, self.key, progress)
        return Counted({}, labels=keyed.labels, keys=keyed.keys)

    def collect(
        self, budget: int, plan: Plan | None, progress: bool
    ) -> tuple[_spread.Pass, Counted]:
        source = _source.map_elements(self.ds, lambda e: ((self.key.read(e),), e))
        found = _spread.collect(
            source, self.label, budget, None, progress, keep_all=True
        )
        assert found.idents is not None and found.labels is not None
        keys, order = _source.sorted_keys(found.idents)
        labels = _source.python_array(found.labels)[order]
        return found, Counted({}, labels=labels, keys=keys)


def _seen_pairs(found: _spread.Pass, plan: Plan | None, cardinality: int) -> Pairs:
    """The labels a positional collecting read counted (by class index when a
    plan told the read its classes)."""
    if plan is None:
        counts = _spread.counts_of(found, cardinality)
        return {(0, label): n for label, n in counts.items()}
    seen = found.collector.counts
    return {(0, label): int(seen[c]) for c, label in enumerate(plan.classes)}
