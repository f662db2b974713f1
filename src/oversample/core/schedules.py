"""Epoch-dependent strategies: per-class targets that change from epoch to
epoch, resolved once into a table of targets per epoch."""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from oversample.core import strategies
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
        return f"Progressive(epochs={int(self.epochs)}, end={self.end!r})"
