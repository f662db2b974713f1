"""Shared steps of balance and duplicate: settings, checks, and carrying a
plan (or a fixed rule) out through the pipeline."""

from __future__ import annotations

from typing import Any

from oversample.core import settings as _settings
from oversample.core import spread as _spread
from oversample.core.plan import Plan
from oversample.core.schedules import Progressive
from oversample.tf import checks as _checks
from oversample.tf import pipeline as _pipeline
from oversample.tf import rules as _rules
from oversample.tf.class_rules import ClassRule
from oversample.tf.labels import Label
from oversample.tf.rule import Rule
from oversample.tf.spreading import Holding


def stream_total(
    plan: Plan | None, per_epoch: int | None, epochs: _settings.Epochs
) -> int | None:
    """Elements one iteration yields, when exact rounding fixes them."""
    if plan is not None:
        if plan.rounding != "exact":
            return None
        if plan.epoch_dependent and epochs.stream is not None:
            return sum(plan.total_at(epoch) for epoch in range(epochs.stream))
        per_epoch = plan.total_at(epochs.fixed or 0)
    if per_epoch is None or not epochs.streaming:
        return per_epoch
    return None if epochs.stream is None else per_epoch * epochs.stream


def check_schedule(plan_or_strategy: object, settings: _settings.Settings) -> None:
    """Refuses an epoch-dependent strategy in the fresh-epoch mode, before any
    data flows."""
    epoch_dependent = (
        plan_or_strategy.epoch_dependent
        if isinstance(plan_or_strategy, Plan)
        else isinstance(plan_or_strategy, Progressive)
    )
    if epoch_dependent and settings.epochs.fresh:
        strategy = getattr(plan_or_strategy, "strategy", plan_or_strategy)
        raise ValueError(
            f"strategy {strategy} changes the targets from epoch to epoch;"
            " give `epochs=E` (epochs 0..E-1 back to back) or `epoch=k`, since"
            " without them every iteration draws a random epoch."
        )


def run(
    ds: Any,
    rule: Rule,
    settings: _settings.Settings,
    *,
    seed: int,
    fingerprint: str,
    plan: Plan | None = None,
    total: int | None = None,
    holding: Holding | None = None,
) -> Any:
    """Checks the source against the plan, builds the pipeline, attaches the
    plan and the report of what is held for the spread."""
    if plan is not None:
        check_schedule(plan, settings)
    cardinality = int(ds.cardinality())
    num_samples = plan.num_samples if plan is not None else None
    keyed_by_position = "per-sample decisions" if rule.by_position else None
    if keyed_by_position is None and settings.copy_seeds and not rule.keyed:
        keyed_by_position = "the copy seeds"
    _checks.check_source(ds, num_samples, keyed_by_position)
    if num_samples is None and cardinality >= 0:
        num_samples = cardinality
    held = None
    if holding is not None and isinstance(rule, ClassRule):
        held = holding.held(rule, ds.element_spec, seed, settings)
    out = _pipeline.assemble(
        ds,
        rule,
        settings,
        seed=seed,
        num_samples=num_samples,
        total=stream_total(plan, total, settings.epochs),
        fingerprint=fingerprint,
        held=held,
    )
    out.plan = plan
    out.spread = (
        holding.report()
        if holding is not None
        else _spread.nothing(0, "the copies do not come from per-class targets")
    )
    return out


def run_plan(
    ds: Any,
    plan: Plan,
    label: Label | None,
    settings: _settings.Settings,
    rule: Rule | None = None,
    holding: Holding | None = None,
) -> Any:
    """Carries out `plan` with its own rule (or `rule`, which reads the plan)."""
    return run(
        ds,
        _rules.plan_rule(plan, label) if rule is None else rule,
        settings,
        seed=plan.seed,
        fingerprint=plan.fingerprint,
        plan=plan,
        holding=holding,
    )
