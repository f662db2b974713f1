"""`plan()`: from labels, weights or class counts and a strategy to a `Plan`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from oversample.core import labels as _labels
from oversample.core import rule as _rule
from oversample.core import seeding as _seeding
from oversample.core import strategies
from oversample.core.plan import Plan
from oversample.core.schedules import Progressive, Schedule
from oversample.core.validation import (
    check_bool,
    check_choice,
    check_factor,
    check_weights,
    describe,
    is_int,
)


def _counts_classes(counts: object) -> tuple[tuple[int | str, ...], np.ndarray]:
    if not isinstance(counts, Mapping) or not counts:
        raise TypeError(
            f"`counts` must be a non-empty dict {{label: count}}; got"
            f" counts={describe(counts)}."
        )
    keys = [int(k) if is_int(k) else k for k in counts]
    if not (all(is_int(k) for k in keys) or all(isinstance(k, str) for k in keys)):
        raise TypeError(
            "`counts` labels must be all ints or all str; got"
            f" {describe(list(counts))}."
        )
    values = list(counts.values())
    for label, value in zip(keys, values, strict=True):
        if not is_int(value) or int(value) < 1:
            raise ValueError(
                f"`counts` must map each label to an int >= 1; got counts[{label!r}]"
                f"={describe(value)}."
            )
    order = sorted(range(len(keys)), key=keys.__getitem__)
    classes = tuple(keys[i] for i in order)
    return classes, np.asarray([int(values[i]) for i in order], dtype=np.int64)


def plan(
    labels: object = None,
    strategy: object = "not majority",
    *,
    seed: int | None = None,
    rounding: str = "exact",
    max_factor: float | None = None,
    weights: object = None,
    counts: Mapping[Any, int] | None = None,
    thin: bool = False,
) -> Plan:
    """Plans how many copies each sample gets per epoch.

    Give exactly one of `labels` (one per sample; a list of label lists or a
    multi-hot matrix for multi-label data with `ovs.RepeatFactor`), `weights`
    (a real factor >= 1 per sample) or `counts` (a dict {label: count}, for
    streaming when per-sample copies are decided by an executor).

    Args:
        labels: ints of any width or strings, 1-D.
        strategy: "not majority" (default; alias "auto"), "all", "minority",
            "not minority", "sqrt", a dict {label: target}, `ovs.Power(a)`,
            `ovs.RepeatFactor(t)`, a callable counts -> {label: target}, or
            targets that change by epoch: `ovs.Progressive(epochs)`,
            `ovs.Schedule({epoch: strategy})`.
        seed: an int in [0, 2**64); None draws one and records it in the plan.
        rounding: "exact" (class totals equal targets every epoch) or
            "stochastic" (counter-based Bernoulli per sample).
        max_factor: caps every class's (or sample's) factor.
        weights: per-sample factors instead of labels and strategy.
        counts: class counts instead of labels.
        thin: allow targets below the counts (a dict target, "median",
            "mean", an int size) and weights in (0, 1). A thinned class gives
            each sample 0 or 1 copies per epoch (b or b+1 in general), rotating
            so that every sample is used within ceil(count / target) epochs.
            Off by default: a plan then never removes a sample.

    Returns:
        A frozen `Plan`.

    Examples:
        >>> import oversample as ovs
        >>> p = ovs.plan(["cat"] * 6 + ["dog"] * 2, seed=1)
        >>> p.counts, p.targets
        ({'cat': 6, 'dog': 2}, {'cat': 6, 'dog': 6})
        >>> ovs.plan(weights=[1.0, 2.5, 1.5], seed=0).total
        5
        >>> ovs.plan([0] * 9 + [1] * 3, "mean", thin=True, seed=0).targets
        {0: 6, 1: 6}
    """
    given = [
        name
        for name, v in (("labels", labels), ("weights", weights), ("counts", counts))
        if v is not None
    ]
    if len(given) != 1:
        raise TypeError(
            "give exactly one of `labels`, `weights` or `counts`; got"
            f" {', '.join(given) or 'none'}."
        )
    rounding = check_choice(rounding, "rounding", _rule.ROUNDINGS)
    thin = check_bool(thin, "thin")
    cap = None if max_factor is None else check_factor(max_factor, "max_factor")
    resolved_seed = _seeding.resolve_seed(seed)
    common: dict[str, Any] = {
        "seed": resolved_seed,
        "rounding": rounding,
        "max_factor": cap,
    }

    if weights is not None:
        if not (isinstance(strategy, str) and strategy == "not majority"):
            raise TypeError(
                "`strategy` does not apply to `weights`: each weight is already a"
                f" sample's factor; got strategy={describe(strategy)}."
            )
        factors = check_weights(weights, thin=thin)
        if cap is not None:
            factors = np.minimum(factors, cap)
        fixed = _rule.to_fixed(factors)
        return Plan(
            classes=(),
            strategy="weights",
            num_samples=factors.size,
            _counts=np.zeros(0, np.int64),
            _targets=np.zeros(0, np.int64),
            _weights=fixed,
            **common,
        )

    if counts is not None:
        classes, class_counts = _counts_classes(counts)
        total = int(class_counts.sum())
        targets, schedule = _targets(strategy, classes, class_counts, total, cap, thin)
        return Plan(
            classes=classes,
            strategy=strategies.describe_strategy(strategy),
            num_samples=total,
            _counts=class_counts,
            _targets=targets,
            **schedule,
            **common,
        )

    if _labels.is_multilabel(labels):
        return _multilabel_plan(labels, strategy, common)
    encoded = _labels.encode_labels(labels)
    size = encoded.codes.size
    targets, schedule = _targets(
        strategy, encoded.classes, encoded.counts, size, cap, thin
    )
    return Plan(
        classes=encoded.classes,
        strategy=strategies.describe_strategy(strategy),
        num_samples=size,
        _counts=encoded.counts,
        _targets=targets,
        _codes=encoded.codes,
        **schedule,
        **common,
    )


def _targets(
    strategy: object,
    classes: tuple[int | str, ...],
    counts: np.ndarray,
    num_samples: int,
    cap: float | None,
    thin: bool,
) -> tuple[np.ndarray, dict[str, Any]]:
    """The plan's targets, and for an epoch-dependent strategy its rows of
    targets and the epochs where they start (the plan's fields)."""
    if isinstance(strategy, Schedule):
        table = strategy.table(classes, counts, num_samples, cap, thin)
        return table[0], {"_schedule": table, "_starts": strategy.starts}
    if isinstance(strategy, Progressive):
        if thin:
            raise ValueError(
                "`thin=True` does not apply to ovs.Progressive, whose epochs only"
                " grow; thin with a static strategy."
            )
        table = strategy.table(classes, counts, num_samples, cap)
        return table[0], {"_schedule": table}
    targets = strategies.resolve_targets(
        strategy, classes, counts, num_samples, max_factor=cap, thin=thin
    )
    return targets, {}


def _multilabel_plan(labels: object, strategy: object, common: dict[str, Any]) -> Plan:
    if not isinstance(strategy, strategies.RepeatFactor):
        raise ValueError(
            "multi-label `labels` (a list of label lists or a multi-hot matrix) work"
            " with strategy=ovs.RepeatFactor(threshold) only, where a sample's factor"
            f" is the largest over its labels; got {_labels.shape_of(labels)}"
            f" with strategy={describe(strategy)}."
        )
    encoded = _labels.encode_multilabels(labels)
    class_factors = strategy.factors(encoded.counts, encoded.num_samples)
    if common["max_factor"] is not None:
        class_factors = np.minimum(class_factors, common["max_factor"])
    sample_factors = np.ones(encoded.num_samples, np.float64)
    np.maximum.at(sample_factors, encoded.sample_of, class_factors[encoded.codes])
    expected = np.bincount(
        encoded.codes,
        weights=sample_factors[encoded.sample_of],
        minlength=len(encoded.classes),
    )
    return Plan(
        classes=encoded.classes,
        strategy=strategies.describe_strategy(strategy),
        num_samples=encoded.num_samples,
        _counts=encoded.counts,
        _targets=strategies.round_half_up(expected),
        _weights=_rule.to_fixed(sample_factors),
        _class_factors=class_factors,
        **common,
    )
