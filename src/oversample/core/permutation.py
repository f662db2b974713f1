"""Keyed bijections of [0, n): the seeded permutation that orders an epoch
(the Sampler) and places held copies (the Python streams)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from oversample.core import seeding as _seeding

ROUNDS = 4
TABLE_BITS = 16  # widest round input whose F is read from a table
_GOLDEN = np.uint64(_seeding.GOLDEN64)


@dataclass(frozen=True)
class Feistel:
    """A seeded bijection of [0, total): an unbalanced Feistel network on the
    smallest power of two >= total, with cycle-walking.

    Round r splits x into a high and a low part (widths alternate between
    bits - low and low) and maps (left, right) to (right, left ^ F(right)).
    No rounds (`keys` empty) is the identity, for an unshuffled sampler.
    """

    total: int
    low: int
    bits: int
    keys: np.ndarray

    @classmethod
    def keyed(cls, total: int, seed: int, epoch: int, shuffle: bool) -> Feistel:
        bits = max(2, (total - 1).bit_length())
        keys = (
            _seeding.raw_words(seed, ROUNDS, "sampler-order", epoch)
            if shuffle
            else np.zeros(0, np.uint64)
        )
        return cls(total, bits // 2, bits, keys)

    @functools.cached_property
    def _tables(self) -> list[np.ndarray] | None:
        """Each round's F over all its inputs, when every input is at most
        TABLE_BITS wide (an epoch of up to 2**32 slots); else None."""
        if max(self.low, self.bits - self.low) > TABLE_BITS:
            return None
        tables, low = [], self.low
        for key in self.keys:
            tables.append(
                _mix(np.arange(1 << low, dtype=np.int64), key, self.bits - low)
            )
            low = self.bits - low
        return tables

    def _encrypt(self, x: np.ndarray) -> np.ndarray:
        """The rounds over `x` (int64), as a (left, right) pair: a round maps
        it to (right, left ^ F(right)), the widths swapping.

        NOTE: the pair is split and joined once, not in every round, and F is
        read from a table: 4.6 x 10**6 slots in blocks of 18,700 (the held
        copies of a Python stream) 0.27 -> 0.10 s."""
        low = self.low
        left, right = x >> low, x & ((1 << low) - 1)
        tables = self._tables
        for place, key in enumerate(self.keys):
            high = self.bits - low
            mixed = _mix(right, key, high) if tables is None else tables[place][right]
            np.bitwise_xor(left, mixed, out=left)
            left, right, low = right, left, high
        np.left_shift(left, low, out=left)
        return np.bitwise_or(left, right, out=left)

    def __call__(self, slots: np.ndarray) -> np.ndarray:
        shape = np.shape(slots)
        out = self._encrypt(np.asarray(slots, np.int64).reshape(-1))
        outside = np.flatnonzero(out >= self.total)
        while outside.size:
            again = self._encrypt(out[outside])
            out[outside] = again
            outside = outside[again >= self.total]
        return out.reshape(shape)


def _mix(right: np.ndarray, key: np.uint64, high: int) -> np.ndarray:
    """A round's F: ((right ^ key) * golden) >> (64 - high), as int64."""
    mixed = right.astype(np.uint64)
    with np.errstate(over="ignore"):
        np.bitwise_xor(mixed, key, out=mixed)
        np.multiply(mixed, _GOLDEN, out=mixed)
    np.right_shift(mixed, np.uint64(64 - high), out=mixed)
    return mixed.view(np.int64)
