"""Keyed bijections of [0, n): the seeded permutation that orders an epoch
(the Sampler) and places held copies (the Python streams)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oversample.core import seeding as _seeding

ROUNDS = 4
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

    def _encrypt(self, x: np.ndarray) -> np.ndarray:
        low = self.low
        with np.errstate(over="ignore"):
            for key in self.keys:
                high = self.bits - low
                left, right = x >> np.uint64(low), x & np.uint64((1 << low) - 1)
                mixed = ((right ^ key) * _GOLDEN) >> np.uint64(64 - high)
                x = (right << np.uint64(high)) | (left ^ mixed)
                low = high
        return x

    def __call__(self, slots: np.ndarray) -> np.ndarray:
        out = self._encrypt(slots.astype(np.uint64))
        outside = np.flatnonzero(out >= self.total)
        while outside.size:
            out[outside] = self._encrypt(out[outside])
            outside = outside[out[outside] >= self.total]
        return out.astype(np.int64)
