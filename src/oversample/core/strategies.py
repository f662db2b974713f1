"""The strategy grammar: one function that validates a strategy and resolves it
to per-class targets (copies per epoch after duplication)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np

from oversample.core.settings import INT64_MAX
from oversample.core.validation import describe, is_int

Label: TypeAlias = int | str


@dataclass(frozen=True)
class Power:
    """Class factor (n_max / n_c) ** exponent: 1 is full balance, 0.5 square-root.

    Examples:
        >>> import oversample as ovs
        >>> ovs.plan([0] * 16 + [1] * 4, ovs.Power(0.5), seed=0).targets
        {0: 16, 1: 8}
    """

    exponent: float

    def __post_init__(self) -> None:
        value = self.exponent
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(
                f"`Power(exponent)` must be a finite number >= 0; got"
                f" exponent={describe(value)}."
            )
        if not math.isfinite(value) or value < 0:
            raise ValueError(
                f"`Power(exponent)` must be a finite number >= 0; got exponent={value}."
            )

    def factors(self, counts: np.ndarray) -> np.ndarray:
        """The real factor of each class: (n_max / n_c) ** a."""
        return (counts.max() / counts) ** float(self.exponent)

    def targets(self, counts: np.ndarray) -> np.ndarray:
        """Each class's target: its count times its factor, rounded half up."""
        return round_half_up(counts * self.factors(counts))


@dataclass(frozen=True)
class RepeatFactor:
    """LVIS repeat-factor sampling: r(c) = max(1, sqrt(threshold / f(c))).

    f(c) is the fraction of samples that hold class c. A multi-label sample's
    factor is the largest r(c) over its labels.

    Examples:
        >>> import oversample as ovs
        >>> ovs.plan([0] * 90 + [1] * 10, ovs.RepeatFactor(0.4), seed=0).targets
        {0: 90, 1: 20}
    """

    threshold: float

    def __post_init__(self) -> None:
        value = self.threshold
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(
                f"`RepeatFactor(threshold)` must be a number in (0, 1]; got"
                f" threshold={describe(value)}."
            )
        if not 0 < value <= 1:
            raise ValueError(
                f"`RepeatFactor(threshold)` must be a number in (0, 1]; got"
                f" threshold={value}."
            )

    def factors(self, counts: np.ndarray, num_samples: int) -> np.ndarray:
        """r(c) = max(1, sqrt(t / f(c))), f(c) the share of samples with class c."""
        frequency = counts / num_samples
        return np.maximum(1.0, np.sqrt(float(self.threshold) / frequency))


Strategy: TypeAlias = (
    str | int | Mapping[Any, int] | Power | RepeatFactor | Callable[..., Any]
)


def _raise_to_max(counts: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    return np.where(chosen, counts.max(), counts)


def _all(counts: np.ndarray) -> np.ndarray:
    return _raise_to_max(counts, np.ones(counts.shape, bool))


def _minority(counts: np.ndarray) -> np.ndarray:
    chosen = np.zeros(counts.shape, bool)
    chosen[np.argmin(counts)] = True
    return _raise_to_max(counts, chosen)


def _not_minority(counts: np.ndarray) -> np.ndarray:
    chosen = np.ones(counts.shape, bool)
    chosen[np.argmin(counts)] = False
    return _raise_to_max(counts, chosen)


# NOTE: "not majority" and "all" give the same targets when oversampling (the
# largest class is already at the largest count); both names are kept because
# users come with imbalanced-learn's vocabulary.
PRESETS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "not majority": _all,
    "auto": _all,
    "all": _all,
    "minority": _minority,
    "not minority": _not_minority,
    "sqrt": Power(0.5).targets,
}


# Strategies that move every class to one size, up or down: they thin the
# classes above that size, so they need `thin=True` (unless none is above).
SIZES: dict[str, Callable[[np.ndarray], float]] = {
    "median": lambda counts: float(np.median(counts)),
    "mean": lambda counts: float(np.mean(counts)),
}

THIN_HINT = (
    "oversampling never removes a sample unless a target below the count asks"
    " for it: pass thin=True to thin these classes (each sample 0 or 1 copies"
    " per epoch, rotating so that every sample is used within ceil(count /"
    " target) epochs)"
)


def _one_size(size: float, counts: np.ndarray) -> np.ndarray:
    return np.full(counts.shape, max(1, int(round_half_up(np.asarray(size)))), np.int64)


def round_half_up(values: np.ndarray) -> np.ndarray:
    """Rounds real targets to int64, halves up (documented rule)."""
    return np.floor(np.asarray(values, dtype=np.float64) + 0.5).astype(np.int64)


def _label_key(label: object, classes: tuple[Label, ...]) -> object:
    """A user's dict key as the plan spells classes (str or int); else as is."""
    if classes and isinstance(classes[0], str):
        if isinstance(label, str | np.str_):
            return str(label)
    elif is_int(label):
        return int(label)
    return label


def _dict_targets(
    mapping: Mapping[Any, Any], classes: tuple[Label, ...], counts: np.ndarray
) -> np.ndarray:
    index = {c: i for i, c in enumerate(classes)}
    targets = counts.copy()
    problems = []
    for raw_label, raw_target in mapping.items():
        label = _label_key(raw_label, classes)
        if label not in index:
            problems.append(
                f"class {describe(raw_label)} is not in the labels (classes:"
                f" {describe(list(classes))})"
            )
            continue
        count = int(counts[index[label]])
        whole = is_int(raw_target) or (
            isinstance(raw_target, float | np.floating)
            and math.isfinite(raw_target)
            and float(raw_target).is_integer()
        )
        if not whole:
            problems.append(
                f"target {describe(raw_target)} for class {describe(label)} is not a"
                " whole number"
            )
            continue
        target = int(raw_target)
        if target < 1:
            problems.append(
                f"target {target} for class {describe(label)} would drop the class"
                f" (count {count}) for good; leave it out of the source instead"
            )
            continue
        if target > INT64_MAX:
            problems.append(
                f"target {target} for class {describe(label)} is above 2**63 - 1"
                " copies an epoch (positions are int64)"
            )
            continue
        targets[index[label]] = target
    if problems:
        raise ValueError(
            "`strategy` dict must map classes in the labels to whole-number targets"
            " >= 1; " + "; ".join(problems) + "."
        )
    return targets


def check_thinning(
    targets: np.ndarray,
    classes: tuple[Label, ...],
    counts: np.ndarray,
    thin: bool,
    strategy: object,
) -> None:
    """Refuses targets below the counts unless `thin=True` asked for them."""
    below = np.flatnonzero(targets < counts)
    if thin or not below.size:
        return
    shown = ", ".join(
        f"class {describe(classes[i])}: {int(targets[i])} < {int(counts[i])}"
        for i in below[:4]
    )
    more = f" and {below.size - 4} more" if below.size > 4 else ""
    named = (
        repr(strategy)
        if isinstance(strategy, str) or is_int(strategy)
        else describe_strategy(strategy)
    )
    raise ValueError(
        f"`strategy`={named} sets targets below the"
        f" counts ({shown}{more}); {THIN_HINT}."
    )


def describe_strategy(strategy: object) -> str:
    """A stable text for summaries, JSON and fingerprints."""
    if isinstance(strategy, str):
        return strategy
    if is_int(strategy):
        return str(int(strategy))
    if isinstance(strategy, Power | RepeatFactor):
        return repr(strategy)
    if isinstance(strategy, Mapping):
        return "dict"
    if callable(strategy):
        return f"callable {getattr(strategy, '__name__', type(strategy).__name__)}"
    return describe(strategy)


def resolve_targets(
    strategy: object,
    classes: tuple[Label, ...],
    counts: np.ndarray,
    num_samples: int,
    *,
    max_factor: float | None = None,
    thin: bool = False,
) -> np.ndarray:
    """Validates `strategy` and returns int64 targets per class, in class order.

    Args:
        strategy: see the strategy grammar in the README.
        classes: sorted class labels.
        counts: samples per class, same order, all > 0.
        num_samples: number of source samples (differs from counts.sum() for
            multi-label data).
        max_factor: caps every class's factor.
        thin: allows targets below the counts (opt-in thinning).
    """
    counts = np.asarray(counts, dtype=np.int64)
    if isinstance(strategy, str) and strategy not in PRESETS | SIZES:
        allowed = ", ".join(repr(name) for name in PRESETS | SIZES)
        raise ValueError(
            f"`strategy` must be one of {allowed}, an int size, a dict"
            " {label: target}, ovs.Power(a), ovs.RepeatFactor(t) or a callable;"
            f" got strategy={strategy!r}."
        )
    if is_int(strategy) and int(strategy) < 1:
        raise ValueError(
            "`strategy` as an int is the size every class is moved to, an int"
            f" >= 1; got strategy={int(strategy)}."
        )
    if isinstance(strategy, str | Power) and len(classes) == 1:
        raise ValueError(
            f"`strategy`={strategy!r} balances classes, but the labels hold a"
            f" single class ({describe(classes[0])}); check the `label` you"
            " chose, or use `duplicate(copies=...)` to repeat every sample."
        )
    if isinstance(strategy, str) and strategy in SIZES:
        targets = _one_size(SIZES[strategy](counts), counts)
    elif isinstance(strategy, str):
        targets = PRESETS[strategy](counts)
    elif is_int(strategy):
        targets = _one_size(int(strategy), counts)
    elif isinstance(strategy, Power):
        targets = strategy.targets(counts)
    elif isinstance(strategy, RepeatFactor):
        targets = round_half_up(counts * strategy.factors(counts, num_samples))
    elif isinstance(strategy, Mapping):
        targets = _dict_targets(strategy, classes, counts)
    elif callable(strategy):
        result = strategy(dict(zip(classes, counts.tolist(), strict=True)))
        if not isinstance(result, Mapping):
            raise TypeError(
                "`strategy` callable must return a dict {label: target}; got"
                f" {describe(result)}."
            )
        targets = _dict_targets(result, classes, counts)
    else:
        raise TypeError(
            "`strategy` must be a preset name, an int size, a dict {label: target},"
            " ovs.Power(a), ovs.RepeatFactor(t) or a callable; got"
            f" strategy={describe(strategy)}."
        )
    check_thinning(targets, classes, counts, thin, strategy)
    if max_factor is not None:
        targets = np.minimum(targets, np.floor(counts * max_factor).astype(np.int64))
    return targets.astype(np.int64)
