"""Copies of a block of examples in NumPy: from a plan's class rule (the rule
the plan and the tf.data executor use), from a plan that knows every sample,
or from a fixed rule of `duplicate`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from oversample.core import rounding as _rounding
from oversample.core.plan import Plan
from oversample.core.validation import describe


class ClassDecider:
    """The plan's class of each label, and each sample's copies from its class,
    its occurrence in the class and its key."""

    by_class = True

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.strings = isinstance(plan.classes[0], str) if plan.classes else False
        if self.strings:
            self.column = {label: place for place, label in enumerate(plan.classes)}
        else:
            self.sorted = np.asarray(plan.classes, dtype=np.int64)
            self.low = int(self.sorted[0]) if self.sorted.size else 0
            span = int(self.sorted[-1]) - self.low + 1 if self.sorted.size else 0
            # NOTE: labels in a small range are looked up in one gather.
            self.table: np.ndarray | None = None
            if 0 < span <= 1 << 20:
                self.table = np.full(span, -1, np.int64)
                self.table[self.sorted - self.low] = np.arange(self.sorted.size)
        self.held: np.ndarray | None = None  # per class: streamed from memory
        self.counts = plan._counts

    def index(self, labels: np.ndarray) -> np.ndarray:
        """The class index of each label; a label the plan lacks is refused."""
        if self.strings:
            found = [self.column.get(v, -1) for v in labels.tolist()]
            index = np.asarray(found, np.int64)
        elif self.table is not None:
            inside = labels - self.low
            fits = (inside >= 0) & (inside < self.table.size)
            index = np.where(fits, self.table[np.where(fits, inside, 0)], -1)
        else:
            index = np.searchsorted(self.sorted, labels)
            index = np.minimum(index, self.sorted.size - 1)
            index[self.sorted[index] != labels] = -1
        unknown = index < 0
        if unknown.any():
            shown = sorted(set(labels[unknown].tolist()))[:5]
            raise ValueError(
                "a label is not in the plan's classes (there is no default copy"
                f" count); unknown labels: {describe(shown)}."
            )
        return index

    def copies(
        self,
        index: np.ndarray,
        occurrence: np.ndarray,
        keys: np.ndarray,
        epoch: int,
        streamed: bool = True,
    ) -> np.ndarray:
        """Copies in `epoch`; a held sample streams none unless not `streamed`."""
        plan = self.plan
        out = _rounding.copies_at(
            plan._rule_at(epoch),
            plan.rounding,
            plan.seed,
            index,
            occurrence,
            keys.astype(np.uint64),
            epoch,
        )
        if streamed and self.held is not None:
            out[self.held[index]] = 0
        return out


class SampleDecider:
    """A plan that knows every sample: copies read off `plan.copies(epoch)`."""

    by_class = False

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self._epoch: int | None = None
        self._copies = np.zeros(0, np.int64)

    def copies(self, examples: list[Any], keys: np.ndarray, epoch: int) -> np.ndarray:
        if self._epoch != epoch:
            self._copies, self._epoch = self.plan.copies(epoch), epoch
        if keys.size and int(keys.max()) >= self._copies.size:
            raise ValueError(
                f"the stream holds more than the {self._copies.size} samples the"
                " plan was made for; plan on the same data you stream."
            )
        return self._copies[keys]


class FixedDecider:
    """Whole copies from `duplicate`: k for every sample, for those a predicate
    holds, at chosen positions, or per class from a table."""

    by_class = False

    def __init__(
        self,
        copies: int,
        where: Callable[[Any], Any] | None = None,
        indices: np.ndarray | None = None,
        per_class: tuple[Callable[[Any], Any], dict[int | str, int]] | None = None,
    ) -> None:
        self.many, self.where, self.indices = copies, where, indices
        self.per_class = per_class

    def copies(self, examples: list[Any], keys: np.ndarray, epoch: int) -> np.ndarray:
        if self.per_class is not None:
            label, table = self.per_class
            return np.asarray([table.get(label(e), 1) for e in examples], np.int64)
        if self.where is not None:
            hits = [_truth(self.where(e)) for e in examples]
            return np.where(np.asarray(hits, bool), self.many, 1).astype(np.int64)
        if self.indices is not None:
            chosen = np.isin(keys, self.indices)
            return np.where(chosen, self.many, 1).astype(np.int64)
        return np.full(len(examples), self.many, np.int64)


def _truth(value: object) -> bool:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    item = getattr(value, "item", None)
    if callable(item) and tuple(getattr(value, "shape", ())) == ():
        inner = item()
        if isinstance(inner, bool):
            return inner
    raise TypeError(
        f"`where` must return a bool per example; it returned {describe(value)}."
    )
