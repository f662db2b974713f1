"""The copy rule: how many copies each sample gets in each epoch, as plain
arrays and one NumPy function that every executor applies (the tf.data
executor mirrors it in graph ops from the same arrays).

Exact rounding (classes). In epoch t a class of n samples with target T_t
gives every sample b_t = T_t // n copies and e_t = T_t - b_t * n of them one
more. A sample with occurrence index k in its class (in key order) has the
seeded rank r = (a * k + o) mod n, a coprime to n; it gets the extra copy in
epoch t iff (r - E_t) mod n < e_t, where E_t = e_0 + ... + e_{t-1} is the
ledger of extras given before epoch t. Each epoch's window of ranks starts
where the last one ended, so after any number of epochs, whatever the targets
did meanwhile (a schedule, a thinning phase, rates that change), any two
samples of a class differ by at most one copy in total. For a fixed target
E_t = t * e.

Exact rounding (weights): each weight is held in 32.32 fixed point; sample i
gets floor(w_i) copies plus one where the running sum of fractional parts,
offset by a seeded per-epoch amount, crosses an integer (systematic
sampling); the offset is drawn from the interval that makes the epoch's total
round(sum of weights).

Stochastic rounding: one more copy with probability e/n (or frac(w_i)) from a
counter-based hash of (seed, epoch, sample key); no state, no order.

Whole copies (`duplicate` with whole-number copies): k copies for every
sample, for chosen positions, for the samples a predicate holds for, or per
class from a table; the same in every epoch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from oversample.core import interleave as _interleave
from oversample.core import seeding as _seeding
from oversample.core.labels import code_dtype
from oversample.core.validation import check_epoch

ROUNDINGS = ("exact", "stochastic")
VERSION = 2  # 2: the extras rotate by the ledger of extras given (1: by t * e)
FIXED_ONE = 1 << 32
FIXED_MASK = FIXED_ONE - 1
GOLDEN32 = 0x9E3779B9
MAX_CLASS_SIZE = (1 << 31) - 1
MAX_WEIGHT = float(1 << 30)
# NOTE: samples grouped by class at a time: the sort of a chunk and its
# temporaries stay a few MiB whatever the number of samples.
GROUP_CHUNK = 1 << 16
CHANGED = (
    "in version 2 a class's extra copies rotate by the extras given in earlier"
    " epochs, so that fairness holds when the targets change"
)


def _frozen(*arrays: np.ndarray) -> None:
    for array in arrays:
        array.flags.writeable = False


@dataclass(frozen=True)
class EpochRule:
    """The exact class rule of one epoch: per class (index c of the plan's
    sorted classes), int64 arrays of shape (C,).

    Attributes:
        epoch: the epoch these arrays decide.
        rounding: "exact" or "stochastic".
        seed: the plan's seed (stochastic draws and copy seeds).
        counts: n, samples in each class.
        base: b = T // n, copies every sample gets.
        extras: e = T - b * n, samples that get one copy more.
        rotation: E mod n, the extras given in earlier epochs (the ledger):
            where this epoch's window of ranks starts.
        rank_mult, rank_add: the key of the class's rank bijection
            r = (rank_mult * k + rank_add) mod n of occurrence k.
        rank_inverse: rank_mult's inverse mod n.
        threshold: floor(e * 2**64 / n) as uint64, for stochastic rounding.
    """

    epoch: int
    rounding: str
    seed: int
    counts: np.ndarray
    base: np.ndarray
    extras: np.ndarray
    rotation: np.ndarray
    rank_mult: np.ndarray
    rank_add: np.ndarray
    rank_inverse: np.ndarray
    threshold: np.ndarray

    @property
    def targets(self) -> np.ndarray:
        """Copies per class in this epoch."""
        return self.base * self.counts + self.extras

    def copies(
        self,
        codes: np.ndarray,
        occurrences: np.ndarray,
        keys: np.ndarray | None = None,
    ) -> np.ndarray:
        """Copies in this epoch of samples given by class index and occurrence
        in their class (and, for stochastic rounding, sample key): the rule
        every executor applies.

        Examples:
            >>> import oversample as ovs
            >>> rule = ovs.plan([0, 0, 0, 1], seed=0).rule.at(epoch=0)
            >>> rule.copies(np.array([1]), np.array([0])).tolist()
            [3]
        """
        base = self.base[codes]
        if self.rounding == "stochastic":
            if keys is None:
                raise ValueError("stochastic rounding needs the samples' `keys`.")
            draw = _seeding.sample_hash(_seeding.epoch_key(self.seed, self.epoch), keys)
            return base + (draw < self.threshold[codes])
        size = self.counts[codes]
        rank = (self.rank_mult[codes] * occurrences + self.rank_add[codes]) % size
        return base + ((rank - self.rotation[codes]) % size < self.extras[codes])

    def window(self, codes: np.ndarray, places: np.ndarray) -> np.ndarray:
        """The occurrence index of the sample at `places` (in [0, n)) of its
        class's window this epoch: places [0, e) are the samples that get the
        extra copy. The inverse of the rank, so no sample is tested."""
        size = self.counts[codes]
        start = (self.rotation - self.rank_add)[codes]
        return self.rank_inverse[codes] * ((places + start) % size) % size


@dataclass(frozen=True)
class Members:
    """Which source sample is occurrence k of class c: the samples grouped by
    class, in source order within a class; or, for classes that are
    contiguous ranges of the samples (a mixture's sources), each class's
    first sample, and nothing per sample.

    Attributes:
        counts: (C,) samples per class.
        starts: (C,) where each class begins in `order` (or, without one, in
            the samples).
        order: (N,) sample indices grouped by class (uint32 while they fit);
            None when the classes are ranges.
    """

    counts: np.ndarray
    starts: np.ndarray
    order: np.ndarray | None
    given_codes: np.ndarray | None = None

    @classmethod
    def of(cls, codes: np.ndarray, counts: np.ndarray) -> Members:
        starts = np.cumsum(counts) - counts
        order = _grouped(codes, starts)
        _frozen(order, starts)
        return cls(counts, starts, order, codes)

    @classmethod
    def ranges(cls, starts: np.ndarray, counts: np.ndarray) -> Members:
        """Class c is the samples starts[c] .. starts[c] + counts[c] - 1."""
        return cls(counts, starts, None)

    def sample(self, codes: np.ndarray, occurrences: np.ndarray) -> np.ndarray:
        """The source index of occurrence `occurrences` of class `codes`."""
        found = self.starts[codes] + occurrences
        if self.order is None:
            return found.astype(np.int64)
        return self.order[found].astype(np.int64)

    def classes_of(self, samples: np.ndarray) -> np.ndarray:
        """The class index of each of `samples`, in the narrowest unsigned
        type (for ranges, by a search over the classes' first samples: nothing
        per sample is built)."""
        if self.order is not None:
            return _interleave.classes_of(self.codes, samples)
        by_start = np.argsort(self.starts, kind="stable")
        found = np.searchsorted(self.starts[by_start], samples, side="right") - 1
        return _interleave.classes_of(by_start, found)

    @cached_property
    def codes(self) -> np.ndarray:
        """(N,) the class index of every sample (built on first use when the
        classes are ranges)."""
        if self.given_codes is not None:
            return self.given_codes
        out = np.empty(int(self.counts.sum()), code_dtype(self.counts.size))
        for c, (start, count) in enumerate(zip(self.starts, self.counts, strict=True)):
            out[start : start + count] = c
        out.flags.writeable = False
        return out

    @cached_property
    def occurrences(self) -> np.ndarray:
        """(N,) each sample's occurrence index in its class."""
        size = int(self.counts.sum())
        out = np.empty(size, np.int64)
        if self.order is None:
            out[:] = np.arange(size) - self.starts[self.codes]
        else:
            out[self.order] = np.arange(size) - np.repeat(self.starts, self.counts)
        out.flags.writeable = False
        return out


def _grouped(codes: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The sample indices grouped by class, in source order within a class,
    without a sort of every sample: a chunk of samples at a time, each class's
    run of the chunk (a stable sort of the chunk's narrow codes) is written
    at that class's cursor, so nothing but the result grows with the samples
    (4 bytes a sample below 2**32 samples)."""
    size = codes.size
    order = np.empty(size, np.uint32 if size <= 1 << 32 else np.uint64)
    cursor = starts.astype(np.int64)
    # NOTE: a chunk's work grows with the classes too: at least as many samples
    step = max(GROUP_CHUNK, starts.size)
    steps = np.arange(min(size, step), dtype=np.int64)
    for low in range(0, size, step):
        chunk = codes[low : low + step]
        local = np.argsort(chunk, kind="stable")
        held = np.bincount(chunk, minlength=starts.size)
        # NOTE: the chunk's k-th sample of class c goes to cursor[c] + k.
        shift = cursor - (np.cumsum(held) - held)
        order[shift[chunk[local]] + steps[: chunk.size]] = local + low
        cursor += held
    return order


@dataclass(frozen=True)
class ClassRule:
    """The exact class rule for every epoch: the rank keys per class and, per
    row of targets (one row, or one per phase of a schedule: row r holds from
    epoch `starts[r]` until the next row starts, the last for every later
    epoch), the base copies, the extras and the ledger. `at(epoch)` gives one
    epoch's `EpochRule`.

    Attributes:
        rounding, seed: as in the plan.
        counts: (C,) n per class.
        starts: (R,) the first epoch of each row (0 first, increasing).
        targets: (R, C) copies per class in each row of targets.
        base, extras: (R, C) b and e of each row.
        ledger: (R, C) the extras given before each row's first epoch, mod n.
        rank_mult, rank_add, rank_inverse: (C,) the rank bijection's key.
        threshold: (R, C) uint64, for stochastic rounding.
    """

    rounding: str
    seed: int
    counts: np.ndarray
    starts: np.ndarray
    targets: np.ndarray
    base: np.ndarray
    extras: np.ndarray
    ledger: np.ndarray
    rank_mult: np.ndarray
    rank_add: np.ndarray
    rank_inverse: np.ndarray
    threshold: np.ndarray

    @classmethod
    def build(
        cls,
        seed: int,
        rounding: str,
        counts: np.ndarray,
        targets: np.ndarray,
        starts: np.ndarray | None = None,
    ) -> ClassRule:
        """The rule of these counts and rows of targets (C,) or (R, C), row r
        from epoch `starts[r]` (default: row r for epoch r)."""
        size = np.asarray(counts, dtype=np.int64)
        if size.size and int(size.max()) > MAX_CLASS_SIZE:
            raise ValueError(
                f"a class holds {int(size.max())} samples; at most {MAX_CLASS_SIZE}"
                " per class are supported."
            )
        rows = np.atleast_2d(np.asarray(targets, dtype=np.int64))
        first = np.arange(rows.shape[0]) if starts is None else starts
        first = np.asarray(first, dtype=np.int64)
        base = rows // size
        extras = rows - base * size
        ledger = np.zeros_like(rows)
        for row in range(1, rows.shape[0]):
            # NOTE: closed form over a row's epochs: length x extras, mod n.
            length = int(first[row] - first[row - 1]) % size
            ledger[row] = (ledger[row - 1] + length * extras[row - 1] % size) % size
        mult, add, inverse = _rank_keys(seed, size)
        threshold = np.array(
            [
                [(int(e) << 64) // int(n) for e, n in zip(row, size, strict=True)]
                for row in extras
            ],
            dtype=np.uint64,
        ).reshape(rows.shape)
        _frozen(size, first, rows, base, extras, ledger, mult, add, inverse, threshold)
        return cls(
            rounding,
            seed,
            size,
            first,
            rows,
            base,
            extras,
            ledger,
            mult,
            add,
            inverse,
            threshold,
        )

    def row(self, epoch: int) -> int:
        """The row of targets of `epoch`."""
        return int(np.searchsorted(self.starts, check_epoch(epoch), side="right")) - 1

    def rotation(self, epoch: int) -> np.ndarray:
        """E_t mod n: extras given before `epoch`, in O(classes) work."""
        row = self.row(epoch)
        size = self.counts
        later = (epoch - int(self.starts[row])) % size  # epochs into the row
        return (self.ledger[row] + later * self.extras[row] % size) % size

    def at(self, epoch: int) -> EpochRule:
        """The arrays that decide `epoch`."""
        epoch = check_epoch(epoch)
        row = self.row(epoch)
        return EpochRule(
            epoch=epoch,
            rounding=self.rounding,
            seed=self.seed,
            counts=self.counts,
            base=self.base[row],
            extras=self.extras[row],
            rotation=self.rotation(epoch),
            rank_mult=self.rank_mult,
            rank_add=self.rank_add,
            rank_inverse=self.rank_inverse,
            threshold=self.threshold[row],
        )

    def copies(
        self,
        codes: np.ndarray,
        occurrences: np.ndarray,
        epoch: int,
        keys: np.ndarray | None = None,
    ) -> np.ndarray:
        """Copies in `epoch` of samples given one by one: `EpochRule.copies`."""
        return self.at(epoch).copies(codes, occurrences, keys)

    def all_copies(self, members: Members, epoch: int) -> np.ndarray:
        """Copies in `epoch` of every sample of `members` (exact rounding):
        the e samples of a class that get the extra copy are found through
        the inverse rank, not by testing every sample."""
        rule = self.at(epoch)
        return exact_copies(rule, members, rule.base, rule.extras)


def exact_copies(
    rule: EpochRule, members: Members, base: np.ndarray, extras: np.ndarray
) -> np.ndarray:
    """Every sample's copies with these per-class `base` and `extras` (the
    rule's, or the Sampler's padded or dropped ones); the extras go to the
    first places of each class's window, where the rule puts them."""
    copies = base[members.codes].astype(np.int64)
    owner = np.repeat(np.arange(extras.size), extras)
    places = np.arange(owner.size, dtype=np.int64) - np.repeat(
        np.cumsum(extras) - extras, extras
    )
    copies[members.sample(owner, rule.window(owner, places))] += 1
    return copies


def _rank_keys(seed: int, size: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per class a multiplier coprime to n, an offset in [0, n) and the
    multiplier's inverse: the seeded rank bijection of each class."""
    words = _seeding.raw_words(seed, 2 * size.size, "exact-rule")
    span = np.maximum(size - 1, 1).astype(np.uint64)
    mult = (1 + words[0::2] % span).astype(np.int64)
    while True:
        bad = np.gcd(mult, size) != 1
        if not bad.any():
            break
        mult[bad] = mult[bad] % np.maximum(size[bad] - 1, 1) + 1
    add = (words[1::2] % size.astype(np.uint64)).astype(np.int64)
    inverse = np.array(
        [pow(int(a), -1, int(n)) for a, n in zip(mult, size, strict=True)],
        dtype=np.int64,
    )
    return mult, add, inverse


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
    """The rule of per-sample weights for every epoch.

    Attributes:
        rounding, seed: as in the plan.
        fixed: (N,) each sample's factor in 32.32 fixed point (int64): its
            base copies `fixed >> 32` and the fraction of an extra below.
        class_factors: (C,) per-class factors of a multi-label plan (a
            sample's factor is the largest over its labels), else None.
        base_total: the sum of the base copies.
        extra_total: round(sum of the fractions): extras in every epoch.
        low, width: the epoch offsets in [low, low + width) give exactly
            `extra_total` extras.
        start: the seeded start of the low-discrepancy offset sequence.
    """

    rounding: str
    seed: int
    fixed: np.ndarray
    class_factors: np.ndarray | None
    base_total: int
    extra_total: int
    low: int
    width: int
    start: int

    @classmethod
    def build(
        cls,
        seed: int,
        rounding: str,
        fixed: np.ndarray,
        class_factors: np.ndarray | None = None,
    ) -> WeightRule:
        fraction_sum = int((fixed & FIXED_MASK).sum(dtype=np.int64))
        base_total = int((fixed >> 32).sum(dtype=np.int64))
        whole, remainder = divmod(fraction_sum, FIXED_ONE)
        rounds_up = remainder >= FIXED_ONE // 2
        if rounds_up:
            low, width = FIXED_ONE - remainder, remainder
        else:
            low, width = 0, FIXED_ONE - remainder
        start = _seeding.derive(seed, "weights") & FIXED_MASK
        return cls(
            rounding,
            seed,
            fixed,
            class_factors,
            base_total,
            whole + int(rounds_up),
            low,
            width,
            start,
        )

    def offset(self, epoch: int) -> int:
        """The epoch's offset: a golden-ratio sequence folded into the range."""
        step = (self.start + (epoch % FIXED_ONE) * GOLDEN32) & FIXED_MASK
        return self.low + step % self.width

    def copies(self, epoch: int) -> np.ndarray:
        """Every sample's copies in `epoch`."""
        if self.rounding == "stochastic":
            keys = np.arange(self.fixed.size, dtype=np.uint64)
            draw = _seeding.sample_hash(_seeding.epoch_key(self.seed, epoch), keys)
            high = draw >> np.uint64(32)
            chance = (self.fixed & FIXED_MASK).astype(np.uint64)
            return (self.fixed >> 32) + (high < chance)
        fraction = self.fixed & FIXED_MASK
        after = np.cumsum(fraction, dtype=np.int64) + self.offset(epoch)
        before = after - fraction
        return (self.fixed >> 32) + ((after >> 32) - (before >> 32))


@dataclass(frozen=True, eq=False)
class WholeRule:
    """Whole copies fixed by `duplicate`'s arguments, the same in every epoch:
    `factor` copies for every sample ("all"), for the source positions
    `indices`, or for the samples `where` holds for, the others one; or per
    class from `table` (classes it does not name keep one copy).

    `identity` fingerprints what decides the copies (the predicate's code or
    graph); None when it cannot be known, and `unknown` then says why.
    """

    selection: str
    factor: int = 1
    indices: np.ndarray | None = None
    table: Mapping[int | str, int] | None = None
    where: Callable[[Any], Any] | None = field(default=None, compare=False)
    identity: str | None = None
    unknown: str | None = None

    def __post_init__(self) -> None:
        if self.indices is not None:
            _frozen(self.indices)
        if self.selection == "where" and self.identity is None:
            raise ValueError("a rule of `where` needs the predicate's identity.")

    def copies_at(self, keys: np.ndarray) -> np.ndarray:
        """Copies of the samples at source positions `keys` ("all", "indices")."""
        if self.selection == "all":
            return np.full(keys.shape, self.factor, np.int64)
        assert self.indices is not None
        chosen = np.isin(keys, self.indices)
        return np.where(chosen, self.factor, 1).astype(np.int64)

    def copies_of(self, labels: np.ndarray) -> np.ndarray:
        """Copies of samples of these labels ("classes")."""
        assert self.table is not None
        table = self.table
        return np.asarray([table.get(v, 1) for v in labels.tolist()], np.int64)

    def copies_if(self, hits: np.ndarray) -> np.ndarray:
        """Copies of samples for which the predicate holds or not ("where")."""
        return np.where(hits, self.factor, 1).astype(np.int64)

    def describe(self) -> dict[str, Any]:
        """What decides the copies, for the plan's header and fingerprint."""
        out: dict[str, Any] = {"selection": self.selection, "factor": self.factor}
        if self.indices is not None:
            digest = hashlib.blake2b(self.indices.tobytes(), digest_size=8)
            out["indices"] = digest.hexdigest()
            out["chosen"] = int(self.indices.size)
        if self.table is not None:
            out["table"] = [[k, v] for k, v in sorted(self.table.items())]
        if self.selection == "where":
            out["where"] = self.identity
        return out
