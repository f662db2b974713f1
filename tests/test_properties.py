"""Hypothesis properties of the plan over hundreds of random label sets."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import oversample as ovs

STRATEGIES = [
    "not majority",
    "all",
    "minority",
    "not minority",
    "sqrt",
    ovs.Power(0.3),
    ovs.RepeatFactor(0.5),
]

labels_st = st.lists(st.integers(-3, 8), min_size=2, max_size=120).filter(
    lambda ls: len(set(ls)) > 1
)


def _check_epoch(labels, p, epoch):
    labels = np.asarray(labels)
    copies = p.copies(epoch)
    assert copies.shape == labels.shape and copies.dtype == np.int64
    assert copies.min() >= 1, "every sample appears at least once"
    for label in p.classes:
        mine = copies[labels == label]
        n, target = mine.size, p.targets[label]
        base = target // n
        assert set(mine.tolist()) <= {base, base + 1}
        if p.rounding == "exact":
            assert mine.sum() == target
    if p.rounding == "exact":
        assert copies.sum() == p.total
    indices = p.indices(epoch)
    assert np.bincount(indices, minlength=labels.size).tolist() == copies.tolist()


@settings(max_examples=300, deadline=None)
@given(
    labels=labels_st,
    strategy=st.sampled_from(STRATEGIES),
    rounding=st.sampled_from(["exact", "stochastic"]),
    seed=st.integers(0, 2**64 - 1),
    epoch=st.integers(0, 2**40),
)
def test_copies_match_targets_in_every_epoch(labels, strategy, rounding, seed, epoch):
    p = ovs.plan(labels, strategy, seed=seed, rounding=rounding)
    _check_epoch(labels, p, epoch)


@settings(max_examples=150, deadline=None)
@given(
    labels=labels_st,
    strategy=st.sampled_from(STRATEGIES),
    seed=st.integers(0, 2**32),
    epochs=st.integers(1, 20),
)
def test_exact_rounding_is_fair_over_epochs(labels, strategy, seed, epochs):
    labels = np.asarray(labels)
    p = ovs.plan(labels, strategy, seed=seed)
    total = sum(p.copies(e) for e in range(epochs))
    for label in p.classes:
        mine = total[labels == label]
        assert mine.max() - mine.min() <= 1


@settings(max_examples=100, deadline=None)
@given(labels=labels_st, seed=st.integers(0, 2**32))
def test_another_seed_keeps_class_totals(labels, seed):
    labels = np.asarray(labels)
    a, b = ovs.plan(labels, seed=seed), ovs.plan(labels, seed=seed + 1)
    for label in a.classes:
        mask = labels == label
        assert a.copies(0)[mask].sum() == b.copies(0)[mask].sum()


def test_another_seed_gives_another_order():
    labels = np.repeat(np.arange(5), [50, 20, 10, 5, 2])
    a, b = ovs.plan(labels, seed=1), ovs.plan(labels, seed=2)
    assert not np.array_equal(a.indices(0), b.indices(0))
    assert not np.array_equal(a.copies(0), b.copies(0))
    assert np.array_equal(np.sort(a.indices(0)) >= 0, np.sort(b.indices(0)) >= 0)


@settings(max_examples=150, deadline=None)
@given(
    weights=st.lists(st.floats(1, 9, allow_nan=False), min_size=1, max_size=80),
    seed=st.integers(0, 2**64 - 1),
    epoch=st.integers(0, 10**6),
    rounding=st.sampled_from(["exact", "stochastic"]),
)
def test_weights_give_floor_or_ceil_and_exact_total(weights, seed, epoch, rounding):
    w = np.asarray(weights)
    p = ovs.plan(weights=w, seed=seed, rounding=rounding)
    copies = p.copies(epoch)
    fixed = np.rint(w * 2**32) / 2**32
    assert np.all((copies == np.floor(fixed)) | (copies == np.ceil(fixed)))
    if rounding == "exact":
        assert copies.sum() == p.total == int(np.floor(fixed.sum() + 0.5))


def test_stochastic_rounding_hits_targets_on_average():
    labels = np.repeat(np.arange(3), [300, 70, 11])
    p = ovs.plan(labels, seed=9, rounding="stochastic")
    mean = np.mean([p.copies(e)[labels == 2].sum() for e in range(400)])
    assert abs(mean - 300) < 6
