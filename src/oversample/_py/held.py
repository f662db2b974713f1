"""The spread for Python streams: the examples of the classes with the most
copies per sample, held in memory (see `oversample.spread`), and their copies
placed over the whole epoch.

Epoch e's held copies are H, the sum of the plan's copies of the held
samples. The sample with key k of the N owns the slots floor(H k / N) up to
floor(H (k + 1) / N); slot j takes copy h = pi_e(j) of the multiset, pi_e a
seeded bijection of [0, H). Whichever reader streams a sample emits its
slots, so readers of disjoint samples emit every copy once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from oversample import _order, _seeding
from oversample import spread as _spread
from oversample._py.decide import ClassDecider
from oversample._py.fields import nbytes


class Collector:
    """Examples of whole classes, gathered until the budget is spent: with
    `priority` (per class index) only classes of positive priority, dropping
    the lowest first; without it every class, dropping the one counted most
    so far (the counting pass folded into this one)."""

    def __init__(self, budget: int, priority: np.ndarray | None = None) -> None:
        self.budget, self.priority = budget, priority
        self.rows: dict[Any, list[tuple[int, Any]]] = {}  # label -> (ident, example)
        self.bytes: dict[Any, int] = {}
        self.dropped: set[Any] = set()
        self.counts: dict[Any, int] = {}
        self.total = 0

    def _rank(self, label: Any) -> float:
        if self.priority is None:
            return -float(self.counts[label])
        return float(self.priority[label])

    def add(self, labels: list[Any], idents: list[int], examples: list[Any]) -> None:
        for label, ident, example in zip(labels, idents, examples, strict=True):
            self.counts[label] = self.counts.get(label, 0) + 1
            if label in self.dropped or (
                self.priority is not None and self.priority[label] <= 0
            ):
                continue
            size = nbytes(example)
            self.rows.setdefault(label, []).append((ident, example))
            self.bytes[label] = self.bytes.get(label, 0) + size
            self.total += size
            while self.total > self.budget and self.rows:
                self.drop(min(self.rows, key=self._rank))

    def drop(self, label: Any) -> None:
        self.dropped.add(label)
        self.rows.pop(label, None)
        self.total -= self.bytes.pop(label, 0)


class Held:
    """The held examples of one plan and their copies, epoch by epoch."""

    def __init__(
        self,
        decider: ClassDecider,
        examples: list[Any],
        index: np.ndarray,
        occurrence: np.ndarray,
        keys: np.ndarray,
        held_bytes: int,
        provenance: bool,
    ) -> None:
        order = np.argsort(
            keys, kind="stable"
        )  # NOTE: the same table for any read order
        self.decider = decider
        self.examples = np.empty(len(examples), dtype=object)
        self.examples[:] = [examples[i] for i in order.tolist()]
        self.index, self.occurrence = index[order], occurrence[order]
        self.keys, self.bytes = keys[order], held_bytes
        self.provenance = provenance
        self.samples = int(decider.plan.num_samples)
        self.seed = decider.plan.seed
        self._epoch: int | None = None
        self._bounds: tuple[np.ndarray, np.ndarray, _order.Feistel] | None = None

    @property
    def size(self) -> int:
        return int(self.keys.size)

    def _of(self, epoch: int) -> tuple[np.ndarray, np.ndarray, _order.Feistel]:
        if self._epoch != epoch or self._bounds is None:
            copies = self.decider.copies(
                self.index, self.occurrence, self.keys, epoch, streamed=False
            )
            ends = np.cumsum(copies)
            total = int(ends[-1])
            bits = max(2, (total - 1).bit_length())
            words = _seeding.raw_words(self.seed, _order.ROUNDS, "held", epoch)
            permutation = _order.Feistel(total, bits // 2, bits, words)
            self._bounds, self._epoch = (ends - copies, ends, permutation), epoch
        return self._bounds

    def owned(self, keys: np.ndarray, epoch: int) -> list[Any]:
        """The held copies that the samples with these keys own in `epoch`."""
        starts, ends, permutation = self._of(epoch)
        total = permutation.total
        low = keys * total // self.samples
        high = (keys + 1) * total // self.samples
        width = high - low
        if not width.any():
            return []
        slots = np.repeat(low - np.cumsum(width) + width, width) + np.arange(
            int(width.sum())
        )
        copy = permutation(slots)
        row = np.searchsorted(ends, copy, side="right")
        found = self.examples[row].tolist()
        if not self.provenance:
            return list(found)
        marks = zip(self.keys[row].tolist(), (copy - starts[row]).tolist(), strict=True)
        return [
            (e, {"key": k, "copy": c}) for e, (k, c) in zip(found, marks, strict=True)
        ]


def report(plan: Any, held: Held | None, budget: int, reason: str | None) -> Any:
    """The `Spread` report of a Python stream."""
    if held is None:
        return _spread.nothing(budget, reason or "")
    classes = np.zeros(len(plan.classes), bool)
    classes[np.unique(held.index)] = True
    return _spread.Spread(
        budget=budget,
        held_classes=tuple(c for c, h in zip(plan.classes, classes, strict=True) if h),
        held_samples=held.size,
        held_bytes=held.bytes,
        held_copies=int(plan._targets_of(0)[classes].sum()),
        total=plan.total_at(0),
    )
