"""Epoch-dependent strategies: per-class targets that change from epoch to
epoch, resolved once into a table of targets per epoch."""

from __future__ import annotations

import itertools
import numbers
import types
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from oversample.core import strategies
from oversample.core.plan import Plan
from oversample.core.settings import Epochs
from oversample.core.validation import describe, is_int


@dataclass(frozen=True)
class Progressive:
    """Progressively-balanced sampling (Kang et al., ICLR 2020).

    A class's share of an epoch moves linearly from its share of the data
    (instance-balanced) at epoch 0 to its share under `end` (by default every
    class at the largest count: class-balanced) at epoch `epochs`, and stays
    there. Oversampling never removes a sample, so each epoch is as long as
    it must be for its smallest share to keep every sample once: epochs grow
    from the data's size to the `end` total.

    Args:
        epochs: the epoch from which the `end` targets hold, an int >= 1.
        end: the final strategy, any static one ("all", "sqrt", a dict, ...).

    Examples:
        >>> import oversample as ovs
        >>> p = ovs.plan([0] * 8 + [1] * 2, ovs.Progressive(epochs=2), seed=0)
        >>> [p.targets_at(e) for e in range(4)]
        [{0: 8, 1: 2}, {0: 8, 1: 4}, {0: 8, 1: 8}, {0: 8, 1: 8}]
    """

    epochs: int
    end: object = "all"

    def __post_init__(self) -> None:
        if not is_int(self.epochs) or int(self.epochs) < 1:
            raise (ValueError if is_int(self.epochs) else TypeError)(
                "`Progressive(epochs)` must be an int >= 1; got"
                f" epochs={describe(self.epochs)}."
            )
        end = self.end
        static = (
            (isinstance(end, str) and end in strategies.PRESETS)
            or isinstance(end, Mapping | strategies.Power | strategies.RepeatFactor)
            or (callable(end) and not isinstance(end, type))
        )
        if not static or isinstance(end, Progressive | numbers.Number):
            raise TypeError(
                "`Progressive(end)` must be a static strategy (a preset, a dict,"
                f" ovs.Power(a), a callable); got end={describe(self.end)}."
            )

    def table(
        self,
        classes: tuple[strategies.Label, ...],
        counts: np.ndarray,
        num_samples: int,
        max_factor: float | None,
    ) -> np.ndarray:
        """Targets per epoch, shape (epochs + 1, classes): row t for epoch t,
        the last row for every later epoch."""
        final = strategies.resolve_targets(
            self.end, classes, counts, num_samples, max_factor=max_factor
        ).astype(np.float64)
        weight = (np.arange(int(self.epochs) + 1) / int(self.epochs))[:, None]
        share = (1 - weight) * (counts / counts.sum()) + weight * (final / final.sum())
        # Each epoch is as long as its smallest share needs to keep every sample.
        total = (counts / share).max(axis=1, keepdims=True)
        table = np.maximum(strategies.round_half_up(share * total), counts)
        if max_factor is not None:
            cap = np.floor(counts * max_factor).astype(np.int64)
            table = np.minimum(table, cap)
        return table.astype(np.int64)

    def __repr__(self) -> str:
        end = self.end
        shown = strategies.describe_strategy(end) if callable(end) else repr(end)
        return f"Progressive(epochs={int(self.epochs)}, end={shown})"


@dataclass(frozen=True, eq=False)
class Schedule:
    """Targets that change by phase: {epoch: strategy}, each phase's strategy
    holding from its epoch until the next phase begins, the last for every
    later epoch.

    A phase is any static strategy of `ovs.plan` ("sqrt", "all", a dict of
    targets, `ovs.Power(a)`, a size with `thin=True`, ...), or, as the
    `rates=` or `samples=` of `ovs.mix` and `ovs.mix_plan`, a dict {source:
    rate}. The extra copies rotate by the ledger of extras given in earlier
    epochs, so any two samples of a class (a source) differ by at most one use
    counted from epoch 0, after any number of epochs, whatever the phases. A
    saved state restores into a schedule that agrees with this one up to the
    epoch it was saved in and differs later (weights changed on resume).

    Args:
        phases: {first epoch of the phase: strategy}, the first at epoch 0,
            the epochs increasing.

    Examples:
        >>> import oversample as ovs
        >>> schedule = ovs.Schedule({0: "sqrt", 2: "all"})
        >>> p = ovs.plan([0] * 8 + [1] * 2, schedule, seed=0)
        >>> [p.targets_at(e)[1] for e in range(4)]
        [4, 4, 8, 8]
    """

    phases: Mapping[int, object]

    def __post_init__(self) -> None:
        phases = self.phases
        if not isinstance(phases, Mapping) or not phases:
            raise TypeError(
                "`Schedule(phases)` must be a non-empty dict {epoch: strategy};"
                f" got phases={describe(phases)}."
            )
        epochs = list(phases)
        bad = [e for e in epochs if not is_int(e) or int(e) < 0]
        if bad:
            raise (ValueError if all(is_int(e) for e in bad) else TypeError)(
                "`Schedule(phases)` must be keyed by epochs, ints >= 0; got"
                f" {describe(bad[0])} in phases={describe(dict(phases))}."
            )
        if int(epochs[0]) != 0:
            raise ValueError(
                "`Schedule(phases)` must begin with a phase at epoch 0 (what"
                f" would epoch 0 be?); got the first phase at epoch {epochs[0]} in"
                f" phases={describe(dict(phases))}."
            )
        unsorted = [(int(a), int(b)) for a, b in itertools.pairwise(epochs) if b <= a]
        if unsorted:
            raise ValueError(
                "`Schedule(phases)` must list its phases in increasing epochs; got"
                f" epoch {unsorted[0][1]} after epoch {unsorted[0][0]} in"
                f" phases={describe(dict(phases))}."
            )
        for epoch, strategy in phases.items():
            if isinstance(strategy, Progressive | Schedule) or not _static(
                strategy, rates=True
            ):
                raise TypeError(
                    f"`Schedule` phase {epoch} must be a static strategy (a preset,"
                    " a dict, ovs.Power(a), a callable, a size) or, for a mixture,"
                    f" a dict of rates; got {describe(strategy)}."
                )
        # NOTE: a copy, read-only: the caller's dict may change after the check.
        kept = {
            int(e): dict(s) if isinstance(s, Mapping) else s for e, s in phases.items()
        }
        object.__setattr__(self, "phases", types.MappingProxyType(kept))

    @property
    def starts(self) -> np.ndarray:
        """The first epoch of each phase."""
        return np.asarray([int(e) for e in self.phases], np.int64)

    def table(
        self,
        classes: tuple[strategies.Label, ...],
        counts: np.ndarray,
        num_samples: int,
        max_factor: float | None,
        thin: bool,
    ) -> np.ndarray:
        """Targets per phase, shape (phases, classes), in phase order; a
        phase that is not valid for these classes is refused naming it."""
        rows = []
        for epoch, strategy in self.phases.items():
            try:
                rows.append(
                    strategies.resolve_targets(
                        strategy,
                        classes,
                        counts,
                        num_samples,
                        max_factor=max_factor,
                        thin=thin,
                    )
                )
            except (TypeError, ValueError) as error:
                raise type(error)(f"`Schedule` phase {epoch}: {error}") from error
        return np.stack(rows).astype(np.int64)

    def __repr__(self) -> str:
        """The phases as `describe_strategy` gives them (a callable by its
        name, not its address): the same text in every process, as the
        plan's fingerprint needs."""
        shown = ", ".join(
            f"{int(e)}: {s!r}"
            if isinstance(s, Mapping | str)
            else f"{int(e)}: {strategies.describe_strategy(s)}"
            for e, s in self.phases.items()
        )
        return f"Schedule({{{shown}}})"


def _static(strategy: object, rates: bool = False) -> bool:
    """A strategy that gives the same targets in every epoch (or, with
    `rates`, a dict of a mixture's rates)."""
    if isinstance(strategy, str):
        return strategy in strategies.PRESETS or strategy in strategies.SIZES
    if isinstance(strategy, numbers.Number) and not isinstance(strategy, bool):
        return is_int(strategy)
    if isinstance(strategy, Mapping | strategies.Power | strategies.RepeatFactor):
        return True
    return callable(strategy) and not isinstance(strategy, type)


EPOCH_DEPENDENT = (Progressive, Schedule)


def check_fresh(plan_or_strategy: object, epochs: Epochs) -> None:
    """Refuses an epoch-dependent plan or strategy in the fresh-epoch mode
    (each iteration a random epoch), before any data flows."""
    epoch_dependent = (
        plan_or_strategy.epoch_dependent
        if isinstance(plan_or_strategy, Plan)
        else isinstance(plan_or_strategy, EPOCH_DEPENDENT)
    )
    if epoch_dependent and epochs.fresh:
        strategy = getattr(plan_or_strategy, "strategy", plan_or_strategy)
        if strategy == "mixture":
            strategy = "the mixture's Schedule of rates"
        raise ValueError(
            f"{strategy} changes the targets from epoch to epoch;"
            " give `epochs=E` (epochs 0..E-1 back to back) or `epoch=k`, since"
            " without them every iteration draws a random epoch."
        )
