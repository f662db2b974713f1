from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import oversample as ovs
from oversample.index import order as _order
from oversample.index.order import Feistel


@pytest.fixture(autouse=True, params=["auto", "numpy"])
def backend(request, monkeypatch):
    """Every test runs with the compiled loops (when installed) and NumPy alone."""
    monkeypatch.setattr(
        _order, "use_kernels", None if request.param == "auto" else False
    )


def _plan(seed=4, **kwargs):
    labels = np.random.default_rng(0).permutation(
        np.repeat(np.arange(6), [40, 25, 13, 7, 3, 1])
    )
    return labels, ovs.plan(labels, seed=seed, **kwargs)


def _counts(indices, size):
    return np.bincount(np.asarray(list(indices), np.int64), minlength=size)


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize(
    "kwargs", [{}, {"strategy": "sqrt"}, {"rounding": "stochastic"}]
)
def test_each_epoch_yields_exactly_the_plans_copies(shuffle, kwargs):
    labels, plan = _plan(**kwargs)
    sampler = ovs.Sampler(plan, shuffle=shuffle)
    for epoch in range(4):
        sampler.set_epoch(epoch)
        indices = list(sampler)
        assert all(type(i) is int for i in indices)
        assert len(indices) == len(sampler)
        assert _counts(indices, labels.size).tolist() == plan.copies(epoch).tolist()


def test_weights_plan():
    plan = ovs.plan(weights=[1.0, 2.5, 1.25, 4.0], seed=1)
    sampler = ovs.Sampler(plan)
    assert _counts(sampler, 4).tolist() == plan.copies(0).tolist()


def test_unshuffled_order_is_source_order_with_copies_adjacent():
    _, plan = _plan()
    assert (
        list(ovs.Sampler(plan, shuffle=False))
        == plan.indices(0, shuffle=False).tolist()
    )


def test_order_changes_with_epoch_and_seed_but_not_between_runs():
    _, plan = _plan()
    a = ovs.Sampler(plan)
    first = list(a)
    assert list(a) == first
    a.set_epoch(1)
    assert list(a) != first
    _, other = _plan(seed=5)
    assert list(ovs.Sampler(other)) != first


def test_random_access_matches_iteration():
    _, plan = _plan()
    sampler = ovs.Sampler(plan, num_replicas=3, rank=1)
    sampler.set_epoch(2)
    assert [sampler[i] for i in range(len(sampler))] == list(sampler)
    assert sampler[-1] == list(sampler)[-1]
    with pytest.raises(IndexError, match=r"out of range"):
        sampler[len(sampler)]


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(1, 5000), seed=st.integers(0, 2**64 - 1), epoch=st.integers(0, 99)
)
def test_the_permutation_is_a_bijection(size, seed, epoch):
    out = Feistel.keyed(size, seed, epoch, shuffle=True)(np.arange(size))
    assert np.array_equal(np.sort(out), np.arange(size))


def test_copies_of_a_sample_are_spread_like_a_uniform_shuffle():
    labels = np.repeat([0, 1], [2000, 20])  # class 1: 100 copies per sample
    plan = ovs.plan(labels, seed=0)
    order = np.asarray(list(ovs.Sampler(plan)))
    rng = np.random.default_rng(0)
    reference = rng.permutation(plan.indices(0, shuffle=False))

    def shared_batches(seq):
        batches = seq[: seq.size // 256 * 256].reshape(-1, 256)
        return np.mean([np.unique(b).size < b.size for b in batches])

    ours, uniform = shared_batches(order), shared_batches(reference)
    assert abs(ours - uniform) < 0.1, (ours, uniform)


@pytest.mark.parametrize("replicas", [2, 3, 7])
@pytest.mark.parametrize("drop_last", [False, True])
def test_ranks_are_disjoint_equal_and_adjusted_per_class(replicas, drop_last):
    labels, plan = _plan()
    parts = [
        ovs.Sampler(plan, num_replicas=replicas, rank=r, drop_last=drop_last)
        for r in range(replicas)
    ]
    lengths = {len(p) for p in parts}
    assert len(lengths) == 1
    union = np.concatenate([np.fromiter(p, np.int64) for p in parts])
    counted = _counts(union, labels.size)
    difference = counted - plan.copies(0)
    changed = parts[0].num_padded - parts[0].num_dropped
    assert difference.sum() == changed == union.size - plan.total
    assert counted.min() >= 1, "nothing lost"
    per_class = np.bincount(labels, weights=difference, minlength=6)
    assert np.abs(per_class).max() <= 1, "at most one copy more or less per class"
    if plan.total % replicas == 0:
        assert difference.tolist() == [0] * labels.size


@pytest.mark.parametrize("replicas", [6, 7])
def test_dropping_more_copies_than_classes_have_left_skips_the_empty_ones(replicas):
    """drop_last takes a copy from each class in turn; a class with none left
    is skipped (it went to -1 copies, a layout whose slots ran backwards)."""
    labels = np.array([0] * 10 + [1])
    plan = ovs.plan(labels, {0: 10, 1: 1}, seed=0)
    parts = [
        ovs.Sampler(plan, num_replicas=replicas, rank=r, drop_last=True)
        for r in range(replicas)
    ]
    union = np.concatenate([p.indices() for p in parts])
    assert union.size == plan.total // replicas * replicas
    assert (np.bincount(union, minlength=labels.size) <= plan.copies(0)).all()
    starts = parts[0]._order_now().layout.starts
    assert (np.diff(starts) >= 0).all(), starts


def test_every_rank_computes_the_same_split_independently():
    _, plan = _plan()
    a = [list(ovs.Sampler(plan, num_replicas=3, rank=r)) for r in range(3)]
    b = [
        list(ovs.Sampler(ovs.Plan.from_json(plan.to_json()), num_replicas=3, rank=r))
        for r in range(3)
    ]
    assert a == b


@pytest.mark.parametrize("consumed", [0, 1, 57, 239, 240])
def test_resume_mid_epoch_yields_exactly_the_rest(consumed):
    _, plan = _plan()
    sampler = ovs.Sampler(plan)
    sampler.set_epoch(3)
    iterator = iter(sampler)
    head = [next(iterator) for _ in range(consumed)]
    state = json.loads(json.dumps(sampler.state_dict()))
    assert len(json.dumps(state)) <= 1024
    rest = list(iterator)
    fresh = ovs.Sampler(ovs.Plan.from_json(plan.to_json()))
    fresh.load_state_dict(state)
    assert list(fresh) == rest
    assert head + rest == list(fresh)


def test_state_stays_small_for_a_large_plan():
    plan = ovs.plan(np.arange(1_000_000) % 1000, seed=0)
    sampler = ovs.Sampler(plan)
    assert len(json.dumps(sampler.state_dict())) <= 1024


def test_state_from_another_configuration_is_refused():
    _, plan = _plan()
    state = ovs.Sampler(plan, num_replicas=2, rank=0).state_dict()
    with pytest.raises(ValueError, match=r"rank: saved 0, here 1"):
        ovs.Sampler(plan, num_replicas=2, rank=1).load_state_dict(state)
    _, other = _plan(seed=9)
    with pytest.raises(ValueError, match=r"another configuration.*seed: saved 4"):
        ovs.Sampler(other, num_replicas=2).load_state_dict(state)
    labels, _ = _plan()
    thinned = ovs.plan(labels, "mean", seed=4, thin=True)
    with pytest.raises(ValueError, match=r"differ from this plan's from epoch 0"):
        ovs.Sampler(thinned, num_replicas=2).load_state_dict(state)
    with pytest.raises(ValueError, match=r"not a Sampler state"):
        ovs.Sampler(plan).load_state_dict({"epoch": 1})


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"num_replicas": 0}, ValueError, "`num_replicas` must be an int >= 1"),
        ({"num_replicas": True}, TypeError, "got num_replicas=True of type bool"),
        (
            {"rank": 2, "num_replicas": 2},
            ValueError,
            r"rank` must be in \[0, num_replicas=2\)",
        ),
        ({"rank": -1}, ValueError, "`rank` must be an int >= 0; got rank=-1"),
        ({"shuffle": 1}, TypeError, "`shuffle` must be a bool"),
    ],
)
def test_bad_arguments_are_refused(kwargs, error, message):
    _, plan = _plan()
    with pytest.raises(error, match=message):
        ovs.Sampler(plan, **kwargs)


def test_a_plan_without_samples_and_a_negative_epoch_are_refused():
    with pytest.raises(ValueError, match=r"knows no samples"):
        ovs.Sampler(ovs.plan(counts={0: 3, 1: 1}))
    with pytest.raises(TypeError, match=r"must be an ovs.Plan"):
        ovs.Sampler([0, 1])
    _, plan = _plan()
    with pytest.raises(ValueError, match=r"`epoch` must be an int >= 0; got epoch=-1"):
        ovs.Sampler(plan).set_epoch(-1)


def test_a_used_sampler_pickles_with_its_position():
    _, plan = _plan()
    sampler = ovs.Sampler(plan, num_replicas=2, rank=1)
    sampler.set_epoch(2)
    iterator = iter(sampler)
    head = [next(iterator) for _ in range(17)]
    copy = pickle.loads(pickle.dumps(sampler))
    assert copy[0] == sampler[0] and len(copy) == len(sampler)
    assert head + list(copy) == sampler.indices().tolist()
