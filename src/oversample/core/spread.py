"""The global spread of a stream: the classes whose samples are held in memory,
so that their copies can be placed over the whole epoch, within a budget.

A bounded shuffle buffer cannot move the 100 copies of a tail sample apart:
they come out within a buffer's length of each other. The plan knows before
the epoch which samples get the most copies, and in a long tail those samples
are few. Their classes are held whole, most copies per sample first, while
their bytes fit in the budget; a stream executor then places each held copy
at a position drawn over the whole epoch, and streams the other classes once
through its buffer. NumPy only: the executors turn what is held here into
their own form.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from oversample.core.validation import check_int, describe

DEFAULT_BUDGET = 256 << 20
_ALIGN = 64
_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmg]i?b|b)?\s*", re.IGNORECASE)


def check_spread(spread: object) -> int:
    """The memory budget in bytes for held samples; 0 turns the spread off.

    Examples:
        >>> check_spread("64MiB"), check_spread(None), check_spread("auto") >> 20
        (67108864, 0, 256)
    """
    if spread is None:
        return 0
    if isinstance(spread, str):
        if spread == "auto":
            return DEFAULT_BUDGET
        match = _SIZE.fullmatch(spread)
        if match is not None:
            unit = _UNITS[(match.group(2) or "").lower()]
            return int(float(match.group(1)) * unit)
    elif not isinstance(spread, bool | float):
        return check_int(spread, "spread")
    raise ValueError(
        "`spread` must be 'auto', a memory budget in bytes (an int >= 0, or a"
        " size such as '512MiB'), or None to keep copies in the shuffle buffer;"
        f" got spread={describe(spread)}."
    )


def class_factors(plan: Any) -> np.ndarray:
    """Each class's largest factor over the plan's epochs (targets / counts)."""
    rule = plan.class_rule
    return rule.targets.max(axis=0) / rule.counts


def worth_holding(plan: Any, columns: np.ndarray, dropped: bool) -> np.ndarray:
    """Which collected classes (the plan's class indices `columns`) stay held:
    all when every class fitted in the budget, so that nothing is read twice,
    else the oversampled ones only (factor above 1), the ones worth their
    memory."""
    if not dropped:
        return np.ones(columns.size, bool)
    return class_factors(plan)[columns] > 1


def choose_classes(
    factors: np.ndarray, class_bytes: np.ndarray, budget: int
) -> np.ndarray:
    """Which classes to hold: most copies per sample first, every class with a
    factor above 1 whose bytes still fit in `budget`; every class when all fit
    (then nothing is read twice: the whole epoch comes from memory).

    Examples:
        >>> choose_classes(np.array([1.0, 4.0, 2.0]), np.array([5, 5, 5]), 12)
        array([False,  True,  True])
        >>> choose_classes(np.array([1.0, 4.0, 2.0]), np.array([5, 5, 5]), 15)
        array([ True,  True,  True])
    """
    if int(class_bytes.sum()) <= budget:
        return np.ones(factors.size, bool)
    held = np.zeros(factors.size, bool)
    left = budget
    for column in np.argsort(-factors, kind="stable"):
        if factors[column] <= 1:
            break
        if class_bytes[column] <= left:
            held[column] = True
            left -= int(class_bytes[column])
    return held


def least_worth(
    present: Iterable[Any], counts: Any, priority: np.ndarray | None
) -> Any:
    """The class to drop first when the held rows exceed the budget: the one
    of lowest priority (fewest copies per sample); without a plan, the class
    counted most so far, as the largest class is the least worth its memory.
    `counts` and `priority` are indexed by the classes in `present`."""

    def worth(label: Any) -> float:
        return -float(counts[label]) if priority is None else float(priority[label])

    return min(present, key=worth)


def _aligned(shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
    """An uninitialised array whose data starts on a 64-byte boundary, so that
    TensorFlow can use its memory without a copy (pages are touched on write)."""
    size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(size + _ALIGN, np.uint8)
    start = (-raw.ctypes.data) % _ALIGN
    return raw[start : start + size].view(dtype).reshape(shape)


class RowCollector:
    """The rows of the samples of held classes, gathered batch by batch.

    Numeric leaves go into buffers sized for the budget (untouched pages cost
    nothing); string leaves into lists. When the rows would exceed the budget,
    the class of lowest priority is dropped whole and not collected again.
    With `priority` (one number per class index; labels are then class
    indices) only classes of positive priority are collected; without it every
    class is, and the class counted most so far is dropped first (the counting
    pass folded into this one, before a plan exists).
    """

    def __init__(
        self,
        leaves: Sequence[tuple[tuple[int, ...], np.dtype[Any]]],
        budget: int,
        priority: np.ndarray | None = None,
    ) -> None:
        self.budget = budget
        self.priority = priority
        self.shapes = [tuple(shape) for shape, _ in leaves]
        self.dtypes = [np.dtype(dtype) for _, dtype in leaves]
        self.row_bytes = sum(
            int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            for shape, dtype in zip(self.shapes, self.dtypes, strict=True)
            if dtype.kind != "O"
        )
        capacity = budget // max(self.row_bytes, 8) + 1
        self.buffers: list[Any] = [
            [] if dtype.kind == "O" else _aligned((capacity, *shape), dtype)
            for shape, dtype in zip(self.shapes, self.dtypes, strict=True)
        ]
        self.size = 0  # rows held
        self.row_class = np.zeros(capacity, np.int64)
        self.string_bytes = np.zeros(capacity, np.int64)
        classes = 0 if priority is None else priority.size
        self.labels: dict[Hashable, int] = {c: c for c in range(classes)}
        self.counts = np.zeros(classes, np.int64)  # samples seen per class code
        self.dropped = np.zeros(classes, bool) if priority is None else priority <= 0

    @property
    def held_bytes(self) -> int:
        strings = int(self.string_bytes[: self.size].sum())
        return self.size * self.row_bytes + strings

    def _codes(self, labels: np.ndarray) -> np.ndarray:
        if self.priority is not None:
            return np.asarray(labels, np.int64).reshape(-1)
        values, inverse = np.unique(labels, return_inverse=True)
        codes = [self.labels.setdefault(v, len(self.labels)) for v in values.tolist()]
        grown = len(self.labels) - self.counts.size
        if grown:
            self.counts = np.concatenate([self.counts, np.zeros(grown, np.int64)])
            self.dropped = np.concatenate([self.dropped, np.zeros(grown, bool)])
        return np.asarray(codes, np.int64)[inverse.reshape(-1)]

    def add(self, labels: np.ndarray, leaves: Sequence[np.ndarray]) -> None:
        """One batch: the rows' labels and leaves, the batch on the first axis."""
        codes = self._codes(labels)
        self.counts += np.bincount(codes, minlength=self.counts.size)
        take = ~self.dropped[codes]
        strings = np.zeros(codes.size, np.int64)
        for leaf, dtype in zip(leaves, self.dtypes, strict=True):
            if dtype.kind == "O":
                lengths = np.fromiter((len(v) for v in leaf.ravel()), np.int64)
                strings += lengths.reshape(codes.size, -1).sum(axis=1)
        while take.any():
            need = int(take.sum()) * self.row_bytes + int(strings[take].sum())
            if self.held_bytes + need <= self.budget:
                break
            present = np.union1d(codes[take], self.row_class[: self.size])
            worst = int(least_worth(present.tolist(), self.counts, self.priority))
            self.drop(worst)
            take &= codes != worst
        rows = np.flatnonzero(take)
        end = self.size + rows.size
        for place, leaf in enumerate(leaves):
            if self.dtypes[place].kind == "O":
                self.buffers[place].append(leaf[rows])
            else:
                self.buffers[place][self.size : end] = leaf[rows]
        self.row_class[self.size : end] = codes[rows]
        self.string_bytes[self.size : end] = strings[rows]
        self.size = end

    def drop(self, code: int) -> None:
        """Drops a class's rows and collects no more of it."""
        self.dropped[code] = True
        keep = np.flatnonzero(self.row_class[: self.size] != code)
        if keep.size == self.size:
            return
        for place, buffer in enumerate(self.buffers):
            if self.dtypes[place].kind == "O":
                self.buffers[place] = [np.concatenate(buffer)[keep]]
                continue
            # NOTE: kept rows only move forward, a chunk at a time, so no copy
            # of the whole buffer is ever made.
            for first in range(0, keep.size, 4096):
                chunk = keep[first : first + 4096]
                buffer[first : first + chunk.size] = buffer[chunk]
        self.row_class[: keep.size] = self.row_class[keep]
        self.string_bytes[: keep.size] = self.string_bytes[keep]
        self.size = keep.size

    def label_counts(self) -> dict[Hashable, int]:
        """Samples seen per label, over every class, held or not."""
        return {label: int(self.counts[code]) for label, code in self.labels.items()}

    def rows(self) -> tuple[np.ndarray, list[np.ndarray]]:
        """(the label of each held row, the rows' leaves), in arrival order."""
        by_code = dict(zip(self.labels.values(), self.labels, strict=True))
        labels = np.asarray([by_code[c] for c in self.row_class[: self.size].tolist()])
        leaves = []
        for place, buffer in enumerate(self.buffers):
            if self.dtypes[place].kind != "O":
                leaves.append(buffer[: self.size])
            elif buffer:
                leaves.append(np.concatenate(buffer))
            else:
                leaves.append(np.empty((0, *self.shapes[place]), object))
        return labels, leaves


@dataclass(frozen=True)
class Spread:
    """What a stream holds to spread its copies, and what that gives.

    `held_share` is the share of the epoch's elements (epoch 0) that are copies
    of held samples, placed over the whole epoch; the rest mixes in the
    shuffle buffer. `reason` says why nothing is held, when nothing is.
    """

    budget: int
    held_classes: tuple[int | str, ...]
    held_samples: int
    held_bytes: int
    held_copies: int
    total: int | None
    reason: str | None = None

    @property
    def held_share(self) -> float:
        return self.held_copies / self.total if self.total else 0.0

    def __str__(self) -> str:
        if self.reason is not None:
            return f"spread: nothing held ({self.reason})"
        held = (
            f"spread: {self.held_samples:,} samples of {len(self.held_classes)}"
            f" classes held ({size(self.held_bytes)} of {size(self.budget)})"
        )
        if self.held_share >= 1:
            return held + "; every element comes from memory in a global order"
        return (
            f"{held}; {self.held_share:.0%} of the epoch's elements placed over the"
            " whole epoch, the rest mixed in the shuffle buffer"
        )


def size(count: int) -> str:
    """Bytes for people: 512 B, 3.1 KiB, 122.8 MiB, 2.0 GiB.

    Examples:
        >>> size(512), size(3200), size(256 << 20)
        ('512 B', '3.1 KiB', '256.0 MiB')
    """
    value = float(count)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


PER_SAMPLE = "the copies come from per-sample weights, not per-class targets"


def none_fits(budget: int) -> str:
    """Why nothing is held after a collecting read: no class fitted."""
    return (
        f"no oversampled class fits in the budget of {budget / 2**20:,.1f} MiB;"
        " raise `spread` to hold the tail"
    )


def nothing(budget: int, reason: str) -> Spread:
    """The report when no sample is held."""
    return Spread(budget, (), 0, 0, 0, None, reason)
