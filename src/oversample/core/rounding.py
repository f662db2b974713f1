"""Per-sample copy counts from per-class targets or per-sample weights.

Exact rounding (classes): a class of n samples with target T gives every sample
b = T // n copies and e = T - b*n of them one more. A sample with occurrence
index k in its class has the seeded rank r = (a*k + o) mod n (a coprime to n);
in epoch t it gets the extra copy iff (r - t*e) mod n < e. The window of e ranks
rotates by e every epoch, so after any number of epochs two samples of a class
differ by at most one copy in total.

Exact rounding (weights): each weight is held in 32.32 fixed point; sample i
gets floor(w_i) copies plus one when the running sum of fractional parts crosses
an integer after a seeded per-epoch offset (systematic sampling). The offset is
drawn from the interval that makes the epoch total round(sum of weights).

Stochastic rounding: one more copy with probability e/n (or frac(w_i)) from a
counter-based hash of (seed, epoch, sample key); no state, no order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oversample.core import seeding as _seeding

ROUNDINGS = ("exact", "stochastic")
FIXED_ONE = 1 << 32
FIXED_MASK = FIXED_ONE - 1
GOLDEN32 = 0x9E3779B9
MAX_CLASS_SIZE = (1 << 31) - 1
MAX_WEIGHT = float(1 << 30)


@dataclass(frozen=True)
class ClassRule:
    """Per-class integers that decide every sample's copies; O(classes)."""

    size: np.ndarray  # n: samples in the class
    base: np.ndarray  # b = T // n
    extra: np.ndarray  # e = T - b*n
    mult: np.ndarray  # a, coprime to n
    inverse: np.ndarray  # a^-1 mod n
    offset: np.ndarray  # o in [0, n)
    threshold: np.ndarray  # uint64 floor(e * 2**64 / n), for stochastic rounding


def class_rule(seed: int, counts: np.ndarray, targets: np.ndarray) -> ClassRule:
    """Builds the seeded per-class rule shared by every executor."""
    size = np.asarray(counts, dtype=np.int64)
    if size.size and int(size.max()) > MAX_CLASS_SIZE:
        raise ValueError(
            f"a class holds {int(size.max())} samples; at most {MAX_CLASS_SIZE} per"
            " class are supported."
        )
    base = targets // size
    extra = targets - base * size
    words = _seeding.raw_words(seed, 2 * size.size, "exact-rule")
    span = np.maximum(size - 1, 1).astype(np.uint64)
    mult = (1 + words[0::2] % span).astype(np.int64)
    while True:
        bad = np.gcd(mult, size) != 1
        if not bad.any():
            break
        mult[bad] = mult[bad] % np.maximum(size[bad] - 1, 1) + 1
    offset = (words[1::2] % size.astype(np.uint64)).astype(np.int64)
    inverse = np.array(
        [pow(int(a), -1, int(n)) for a, n in zip(mult, size, strict=True)],
        dtype=np.int64,
    )
    threshold = np.array(
        [(int(e) << 64) // int(n) for e, n in zip(extra, size, strict=True)],
        dtype=np.uint64,
    )
    return ClassRule(size, base, extra, mult, inverse, offset, threshold)


def epoch_shift(rule: ClassRule, epoch: int) -> np.ndarray:
    """Per-class start of the window of ranks that get the extra copy."""
    return (epoch % rule.size) * rule.extra % rule.size


def exact_class_copies(
    rule: ClassRule,
    codes: np.ndarray,
    order: np.ndarray,
    epoch: int,
    base: np.ndarray | None = None,
    extra: np.ndarray | None = None,
) -> np.ndarray:
    """Copies of each sample in `epoch` under exact rounding.

    `order` lists the samples grouped by class, in source order within a class
    (a stable argsort of `codes`). Rather than testing every sample, the e
    samples of a class that get the extra copy are found directly by inverting
    the affine rank: k = a^-1 * (j + shift - o) mod n for j in [0, e).
    `base` and `extra` override the per-class b and e (the window still starts
    where the plan's rule puts it), as the Sampler does to pad or drop.
    """
    base = rule.base if base is None else base
    extra = rule.extra if extra is None else extra
    copies = base[codes]
    owner = np.repeat(np.arange(extra.size), extra)
    j = np.arange(owner.size, dtype=np.int64) - np.repeat(
        np.cumsum(extra) - extra, extra
    )
    occurrence = window_occurrence(rule, epoch, owner, j)
    first = np.cumsum(rule.size) - rule.size
    copies[order[first[owner] + occurrence]] += 1
    return copies


def window_occurrence(
    rule: ClassRule, epoch: int, owner: np.ndarray, j: np.ndarray
) -> np.ndarray:
    """Occurrence index of the sample at place j of its class's epoch window.

    Place j in [0, n) orders a class's samples by (rank - shift) mod n, so the
    first e places are the samples that get the extra copy in `epoch`.
    """
    size = rule.size[owner]
    start = (epoch_shift(rule, epoch) - rule.offset)[owner]
    return rule.inverse[owner] * ((j + start) % size) % size


def copies_at(
    rule: ClassRule,
    rounding: str,
    seed: int,
    index: np.ndarray,
    occurrence: np.ndarray,
    keys: np.ndarray,
    epoch: int,
) -> np.ndarray:
    """Copies in `epoch` of samples given one by one: class index, occurrence
    in the class and sample key (the rule a streaming executor applies; it
    agrees with `exact_class_copies` and `stochastic_class_copies`)."""
    base = rule.base[index]
    if rounding == "stochastic":
        draw = _seeding.sample_hash(_seeding.epoch_key(seed, epoch), keys)
        return base + (draw < rule.threshold[index])
    size = rule.size[index]
    rank = (rule.mult[index] * occurrence + rule.offset[index]) % size
    shift = epoch_shift(rule, epoch)[index]
    return base + ((rank - shift) % size < rule.extra[index])


def stochastic_class_copies(
    rule: ClassRule, seed: int, codes: np.ndarray, keys: np.ndarray, epoch: int
) -> np.ndarray:
    """Copies of each sample in `epoch`: b + Bernoulli(e / n), counter-based."""
    draw = _seeding.sample_hash(_seeding.epoch_key(seed, epoch), keys)
    return rule.base[codes] + (draw < rule.threshold[codes])


def to_fixed(weights: np.ndarray) -> np.ndarray:
    """Weights in 32.32 fixed point (int64), the exact form every executor uses."""
    if weights.size and float(weights.max()) > MAX_WEIGHT:
        raise ValueError(
            f"`weights` must be at most {MAX_WEIGHT:.0f}; got a weight of"
            f" {float(weights.max())}."
        )
    return np.rint(weights * FIXED_ONE).astype(np.int64)


@dataclass(frozen=True)
class WeightRule:
    """The epoch-independent part of weight rounding: totals and offset range."""

    base_total: int  # sum of floor(w)
    extra_total: int  # round(sum of frac(w))
    low: int  # offsets U in [low, low + width) give exactly extra_total extras
    width: int
    start: int  # seeded start of the low-discrepancy offset sequence


def weight_rule(seed: int, fixed: np.ndarray) -> WeightRule:
    fraction_sum = int((fixed & FIXED_MASK).sum(dtype=np.int64))
    base_total = int((fixed >> 32).sum(dtype=np.int64))
    whole, remainder = divmod(fraction_sum, FIXED_ONE)
    rounds_up = remainder >= FIXED_ONE // 2
    if rounds_up:
        low, width = FIXED_ONE - remainder, remainder
    else:
        low, width = 0, FIXED_ONE - remainder
    start = _seeding.derive(seed, "weights") & FIXED_MASK
    return WeightRule(base_total, whole + int(rounds_up), low, width, start)


def weight_offset(rule: WeightRule, epoch: int) -> int:
    """The epoch's offset: a golden-ratio sequence folded into the valid range."""
    step = (rule.start + (epoch % FIXED_ONE) * GOLDEN32) & FIXED_MASK
    return rule.low + step % rule.width


def exact_weight_copies(rule: WeightRule, fixed: np.ndarray, epoch: int) -> np.ndarray:
    """floor(w) plus one where the offset running sum of frac(w) crosses an integer."""
    fraction = fixed & FIXED_MASK
    after = np.cumsum(fraction, dtype=np.int64) + weight_offset(rule, epoch)
    before = after - fraction
    return (fixed >> 32) + ((after >> 32) - (before >> 32))


def stochastic_weight_copies(
    seed: int, fixed: np.ndarray, keys: np.ndarray, epoch: int
) -> np.ndarray:
    """floor(w) plus Bernoulli(frac(w)) from the counter-based hash."""
    draw = _seeding.sample_hash(_seeding.epoch_key(seed, epoch), keys) >> np.uint64(32)
    return (fixed >> 32) + (draw < (fixed & FIXED_MASK).astype(np.uint64))
