"""The interleave of a mixture: which source gives each output of an epoch.

A pure function of the targets T_s. By default the j-th output of source s
sits at the point (2j + 1) / (2 T_s) of the epoch and the epoch lists the
points in order (ties by source), computed in pieces with no state carried
between them: any run of outputs holds each source near its share. With a
batch size B (stratified), each batch's counts come from a running
apportionment (`batch_rows`), so every batch holds each share B * T_s / T to
within one sample and the epoch its totals exactly. `stratified` lays any
epoch out in such batches by class from the same rows: `ovs.BatchSampler`'s
batches by class and a Python stream's `balance(stratified=B)`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

import numpy as np

PIECE = 4096  # outputs per piece of the default schedule, on average
ROWS = 256  # rows of the quota turned into entries at a time


def schedule_piece(targets: tuple[int, ...], piece: int, pieces: int) -> np.ndarray:
    """The sources of the outputs whose points lie in [piece, piece + 1) /
    pieces: source s's j-th output has the point (2j + 1) / (2 T_s)."""
    totals = np.asarray(targets, np.float64)
    low = _first_index(totals, piece, pieces)
    high = _first_index(totals, piece + 1, pieces)
    counts = high - low
    owner = np.repeat(np.arange(totals.size), counts)
    j = np.arange(owner.size) - np.repeat(np.cumsum(counts) - counts, counts)
    j = j + np.repeat(low, counts)
    points = (2.0 * j + 1.0) / (2.0 * totals[owner])
    return owner[np.argsort(points, kind="stable")]


def _first_index(totals: np.ndarray, piece: int, pieces: int) -> np.ndarray:
    """The first j of each source whose point is at or after piece / pieces."""
    if piece >= pieces:
        return totals.astype(np.int64)
    edge = np.ceil(piece / pieces * totals - 0.5)
    return np.clip(edge, 0, totals).astype(np.int64)


def batch_counts(targets: Sequence[int] | np.ndarray, batch: int) -> np.ndarray:
    """Each batch's count of each source, shape (batches, sources): the rows
    of `batch_rows`."""
    return np.asarray(list(batch_rows(targets, batch)), np.int64)


def batch_rows(
    targets: Sequence[int] | np.ndarray,
    batch: int,
    ties: np.random.Generator | None = None,
) -> Iterator[np.ndarray]:
    """Each batch's count of each source (or class), one row at a time: batch
    k gives source s floor(B T_s / T) or one more, the ones chosen for the
    largest debt so far (k B T_s - T * given, exact integers), so every batch
    holds each source's share to within one sample and the epoch its total.
    The last row holds what is left when B does not divide T.

    Equal debts go to the lowest index first, or, given `ties`, in an order
    drawn from it (which sources meet in a batch then varies; the counts keep
    their bounds, which hold for any choice among equal debts).
    """
    totals = np.asarray(targets, np.int64)
    total = int(totals.sum())
    size = min(batch, total)
    base = size * totals // total
    debt = np.zeros(totals.size, np.int64)  # in units of 1 / total
    given = np.zeros(totals.size, np.int64)
    step, floor, extra = size * totals, total * base, size - int(base.sum())
    for _ in range(total // size):
        debt += step
        row = base.copy()
        if extra:
            row += _largest(debt - floor, extra, ties)
        row = np.minimum(row, totals - given)
        short = size - int(row.sum())
        if short:
            row += _largest(debt - total * row, short, ties)
        debt -= total * row
        given += row
        yield row
    if total % size:
        yield totals - given


def _largest(
    values: np.ndarray, count: int, ties: np.random.Generator | None
) -> np.ndarray:
    """A mask of the `count` largest values, ties to the lowest index (the
    first `count` of a stable descending sort, without the sort) or drawn
    from `ties`."""
    if count >= values.size:
        return np.ones(values.size, bool)
    cut = np.partition(values, values.size - count)[values.size - count]
    chosen = values > cut
    equal = np.flatnonzero(values == cut)
    need = count - int(np.count_nonzero(chosen))
    if ties is not None and need < equal.size:
        equal = ties.choice(equal, need, replace=False)
    chosen[equal[:need]] = True
    return chosen


def batch_order(counts: np.ndarray) -> np.ndarray:
    """The sources of one batch, spread out: the j-th of source s at the point
    (2j + 1) / (2 a_s), ties by source."""
    owner = np.repeat(np.arange(counts.size), counts)
    j = np.arange(owner.size) - np.repeat(np.cumsum(counts) - counts, counts)
    points = (2.0 * j + 1.0) / (2.0 * counts[owner])
    return owner[np.argsort(points, kind="stable")]


def classes_of(codes: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """The class code of each of `indices`, in the narrowest unsigned type."""
    # NOTE: a stable sort of 16-bit keys is a radix sort, the common case.
    narrow = np.min_scalar_type(max(int(codes.max(initial=0)), 0))
    return codes[indices].astype(narrow)


def batch_entries(
    totals: np.ndarray, batch: int, draw: np.random.Generator | None
) -> tuple[np.ndarray, ...]:
    """The nonzero counts of the quota's rows as (batch, class, count)
    arrays, batch by batch and class by class within a batch; the classes in
    the narrowest unsigned type (a stable sort of 16-bit keys is a radix
    sort)."""
    rows = batch_rows(totals, batch, draw)
    narrow = np.min_scalar_type(max(totals.size - 1, 0))
    parts, done = [], 0
    # NOTE: rows are read a block at a time: a table of every batch x class
    # would outgrow the epoch when classes outnumber the batch size.
    while block := list(itertools.islice(rows, ROWS)):
        table = np.asarray(block)
        number, owner = np.nonzero(table)
        parts.append((number + done, owner.astype(narrow), table[number, owner]))
        done += len(block)
    return tuple(np.concatenate(x) for x in zip(*parts, strict=True))


def stratified(
    classes: np.ndarray, batch: int, draw: np.random.Generator | None
) -> np.ndarray:
    """The positions of a rank's epoch in stratified batches of `batch`.

    Batch k takes from each class the next `rows[k][c]` of its copies in the
    epoch's order (the quota's row k); inside a batch the positions keep the
    epoch's order. The last batch holds the rest when `batch` does not divide
    the epoch.

    Args:
        classes: the class code of each position (`classes_of`), shape (L,).
        batch: the batch size, at most L.
        draw: breaks ties between classes (e.g. `index.class_batches.ties`).

    Returns:
        order (L,) int64: the batched epoch is `epoch[order]`.
    """
    size = classes.size
    grouped = np.argsort(classes, kind="stable")  # class by class, in epoch order
    totals = np.bincount(classes)
    present = np.flatnonzero(totals)
    _, owners, counts = batch_entries(totals[present], batch, draw)
    # NOTE: the entries, batch by batch, tile the output; class by class they
    # tile `grouped`: each copy moves from the one tiling to the other.
    starts = np.cumsum(counts) - counts
    by_class = np.argsort(owners, kind="stable")
    shift = starts[by_class] - (np.cumsum(counts[by_class]) - counts[by_class])
    order = np.empty(size, np.int64)
    order[np.repeat(shift, counts[by_class]) + np.arange(size)] = grouped
    whole = size // batch * batch
    order[:whole].reshape(-1, batch).sort(axis=1)
    order[whole:].sort()
    return order
