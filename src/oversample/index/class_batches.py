"""Batches by class: the order of a rank's epoch in batches that hold every
class's share (stratified) or B/m classes of m copies each (m per class).

Both are permutations of the rank's epoch, so the batches concatenate to
exactly its multiset; only the order changes. The counts come from the one
quota of `oversample.core.interleave.batch_rows`, fed each class's copies
(stratified) or each class's groups of m copies (m per class); when the
sampler shuffles, equal debts go to classes in a seeded order, so which
classes meet in a batch is drawn anew in every epoch and rank.
"""

from __future__ import annotations

import numpy as np

from oversample.core import seeding as _seeding
from oversample.core.interleave import batch_entries
from oversample.core.plan import Plan


def check(
    plan: Plan,
    replicas: int,
    drop_last: bool,
    batch: int,
    stratified: bool,
    per_class: int | None,
) -> None:
    """Refuses batches by class that this plan and split cannot give.

    Args:
        plan: the sampler's plan.
        replicas: the sampler's number of ranks.
        drop_last: the sampler's drop_last (the length of a rank's epoch).
        batch: the batch size.
        stratified: stratified batches are asked for.
        per_class: m of m-per-class batches, or None.
    """
    asked = "`stratified=True`" if stratified else f"`samples_per_class={per_class}`"
    if plan.kind != "classes":
        what = {
            "weights": "per-sample weights",
            "whole": "ovs.duplicate's whole copies",
        }[plan.kind]
        raise ValueError(
            f"{asked} makes batches by class, and this sampler's plan decides its"
            f" copies from {what}, so it has no classes to batch by; make the plan"
            " from labels (ovs.plan(labels, ...)) or leave batches unstratified."
        )
    rule = plan.class_rule
    if per_class is not None:
        if batch % per_class:
            raise ValueError(
                f"`samples_per_class` must divide `batch_size`={batch}, so that a"
                f" batch holds whole groups; got samples_per_class={per_class}."
            )
        groups, classes = batch // per_class, len(plan.classes)
        if groups > classes:
            raise ValueError(
                f"`batch_size`={batch} with `samples_per_class`={per_class} asks"
                f" for {groups} classes in a batch, and the plan has {classes};"
                f" use batch_size <= {classes * per_class}."
            )
        fewest = rule.targets.min(axis=1)
        if int(fewest.min()) < per_class:
            row = int(np.argmax(fewest < per_class))
            column = int(np.argmin(rule.targets[row]))
            raise ValueError(
                f"`samples_per_class`={per_class} is more than the"
                f" {int(rule.targets[row, column])} copies of class"
                f" {plan.classes[column]!r} in epoch {int(rule.starts[row])}: every"
                " class needs at least samples_per_class copies in every epoch;"
                f" use samples_per_class <= {int(fewest.min())}, or a plan that"
                " raises that class."
            )
    totals = rule.targets.sum(axis=1)
    lengths = totals // replicas if drop_last else -(-totals // replicas)
    if int(lengths.min()) < batch:
        row = int(np.argmin(lengths))
        ranks = f" on each of {replicas} ranks" if replicas > 1 else ""
        raise ValueError(
            f"`batch_size`={batch} is more than the {int(lengths[row])} indices"
            f" of epoch {int(rule.starts[row])}{ranks}; {asked} needs at least one"
            f" whole batch in every epoch: use batch_size <= {int(lengths.min())}."
        )


def ties(seed: int, epoch: int, rank: int, shuffle: bool) -> np.random.Generator | None:
    """The draw that breaks ties between classes in this epoch and rank (None:
    the plan's class order, for a sampler that does not shuffle)."""
    return _seeding.rng(seed, "class-batches", epoch, rank) if shuffle else None


def _class_major(
    owners: np.ndarray, counts: np.ndarray, values: np.ndarray
) -> np.ndarray:
    """`values` of the entries, repeated by their counts, class by class
    (within a class, batch by batch)."""
    by_class = np.argsort(owners, kind="stable")
    return np.repeat(values[by_class], counts[by_class])


def per_class(
    classes: np.ndarray,
    sources: np.ndarray,
    m: int,
    batch: int,
    draw: np.random.Generator | None,
) -> np.ndarray:
    """The positions of a rank's epoch in batches of `batch // m` groups of
    `m` copies of one class.

    A class of T_c copies makes g = T_c // m groups. Its other `T_c mod m`
    copies go to the tail (`_dealt`: taken one at a time from the sample with
    the most copies left); the rest, listed sample by sample (samples in the
    epoch's order of their first copies), are dealt out to the g groups in
    turn, so the copies of one sample land in different groups while it has
    at most g of them: a group is m distinct samples whenever the class has
    at least m samples and its copies are within one per sample (a whole
    epoch's always are). The quota spreads each class's groups over the
    batches (at most one group of a class in a batch while its groups are at
    most m / batch of all the groups); inside a batch the groups keep the
    epoch's order of their first copies. After the last batch of whole
    groups comes the tail: the groups that do not fill a batch, then each
    class's tail copies, class by class.

    Args:
        classes: the class code of each position (`classes_of`), shape (L,).
        sources: the source index of each position, shape (L,).
        m: copies of a class in a group.
        batch: the batch size, a multiple of m.
        draw: breaks ties between classes (`ties`).

    Returns:
        order (L,) int64: the batched epoch is `epoch[order]`.
    """
    size = classes.size
    major, tail = _dealt(classes, sources, m)
    rest = tail[np.argsort(classes[tail], kind="stable")]
    count = np.bincount(classes) // m
    present = np.flatnonzero(count)
    if not present.size:
        return rest
    count = count[present]
    # NOTE: copy i of a class's dealt list goes to its group i mod g, place
    # i // g; the groups are then rows of one (groups, m) table.
    dealt = count * m
    inside = np.arange(major.size) - np.repeat(np.cumsum(dealt) - dealt, dealt)
    width = np.repeat(count, dealt)
    row = np.repeat(np.cumsum(count) - count, dealt) + inside % width
    members = np.empty((int(count.sum()), m), np.int64)
    members[row, inside // width] = major
    members.sort(axis=1)  # a group keeps the epoch's order
    numbers, owners, quota = batch_entries(count, batch // m, draw)
    group_batch = _class_major(owners, quota, numbers)
    chosen = np.argsort(group_batch * size + members[:, 0], kind="stable")
    return np.concatenate([members[chosen].ravel(), rest])


def _dealt(
    classes: np.ndarray, sources: np.ndarray, m: int
) -> tuple[np.ndarray, np.ndarray]:
    """The copies to deal into groups, sample by sample (samples in the
    epoch's order of their first copies, class by class), and the positions
    left to the tail: `T_c mod m` copies of each class, taken one at a time
    from the sample that has the most copies left (its latest copy), so that
    what is dealt is as even over the samples as it can be."""
    size = classes.size
    by_source = np.argsort(sources, kind="stable")
    new = np.ones(size, bool)
    new[1:] = sources[by_source[1:]] != sources[by_source[:-1]]
    owner = np.cumsum(new) - 1
    first = np.flatnonzero(new)
    earliest, copy = np.empty(size, np.int64), np.empty(size, np.int64)
    earliest[by_source] = by_source[first][owner]
    copy[by_source] = np.arange(size) - first[owner]  # j-th copy of its sample
    # NOTE: taking copies from the sample with the most left, one at a time,
    # takes them in descending copy number (the earliest sample first among
    # equals): the j-th copy goes when its sample is down to j + 1.
    ranked = np.lexsort((earliest, -copy, classes))
    totals = np.bincount(classes)
    place = np.arange(size) - np.repeat(np.cumsum(totals) - totals, totals)
    tail = ranked[place < (totals % m)[classes[ranked]]]
    keep = np.ones(size, bool)
    keep[tail] = False
    major = np.lexsort((np.arange(size), earliest, classes))
    return major[keep[major]], tail
