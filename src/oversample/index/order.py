"""The Sampler's epoch order: a keyed permutation of the epoch's slots and the
layout that maps a permuted slot to its source index.

The NumPy code here is the reference; `_kernels` (numba, the `fast` extra)
runs the same arithmetic as compiled loops and is used when installed.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from types import ModuleType
from typing import Any

import numpy as np

from oversample.core import rule as _rule
from oversample.core.permutation import Feistel

# NOTE: walking a per-sample layout and inverting the permutation writes the
# whole epoch at about 13 ns per index (a window's search per index costs far
# more); it computes every rank's slots, so above this many replicas the
# forward map of this rank's slots alone is cheaper.
FILL_REPLICAS = 4
CHUNK = 1 << 16  # slots per step of the NumPy reference
THREADED = 1 << 18  # indices below which one thread fills the epoch
_RANGES = np.zeros(0, np.uint32)  # the compiled loops' `order` when classes are ranges
_RANGES.flags.writeable = False  # NOTE: as the plans' orders: one specialization


def _cpus() -> int:
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


THREADS = min(_cpus(), 8)  # threads that fill a whole epoch

use_kernels: bool | None = None  # None: the compiled loops when numba is installed


def kernels() -> ModuleType | None:
    """The compiled loops, or None for the NumPy reference."""
    if use_kernels is False:
        return None
    try:
        from oversample.index import kernels as _kernels
    except ImportError:
        if use_kernels:
            raise
        return None
    return _kernels


@dataclass(frozen=True)
class ClassLayout:
    """Slots grouped by class; within a class, place j (in the epoch's window
    order) holds base + 1 copies for j < extra and base copies after."""

    starts: np.ndarray  # (C + 1,) first slot of each class
    table: np.ndarray  # (6, C): base, extra, size, inverse, start, first
    order: np.ndarray | None  # the plan's samples grouped by class; None: ranges

    @classmethod
    def build(
        cls,
        rule: _rule.EpochRule,
        members: _rule.Members,
        base: np.ndarray,
        extra: np.ndarray,
    ) -> ClassLayout:
        """The layout of one epoch's rule, with its (padded or dropped)
        `base` and `extra` per class."""
        size = rule.counts
        starts = np.concatenate([[0], np.cumsum(base * size + extra)])
        start = (rule.rotation - rule.rank_add) % size
        first = members.starts
        table = np.stack([base, extra, size, rule.rank_inverse, start, first])
        return cls(starts, table.astype(np.int64), members.order)

    @property
    def total(self) -> int:
        return int(self.starts[-1])

    def sources(self, positions: np.ndarray) -> np.ndarray:
        owner = np.searchsorted(self.starts, positions, side="right") - 1
        base, extra, size, inverse, start, first = self.table[:, owner]
        inside = positions - self.starts[owner]
        holders = extra * (base + 1)
        place = np.where(
            inside < holders,
            inside // (base + 1),
            extra + (inside - holders) // np.maximum(base, 1),
        )
        found = first + inverse * ((place + start) % size) % size
        return found if self.order is None else self.order[found].astype(np.int64)

    def copy_numbers(self, positions: np.ndarray) -> np.ndarray:
        """Which copy of its sample each position holds: 0, 1, ..."""
        owner = np.searchsorted(self.starts, positions, side="right") - 1
        base, extra = self.table[0, owner], self.table[1, owner]
        inside = positions - self.starts[owner]
        holders = extra * (base + 1)
        return np.where(
            inside < holders,
            inside % (base + 1),
            (inside - holders) % np.maximum(base, 1),
        )


@dataclass(frozen=True)
class SampleLayout:
    """Slots in source order: sample i holds slots [ends[i-1], ends[i])."""

    ends: np.ndarray

    @property
    def total(self) -> int:
        return int(self.ends[-1])

    @property
    def units(self) -> np.ndarray:
        """Where each sample's slots start, for splitting the layout."""
        return np.concatenate([[0], self.ends])

    def sources(self, positions: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.ends, positions, side="right")

    def copy_numbers(self, positions: np.ndarray) -> np.ndarray:
        """Which copy of its sample each position holds: 0, 1, ..."""
        sample = np.searchsorted(self.ends, positions, side="right")
        return positions - np.where(sample > 0, self.ends[sample - 1], 0)


@dataclass(frozen=True)
class EpochOrder:
    """Slot -> source index for one epoch: the permutation, then the layout."""

    feistel: Feistel
    layout: ClassLayout | SampleLayout

    @cached_property
    def _packed(self) -> tuple[ModuleType, str, np.ndarray, np.ndarray] | None:
        """The compiled loops, their prefix and their two arrays, or None."""
        compiled = kernels()
        if compiled is None:
            return None
        f, layout = self.feistel, self.layout
        if isinstance(layout, ClassLayout):
            parts = (layout.starts, layout.table)
            data = compiled.pack(f.total, f.low, f.bits, f.keys, parts)
            order = _RANGES if layout.order is None else layout.order
            return compiled, "class", data, order
        data = compiled.pack(f.total, f.low, f.bits, f.keys, ends=layout.ends)
        return compiled, "sample", data, layout.ends

    def _compiled(self, name: str) -> tuple[Callable[..., Any], tuple[Any, ...]] | None:
        """A compiled loop and the epoch's arrays it takes, or None."""
        if self._packed is None:
            return None
        compiled, kind, data, second = self._packed
        function: Callable[..., Any] = getattr(compiled, f"{kind}_{name}")
        return function, (data, second)

    @cached_property
    def at(self) -> Callable[[int], int]:
        """slot -> the source index there, as one call with nothing allocated."""
        found = self._compiled("at")
        if found is None:
            return lambda slot: int(self.take(np.array([slot], np.int64))[0])
        function, (data, second) = found
        return lambda slot: int(function(slot, data, second))

    def take(self, slots: np.ndarray) -> np.ndarray:
        """The source indices at these slots, int64."""
        found = self._compiled("take")
        if found is None:
            return self.layout.sources(self.feistel(slots))
        function, arrays = found
        out = np.empty(slots.size, np.int64)
        function(slots, out, *arrays)
        return out

    def run(self, first: int, count: int, step: int) -> np.ndarray:
        """`take` of the slots first, first + step, ... (`count` of them), a
        rank's window, without building them."""
        if step < 1:  # NOTE: the compiled loops read step 0 as "slots given"
            raise ValueError(f"`step` must be >= 1; got step={step}.")
        found = self._compiled("run")
        if found is None:
            return self.take(first + step * np.arange(count, dtype=np.int64))
        function, arrays = found
        out = np.empty(count, np.int64)
        function(np.array([first, step], np.int64), out, *arrays)
        return out

    def copy_numbers(self, slots: np.ndarray) -> np.ndarray:
        """Which copy of its source index each slot holds, int64."""
        return self.layout.copy_numbers(self.feistel(slots)).astype(np.int64)

    def whole(self, rank: int, replicas: int) -> np.ndarray:
        """Every slot of `rank` (rank, rank + replicas, ...) as one int64 array;
        the epoch's total is a multiple of `replicas` (the Sampler pads or
        drops to one)."""
        if self.feistel.total % replicas:
            raise ValueError(
                f"the epoch's {self.feistel.total} slots do not split evenly"
                f" over {replicas} replicas."
            )
        length = self.feistel.total // replicas
        count = THREADS if length >= THREADED else 1
        out = np.empty(length, np.int64)
        layout = self.layout
        if (
            isinstance(layout, SampleLayout)
            and replicas <= FILL_REPLICAS
            and (walk := self._compiled("fill")) is not None
        ):
            fill, arrays = walk
            _on_threads(
                lambda part: fill(out, rank, replicas, *arrays, part),
                _split(layout.units, count),
            )
        elif (windows := self._compiled("run")) is not None:
            # NOTE: window by window on threads, the rank's slots alone; for
            # classes this beat walking the layout (whose writes scatter over
            # the whole output) 2x at 10^6 and 10^7 labels, and 10 sources.
            run, arrays = windows
            edges = [length * i // count for i in range(count + 1)]

            def take(bounds: tuple[int, int]) -> None:
                for low in range(bounds[0], bounds[1], CHUNK):
                    high = min(low + CHUNK, bounds[1])
                    steps = np.array([rank + replicas * low, replicas], np.int64)
                    run(steps, out[low:high], *arrays)

            _on_threads(take, list(itertools.pairwise(edges)))
        else:
            for low in range(0, length, CHUNK):
                high = min(low + CHUNK, length)
                out[low:high] = self.run(rank + replicas * low, high - low, replicas)
        return out


def _on_threads(work: Callable[[Any], None], parts: list[Any]) -> None:
    """`work` on each part, on threads when there are several.

    NOTE: the compiled loops release the GIL and each part writes its own
    slots (the permutation is a bijection), so threads split the work safely.
    """
    if len(parts) == 1:
        work(parts[0])
        return
    with ThreadPoolExecutor(len(parts)) as pool:
        list(pool.map(work, parts))


def _split(units: np.ndarray, count: int) -> list[np.ndarray]:
    """Up to `count` runs of layout units holding about equal numbers of slots,
    each as (first unit, end unit, first slot)."""
    total = int(units[-1])
    marks = np.searchsorted(units, np.arange(1, count) * total // count)
    bounds = np.unique(np.concatenate([[0], marks, [units.size - 1]]))
    return [
        np.array([low, high, units[low]], np.int64)
        for low, high in itertools.pairwise(bounds.tolist())
        if high > low
    ]
