"""One epoch of a Sampler: the plan's copies, padded or dropped so that every
rank gets the same length, and the order that lays them out."""

from __future__ import annotations

import numpy as np

from oversample.core import rule as _rule
from oversample.core import seeding as _seeding
from oversample.core.plan import Plan
from oversample.index import order as _order


def build(
    plan: Plan, epoch: int, shuffle: bool, replicas: int, drop_last: bool
) -> tuple[_order.EpochOrder, int]:
    """The epoch's order and the copies added (> 0) or dropped (< 0)."""
    layout: _order.ClassLayout | _order.SampleLayout
    if plan.kind == "classes" and plan.rounding == "exact":
        rule = plan.class_rule.at(epoch)
        members = plan.members
        base, extra = rule.base.copy(), rule.extras.copy()
        change = _change(int(rule.targets.sum()), replicas, drop_last)
        _adjust_classes(rule.counts, base, extra, change)
        if shuffle:
            layout = _order.ClassLayout.build(rule, members, base, extra)
        else:
            copies = _rule.exact_copies(rule, members, base, extra)
            layout = _order.SampleLayout(np.cumsum(copies))
    else:
        copies = plan.copies(epoch)
        change = _change(int(copies.sum()), replicas, drop_last)
        _adjust_samples(copies, change, plan.seed, epoch)
        layout = _order.SampleLayout(np.cumsum(copies))
    feistel = _order.Feistel.keyed(layout.total, plan.seed, epoch, shuffle)
    return _order.EpochOrder(feistel, layout), change


def _change(total: int, replicas: int, drop_last: bool) -> int:
    """Copies to add (> 0) or drop (< 0) so that every rank gets one length."""
    remainder = total % replicas
    if not remainder:
        return 0
    return -remainder if drop_last else replicas - remainder


def _adjust_classes(
    size: np.ndarray, base: np.ndarray, extra: np.ndarray, change: int
) -> None:
    """One copy more (or less) for `change` classes, largest classes first."""
    totals = base * size + extra
    order = np.lexsort((np.arange(size.size), -totals))
    if change < 0:
        keeps_everyone = totals > size
        order = np.concatenate(
            [order[keeps_everyone[order]], order[~keeps_everyone[order]]]
        )
    turn = 0
    for _ in range(abs(change)):
        c = order[turn % order.size]
        # NOTE: a class with no copy left has none to drop (it went to -1 copies
        # when more replicas than classes dropped more than one copy each)
        while change < 0 and base[c] * size[c] + extra[c] == 0:
            turn += 1
            c = order[turn % order.size]
        turn += 1
        if change > 0:
            extra[c] += 1
            if extra[c] == size[c]:
                base[c], extra[c] = base[c] + 1, 0
        elif extra[c] > 0:
            extra[c] -= 1
        else:
            base[c], extra[c] = base[c] - 1, size[c] - 1


def _adjust_samples(copies: np.ndarray, change: int, seed: int, epoch: int) -> None:
    """Pads or drops single copies of seeded random samples."""
    if not change:
        return
    choose = _seeding.rng(seed, "sampler-adjust", epoch)
    if change > 0:
        chosen = choose.choice(copies.size, size=change, replace=change > copies.size)
        np.add.at(copies, chosen, 1)
        return
    spare = np.flatnonzero(copies > 1)
    pool = spare if spare.size >= -change else np.flatnonzero(copies > 0)
    chosen = choose.choice(pool, size=-change, replace=False)
    copies[chosen] -= 1
