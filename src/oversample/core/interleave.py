"""The interleave of a mixture: which source gives each output of an epoch.

A pure function of the targets T_s. By default the j-th output of source s
sits at the point (2j + 1) / (2 T_s) of the epoch and the epoch lists the
points in order (ties by source), computed in pieces with no state carried
between them: any run of outputs holds each source near its share. With a
batch size B (stratified), each batch's counts come from a running
apportionment (`batch_rows`), so every batch holds each share B * T_s / T to
within one sample and the epoch its totals exactly; `ovs.BatchSampler` takes
its stratified batches by class from the same rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

PIECE = 4096  # outputs per piece of the default schedule, on average


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
