"""The marks an output element carries, and their check at the consumer.

`Marking` says what each element carries besides itself: its (key, copy) pair
with `provenance=True`, its augmentation seed with `copy_seeds=True`. `Marks`
checks the pairs of `provenance=True` at the consumer: every (key, copy)
pair occurs once per epoch, so after a failure that repeats elements (a
restarted tf.data service worker under FILE sharding starts its files again)
the repeats are dropped, and the class totals say whether anything was lost
(DYNAMIC sharding is at most once). NumPy and the standard library only.

Examples:
    >>> import numpy as np, oversample as ovs
    >>> plan = ovs.plan(counts={0: 3, 1: 1}, seed=0)
    >>> marks = ovs.Marks(plan, epoch=0)
    >>> marks.keep([5, 5, 6], [0, 0, 1], labels=[1, 1, 1]).tolist()
    [True, False, True]
    >>> marks.missing(), marks.repeated
    ({0: 3, 1: 1}, 1)
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from oversample.core.seeding import copy_key, copy_seeds
from oversample.core.validation import check_int, describe

_COPY_BITS = 24


@dataclass(frozen=True)
class Marking:
    """What each output element carries: `(element, marks)` with marks a dict
    of "key" and "copy" (provenance) and "seed" (copy seeds), or the element
    alone when neither is asked for. Every executor marks through this."""

    provenance: bool = False
    copy_seeds: bool = False
    seed: int = 0  # the plan seed

    @property
    def copy_key(self) -> int:
        """The plan seed's sub-stream of the copy seeds."""
        return copy_key(self.seed)

    @property
    def wanted(self) -> bool:
        return self.provenance or self.copy_seeds

    @property
    def names(self) -> tuple[str, ...]:
        """The marks each element carries, in their order."""
        return ("key", "copy") * self.provenance + ("seed",) * self.copy_seeds

    @property
    def asked(self) -> str:
        """The options that ask for the marks, for messages."""
        chosen = ("provenance",) * self.provenance + ("copy_seeds",) * self.copy_seeds
        return " and ".join(f"`{name}=True`" for name in chosen)

    def columns(
        self, keys: np.ndarray, copies: np.ndarray, epoch: int
    ) -> dict[str, np.ndarray]:
        """The marks of the copies numbered `copies` of the samples `keys`, a
        column each: "key" and "copy" as int64, "seed" as uint64."""
        keys, copies = np.asarray(keys), np.asarray(copies)
        columns = {}
        if self.provenance:
            columns["key"] = keys.astype(np.int64)
            columns["copy"] = copies.astype(np.int64)
        if self.copy_seeds:
            columns["seed"] = copy_seeds(self.seed, epoch, keys, copies)
        return columns

    def pairs(
        self, elements: Sequence[Any], keys: np.ndarray, copies: np.ndarray, epoch: int
    ) -> list[tuple[Any, dict[str, int]]]:
        """`(element, marks)` per element; marks are Python ints, the seed in
        [0, 2**64) for `numpy.random.default_rng` or `torch.Generator`."""
        columns = self.columns(keys, copies, epoch)
        rows = zip(*(column.tolist() for column in columns.values()), strict=True)
        return [
            (element, dict(zip(self.names, row, strict=True)))
            for element, row in zip(elements, rows, strict=True)
        ]


class Marks:
    """The (key, copy) pairs received in one epoch of `plan`: `keep` says which
    elements come for the first time, `missing` which class totals are not
    reached yet. Memory: one set entry per distinct pair received."""

    def __init__(self, plan: Any, epoch: int = 0) -> None:
        from oversample.core.plan import Plan

        if not isinstance(plan, Plan):
            raise TypeError(
                f"`plan` must be the ovs.Plan of the stream; got plan={describe(plan)}."
            )
        self.plan = plan
        self.epoch = check_int(epoch, "epoch")
        self.targets = plan.targets_at(self.epoch)
        self.received = dict.fromkeys(self.targets, 0)
        self.repeated = 0
        self._seen: set[int] = set()

    def keep(
        self,
        keys: Sequence[int] | np.ndarray,
        copies: Sequence[int] | np.ndarray,
        labels: Sequence[Any] | np.ndarray | None = None,
    ) -> np.ndarray:
        """A boolean mask of the elements whose (key, copy) is new; with
        `labels`, their classes' totals are counted (for `missing`)."""
        keys, copies = _ints(keys, "keys"), _ints(copies, "copies")
        if keys.shape != copies.shape or (
            keys.size and (keys.min() < 0 or copies.min() < 0)
        ):
            raise ValueError(
                "`keys` and `copies` must be the same number of marks >= 0; got"
                f" {keys.size} keys and {copies.size} copies."
            )
        if copies.size and int(copies.max()) >> _COPY_BITS:
            raise ValueError(
                f"a copy index of {int(copies.max())} is not a mark of oversample."
            )
        named = None if labels is None else self._classes(labels, keys.size)
        fresh = np.zeros(keys.size, bool)
        seen = self._seen
        for place, code in enumerate(((keys << _COPY_BITS) | copies).tolist()):
            if code not in seen:
                seen.add(code)
                fresh[place] = True
        self.repeated += int(keys.size - fresh.sum())
        for label in itertools.compress(named or [], fresh.tolist()):
            self.received[label] += 1
        return fresh

    def _classes(self, labels: Any, size: int) -> list[Any]:
        """The labels as the plan names its classes, checked before any mark
        is taken."""
        flat = np.asarray(labels).reshape(-1)
        if flat.size != size:
            raise ValueError(
                f"`labels` must give one label per mark; got {flat.size} for"
                f" {size} marks."
            )
        named = [x.decode() if isinstance(x, bytes) else x for x in flat.tolist()]
        for label in named:
            if label not in self.received:
                raise ValueError(
                    f"`labels` holds {label!r}, which is not a class of the plan."
                )
        return named

    def missing(self) -> dict[Any, int]:
        """Per class, how many elements of the epoch have not arrived (negative:
        more distinct marks than the plan holds, which a correct stream never
        gives)."""
        return {c: t - self.received[c] for c, t in self.targets.items()}

    @property
    def complete(self) -> bool:
        """Every class at its target: the epoch arrived whole, repeats dropped."""
        return all(value == 0 for value in self.missing().values())


def _ints(value: object, name: str) -> np.ndarray:
    """Marks as a flat int64 array, or a TypeError naming the argument."""
    array = np.asarray(value)
    if array.dtype.kind not in "iu" and not (array.size == 0 and array.dtype == float):
        raise TypeError(
            f"`{name}` must be ints (the marks' `key` and `copy`); got"
            f" {name}={describe(value)}."
        )
    return array.astype(np.int64).reshape(-1)
