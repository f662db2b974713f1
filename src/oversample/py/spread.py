"""The spread for Python streams: the examples of the classes with the most
copies per sample, held in memory (see `oversample.core.spread`), and their
copies placed over the whole epoch.

Epoch e's held copies are H, the sum of the plan's copies of the held
samples. The sample with key k of the N owns the slots floor(H k / N) up to
floor(H (k + 1) / N); slot j takes copy h = pi_e(j) of the multiset, pi_e a
seeded bijection of [0, H). Whichever reader streams a sample emits its
slots, so readers of disjoint samples emit every copy once.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np

from oversample.core import interleave as _interleave
from oversample.core import permutation as _permutation
from oversample.core import seeding as _seeding
from oversample.core import spread as _spread
from oversample.core.labels import ClassIndex
from oversample.core.marks import Marking
from oversample.core.plan import Plan
from oversample.core.prepare import check_counts

PLACE = 40  # an ident of the read is place << PLACE | position


def nbytes(example: object, depth: int = 0) -> int:
    """About how many bytes an example holds: arrays and tensors by their
    data, strings by length, containers by their parts."""
    if depth > 8:
        return sys.getsizeof(example)
    if isinstance(example, bytes | str):
        return len(example)
    if isinstance(example, np.ndarray):
        return int(example.nbytes)
    element_size = getattr(example, "element_size", None)
    numel = getattr(example, "nelement", None)
    if callable(element_size) and callable(numel):
        return int(element_size()) * int(numel())
    if isinstance(example, Mapping):
        return sum(nbytes(v, depth + 1) for v in example.values()) + 64
    if isinstance(example, list | tuple):
        return sum(nbytes(v, depth + 1) for v in example) + 16
    return sys.getsizeof(example)


class ExampleCollector:
    """Examples of whole classes, gathered until the budget is spent: with
    `priority` (per class index) only classes of positive priority, dropping
    the lowest first; without it every class, dropping the one counted most
    so far (the counting pass folded into this one).

    A block is kept whole, as arrays in the pass's order (class codes,
    idents, examples), and a class is dropped by marking it; the dropped
    rows are cut out of the kept blocks once they hold an eighth of the
    budget. A class's code is its index with `priority`, else the order in
    which its label was first met.

    NOTE: an example's bytes are estimated from a few examples of each block
    (walking every example's structure cost more than reading it). Keeping
    blocks whole costs a few NumPy calls per block, whatever the number of
    classes in it; a list per class cost a loop over the classes of every
    block.
    """

    def __init__(self, budget: int, priority: np.ndarray | None = None) -> None:
        self.budget, self.priority = budget, priority
        classes = 0 if priority is None else priority.size
        self.labels: dict[Any, int] = {}  # without priority: label -> code
        self.counts = np.zeros(classes, np.int64)  # samples met, per code
        self.bytes = np.zeros(classes, np.int64)  # bytes held, per code
        self.met = np.full(classes, -1, np.int64)  # when first collected
        self.dropped = np.zeros(classes, bool)  # for the budget
        self.blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.total = 0  # bytes held
        self.stale = 0  # bytes of dropped classes still in `blocks`

    def _codes(self, labels: np.ndarray) -> np.ndarray:
        if self.priority is not None:
            return np.asarray(labels, np.int64)
        values, inverse = np.unique(labels, return_inverse=True)
        codes = [self.labels.setdefault(v, len(self.labels)) for v in values.tolist()]
        grown = len(self.labels) - self.counts.size
        if grown:
            self.counts = np.concatenate([self.counts, np.zeros(grown, np.int64)])
            self.bytes = np.concatenate([self.bytes, np.zeros(grown, np.int64)])
            self.met = np.concatenate([self.met, np.full(grown, -1, np.int64)])
            self.dropped = np.concatenate([self.dropped, np.zeros(grown, bool)])
        return np.asarray(codes, np.int64)[inverse.reshape(-1)]

    def add(self, labels: np.ndarray, idents: np.ndarray, examples: list[Any]) -> None:
        """One block: the examples' labels (class indices with `priority`),
        idents and examples."""
        codes = self._codes(labels)
        met = np.bincount(codes, minlength=self.counts.size)
        self.counts += met
        wanted = ~self.dropped
        if self.priority is not None:
            wanted &= self.priority > 0
        rows = met * wanted
        if not rows.any():
            return
        probes = np.linspace(0, len(examples) - 1, min(len(examples), 8)).astype(int)
        size = sum(nbytes(examples[i]) for i in probes.tolist()) / probes.size
        pool = np.fromiter(examples, dtype=object, count=len(examples))
        take = wanted[codes]
        if take.all():
            self.blocks.append((codes, idents, pool))
        else:
            self.blocks.append((codes[take], idents[take], pool[take]))
        added = np.rint(size * rows).astype(np.int64)
        self.bytes += added
        self.total += int(added.sum())
        new = np.flatnonzero((rows > 0) & (self.met < 0))
        self.met[new] = np.arange(new.size) + int(self.met.max(initial=-1)) + 1
        while self.total > self.budget:
            present = np.flatnonzero((self.met >= 0) & ~self.dropped)
            if not present.size:
                break
            present = present[np.argsort(self.met[present])]
            worst = _spread.least_worth(present.tolist(), self.counts, self.priority)
            self.drop(int(worst))
        if self.stale > self.budget // 8:
            self._cut()

    def drop(self, code: int) -> None:
        """Drops a class's rows and collects no more of it."""
        self.dropped[code] = True
        self.total -= int(self.bytes[code])
        self.stale += int(self.bytes[code])
        self.bytes[code] = 0

    def _cut(self) -> None:
        """The dropped classes' rows cut out of the kept blocks."""
        blocks = []
        for codes, idents, pool in self.blocks:
            keep = ~self.dropped[codes]
            if keep.all():
                blocks.append((codes, idents, pool))
            elif keep.any():
                blocks.append((codes[keep], idents[keep], pool[keep]))
        self.blocks, self.stale = blocks, 0

    def held(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(codes, idents, examples) of the classes still held, in the pass's
        order."""
        self._cut()
        if not self.blocks:
            empty = np.zeros(0, np.int64)
            return empty, empty, np.empty(0, dtype=object)
        codes, idents, pools = zip(*self.blocks, strict=True)
        return np.concatenate(codes), np.concatenate(idents), np.concatenate(pools)


class Held:
    """The held examples of one plan and their copies, epoch by epoch.

    The held rows are ordered by (class, occurrence); row r's example is
    `examples[position[r]]` (the examples stay in the order they were read:
    moving 10**6 of them into class order touched each at random, 0.1-0.2 s).
    An epoch's multiset lays each class out as its base copies (b x n slots:
    slot u is row u mod n) and then its extra copies (one slot per sample that
    gets one), so a slot finds its row with a search over the classes, not
    over the rows.
    """

    def __init__(
        self,
        plan: Plan,
        examples: np.ndarray,
        position: np.ndarray,
        index: np.ndarray,
        occurrence: np.ndarray,
        keys: np.ndarray,
        held_bytes: int,
        marking: Marking,
    ) -> None:
        self.plan = plan
        self.examples, self.position = examples, position
        self.index, self.occurrence = index, occurrence
        self.keys, self.bytes = keys, held_bytes
        self.marking = marking
        assert plan.num_samples is not None
        self.samples = plan.num_samples
        self.seed = plan.seed
        classes = len(plan.classes)
        self.sizes = np.bincount(self.index, minlength=classes)
        self.first = np.cumsum(self.sizes) - self.sizes  # first row of each class
        self._epoch: int | None = None
        self._layout: tuple[Any, ...] | None = None

    @property
    def size(self) -> int:
        return int(self.keys.size)

    def fingerprint(self, legacy: bool = False) -> str:
        """The held samples as a saved state names them (their number, bytes
        and keys); `legacy`: as states saved before 2026-12 named them.

        NOTE: the keys enter as a digest of their bytes; before, as the repr
        of their bytes, 0.09 s at 10**6 held samples."""
        raw = self.keys.tobytes()
        keys = raw if legacy else hashlib.blake2b(raw, digest_size=16).hexdigest()
        return f"{_seeding.derive(0, 'held', self.size, self.bytes, keys):016x}"

    def _of(self, epoch: int) -> tuple[Any, ...]:
        """The epoch's layout: per class its slots' start, its size (at least
        1), its base slots and where its extra slots find their rows in the
        rows that get an extra copy; those rows; the permutation."""
        if self._epoch != epoch or self._layout is None:
            rule = self.plan.class_rule.at(epoch)
            copies = rule.copies(self.index, self.occurrence, self.keys)
            base = rule.base * (self.sizes > 0)
            extra = copies - base[self.index]
            extra_rows = np.flatnonzero(extra)  # by class, then occurrence
            extras = np.bincount(self.index[extra_rows], minlength=base.size)
            slots = base * self.sizes + extras
            starts = np.cumsum(slots) - slots
            extra_starts = np.cumsum(extras) - extras
            total = int(slots.sum())
            bits = max(2, (total - 1).bit_length())
            words = _seeding.raw_words(self.seed, _permutation.ROUNDS, "held", epoch)
            permutation = _permutation.Feistel(total, bits // 2, bits, words)
            columns = _Columns.of(starts + slots)
            size = np.maximum(self.sizes, 1)
            bulk = base * self.sizes  # slots of base copies
            self._layout = (
                columns,
                starts,
                size,
                bulk,
                extra_starts - bulk,
                extra_rows,
                permutation,
            )
            self._epoch = epoch
        return self._layout

    def keys_for(self, copies: int, epoch: int) -> int:
        """About how many keys own `copies` held copies in `epoch`."""
        total = self._of(epoch)[-1].total
        return copies * self.samples // max(total, 1)

    def owned(self, keys: np.ndarray, epoch: int) -> Any:
        """The held copies that the samples with these keys own in `epoch`:
        an object array (of (example, marks) pairs when marks are asked for)."""
        row, copy = self._owned_rows(keys, epoch)
        return self._examples(row, copy, epoch)

    def owned_rows(self, keys: np.ndarray, epoch: int) -> np.ndarray | None:
        """The places in `examples` of the held copies these keys own, for a
        caller that gathers them itself; None when marks are asked for."""
        if self.marking.wanted:
            return None
        return self.position[self._owned_rows(keys, epoch)[0]]

    def stratified(
        self, keys: np.ndarray, epoch: int, batch: int, draw: np.random.Generator
    ) -> Any:
        """`owned(keys, epoch)` reordered into batches of `batch` that each
        hold every class's share of these copies to within one
        (`core.interleave.stratified`: the quota of `ovs.mix`)."""
        row, copy = self._owned_rows(keys, epoch)
        if not row.size:  # NOTE: a reader whose part holds no copy
            return np.empty(0, dtype=object)
        classes = _interleave.classes_of(self.index, row)
        order = _interleave.stratified(classes, min(batch, max(row.size, 1)), draw)
        return self._examples(row[order], None if copy is None else copy[order], epoch)

    def _owned_rows(
        self, keys: np.ndarray, epoch: int
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The held row of each copy these keys own, and its copy number when
        marks are asked for (else None)."""
        columns, starts, size, bulk, shift, extra_rows, permutation = self._of(epoch)
        slots = self._slots(keys, permutation.total)
        if not slots.size:
            return slots, slots
        slot = permutation(slots)
        column = columns(slot)
        inside = slot - starts[column]
        row = self.first[column] + inside % size[column]
        # NOTE: the extra copies (a tenth of the slots in a long tail) are
        # found for their slots alone.
        extra = np.flatnonzero(inside >= bulk[column])
        if extra.size:
            row[extra] = extra_rows[shift[column[extra]] + inside[extra]]
        if not self.marking.wanted:
            return row, None
        copy = inside // size[column]
        copy[extra] = (bulk // size)[column[extra]]
        return row, copy

    def _slots(self, keys: np.ndarray, total: int) -> np.ndarray:
        """The slots of [0, total) these keys own, in key order."""
        if not keys.size:
            return np.zeros(0, np.int64)
        if keys[-1] - keys[0] + 1 == keys.size and _rising(keys):
            # NOTE: consecutive keys (one reader's block) own one run of slots.
            first = int(keys[0]) * total // self.samples
            return np.arange(first, (int(keys[-1]) + 1) * total // self.samples)
        low = keys * total // self.samples
        width = (keys + 1) * total // self.samples - low
        ends = np.cumsum(width)
        return np.repeat(low - ends + width, width) + np.arange(ends[-1])

    def _examples(self, row: np.ndarray, copy: np.ndarray | None, epoch: int) -> Any:
        """The held examples of these rows, with their marks when asked for."""
        found = self.examples[self.position[row]]
        if not self.marking.wanted:
            return found
        assert copy is not None
        found = found.tolist()
        pairs = self.marking.pairs(found, self.keys[row], copy, epoch)
        out = np.empty(len(pairs), dtype=object)
        for place, pair in enumerate(pairs):
            out[place] = pair
        return out


def _rising(keys: np.ndarray) -> bool:
    """Whether each key is one more than the one before."""
    return bool((np.diff(keys) == 1).all())


class _Columns:
    """The class of each slot, from a table of the class at every 2**shift-th
    slot and a fix-up for the few slots behind a class boundary (a search over
    the classes per slot costs several times more)."""

    def __init__(self, ends: np.ndarray, shift: int, bucket: np.ndarray) -> None:
        self.ends, self.shift, self.bucket = ends, shift, bucket

    @classmethod
    def of(cls, ends: np.ndarray) -> _Columns:
        total = int(ends[-1]) if ends.size else 0
        shift = max(0, total.bit_length() - 16)
        marks = np.arange((total >> shift) + 1, dtype=np.int64) << shift
        bucket = np.minimum(np.searchsorted(ends, marks, side="right"), ends.size - 1)
        return cls(ends, shift, bucket)

    def __call__(self, slot: np.ndarray) -> np.ndarray:
        column = self.bucket[slot >> self.shift]
        behind = np.flatnonzero(self.ends[column] <= slot)
        while behind.size:
            column[behind] += 1
            behind = behind[self.ends[column[behind]] <= slot[behind]]
        return column


def report(plan: Any, held: Held | None, budget: int, reason: str | None) -> Any:
    """The `Spread` report of a Python stream."""
    if held is None:
        return _spread.nothing(budget, reason or "")
    classes = held.sizes > 0
    return _spread.Spread(
        budget=budget,
        held_classes=tuple(c for c, h in zip(plan.classes, classes, strict=True) if h),
        held_samples=held.size,
        held_bytes=held.bytes,
        held_copies=int(plan.class_rule.targets[0, classes].sum()),
        total=plan.total_at(0),
    )


def hold(
    plan: Plan, found: Any, starts: np.ndarray | None, marking: Marking
) -> Held | None:
    """The held samples worth their memory (all when every class fitted, else
    the oversampled ones), with their keys and occurrences."""
    collector = found.collector
    if collector is None:
        return None
    codes, idents, examples = collector.held()
    if not codes.size:
        return None
    held_bytes = collector.bytes
    if collector.priority is None:
        columns = ClassIndex(plan.classes)(np.asarray(list(collector.labels)))
        codes = columns[codes]
        held_bytes = np.zeros(len(plan.classes), np.int64)
        held_bytes[columns] = collector.bytes
    sizes = np.bincount(codes, minlength=len(plan.classes))
    present = np.flatnonzero(sizes)
    worth = _spread.worth_holding(plan, present, bool(collector.dropped.any()))
    if not worth.any():
        return None
    if not worth.all():
        kept = np.zeros(len(plan.classes), bool)
        kept[present[worth]] = True
        rows = kept[codes]
        codes, idents, examples = codes[rows], idents[rows], examples[rows]
        present = present[worth]
        sizes[~kept] = 0
    said = "the plan counted"
    classes = [plan.classes[c] for c in present.tolist()]
    check_counts(classes, plan.class_rule.counts[present], sizes[present], said=said)
    # NOTE: a class is held whole and the pass read it in key order (position,
    # or shard then position), so a stable sort by class puts its k-th row at
    # occurrence k.
    order = np.argsort(_narrow(codes), kind="stable")
    if order.size < 1 << 32:
        order = order.astype(np.uint32)
    index, idents = codes[order], idents[order]
    occurrence = np.arange(index.size) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    places, positions = idents >> PLACE, idents & ((1 << PLACE) - 1)
    keys = positions if starts is None else starts[places] + positions
    size = int(held_bytes[present].sum())
    return Held(plan, examples, order, index, occurrence, keys, size, marking)


def _narrow(codes: np.ndarray) -> np.ndarray:
    """Class codes in the narrowest unsigned type, which NumPy sorts stably
    by radix (16 bits or fewer) instead of by merging."""
    if codes.size and int(codes.max()) < 1 << 16:
        return codes.astype(np.uint16)
    return codes
