"""The Sampler's epoch order: the compiled loops (numba, the `fast` extra)
against the NumPy reference, index by index, on every path."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import oversample as ovs
from oversample.index import order as _order
from oversample.index import sampler

needs_numba = pytest.mark.skipif(
    importlib.util.find_spec("numba") is None, reason="numba (the fast extra)"
)


def _both(make, monkeypatch):
    """What `make()` returns with the compiled loops and with NumPy alone."""
    monkeypatch.setattr(_order, "use_kernels", True)
    compiled = make()
    monkeypatch.setattr(_order, "use_kernels", False)
    return compiled, make()


def _plans():
    labels = np.random.default_rng(3).permutation(
        np.repeat(np.arange(7), [300, 120, 45, 17, 6, 2, 1])
    )
    weights = np.random.default_rng(4).uniform(1, 6, 400)
    return {
        "classes": ovs.plan(labels, seed=11),
        "sqrt": ovs.plan(labels, "sqrt", seed=12),
        "stochastic": ovs.plan(labels, seed=13, rounding="stochastic"),
        "weights": ovs.plan(weights=weights, seed=14),
    }


def _views(plan, shuffle, replicas, rank, drop_last, epoch):
    def make():
        s = ovs.Sampler(
            plan, shuffle, num_replicas=replicas, rank=rank, drop_last=drop_last
        )
        s.set_epoch(epoch)
        picks = list(range(0, len(s), 7))
        return (
            s.indices().tolist(),
            list(s),
            [s[i] for i in picks],
            s._getitems(picks),
            [s[-i - 1] for i in range(min(3, len(s)))],
        )

    return make


@needs_numba
@pytest.mark.parametrize("kind", ["classes", "sqrt", "stochastic", "weights"])
@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize(("replicas", "rank"), [(1, 0), (2, 1), (3, 0), (5, 4), (6, 2)])
def test_compiled_loops_equal_the_numpy_reference(
    kind, shuffle, replicas, rank, monkeypatch
):
    make = _views(_plans()[kind], shuffle, replicas, rank, False, epoch=3)
    compiled, reference = _both(make, monkeypatch)
    assert compiled == reference
    whole, iterated, picked, batched, tail = compiled
    assert iterated == whole
    assert picked == batched == whole[::7]
    assert tail == whole[::-1][: len(tail)]


@needs_numba
@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 60), min_size=1, max_size=12),
    seed=st.integers(0, 2**64 - 1),
    epoch=st.integers(0, 50),
    replicas=st.integers(1, 6),
    drop_last=st.booleans(),
)
def test_compiled_loops_equal_the_reference_on_random_plans(
    sizes, seed, epoch, replicas, drop_last
):
    labels = np.repeat(np.arange(len(sizes)), sizes)
    if len(sizes) == 1:
        labels = np.append(labels, 99)
    plan = ovs.plan(labels, seed=seed)
    make = _views(plan, True, replicas, replicas - 1, drop_last, epoch)
    with pytest.MonkeyPatch.context() as patch:
        compiled, reference = _both(make, patch)
    assert compiled == reference


@needs_numba
def test_the_threaded_fill_writes_every_slot_once(monkeypatch):
    labels = np.random.default_rng(0).permutation(
        np.repeat(np.arange(50), np.linspace(10_000, 100, 50).astype(int))
    )
    plan = ovs.plan(labels, seed=2)
    assert plan.total >= _order.THREADED

    def make():
        return ovs.Sampler(plan).indices()

    compiled, reference = _both(make, monkeypatch)
    assert np.array_equal(compiled, reference)
    counted = np.bincount(compiled, minlength=labels.size)
    assert counted.tolist() == plan.copies(0).tolist()


def _long_plans():
    """Plans whose epochs span several of the compiled windows' blocks."""
    labels = np.random.default_rng(5).permutation(
        np.repeat(np.arange(6), [27000, 7500, 2100, 270, 27, 3])
    )
    sizes, rates = {"a": 20000, "b": 4000, "c": 75}, {"a": 0.7, "b": 2.5, "c": 40.0}
    weights = np.random.default_rng(6).uniform(1, 4, 18000)
    thinned = np.random.default_rng(7).uniform(0.01, 1, 60000)  # most get none
    return {
        "classes": ovs.plan(labels, "sqrt", seed=21),
        "mixture": ovs.mix_plan(sizes, rates, seed=22),
        "weights": ovs.plan(weights=weights, seed=23),
        "thinned weights": ovs.plan(weights=thinned, thin=True, seed=24),
    }


@needs_numba
@pytest.mark.parametrize("kind", ["classes", "mixture", "weights", "thinned weights"])
@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize(("replicas", "rank"), [(1, 0), (3, 2)])
def test_windows_across_blocks_equal_the_numpy_reference(
    kind, shuffle, replicas, rank, monkeypatch
):
    plan = _long_plans()[kind]
    s = ovs.Sampler(plan, shuffle, num_replicas=replicas, rank=rank)
    assert len(s) > 2 * kernels().BLOCK
    bounds = [(0, len(s)), (1, 2), (7, 4100), (4095, 4098), (5, 9000), (5, len(s) - 3)]

    def make():
        windows = ovs.Sampler(plan, shuffle, num_replicas=replicas, rank=rank)
        return [windows.indices(a, b).tolist() for a, b in bounds]

    compiled, reference = _both(make, monkeypatch)
    assert compiled == reference
    whole = compiled[0]
    for (a, b), window in zip(bounds, compiled, strict=True):
        assert window == whole[a:b]


@needs_numba
@pytest.mark.parametrize(("replicas", "rank"), [(1, 0), (2, 1)])
def test_windows_where_a_bucket_spans_several_classes_equal_the_reference(
    replicas, rank, monkeypatch
):
    """Classes of a few slots inside one bucket of the class table: the class
    is found by a search, not a single step."""
    labels = np.random.default_rng(8).permutation(
        np.concatenate([np.zeros(150_000, int), np.arange(1, 41)])
    )
    target = {0: 150_000, **{k: 1 + k % 3 for k in range(1, 41)}}
    plan = ovs.plan(labels, target, seed=9)
    s = ovs.Sampler(plan, num_replicas=replicas, rank=rank)
    s[0]
    _, kind, data, _ = s._order_now()._packed
    assert (kind, int(data[7])) == ("class", 0)  # the head's `near`
    bounds = [(0, len(s)), (3, 9000), (len(s) - 5000, len(s))]

    def make():
        windows = ovs.Sampler(plan, num_replicas=replicas, rank=rank)
        return [windows.indices(a, b).tolist() for a, b in bounds]

    compiled, reference = _both(make, monkeypatch)
    assert compiled == reference


@needs_numba
@pytest.mark.parametrize("kind", ["classes", "mixture"])
def test_the_long_plans_take_the_single_step_class_lookup(kind):
    s = ovs.Sampler(_long_plans()[kind])
    s[0]
    assert int(s._order_now()._packed[2][7]) == 1  # the head's `near`


@needs_numba
def test_the_integer_layout_equals_the_float_one(monkeypatch):
    """Past 2**52 (a class of more than 2**26 samples) the windows take the
    layout in integer arithmetic; forced here on a small plan, it agrees."""
    compiled = kernels()
    pack = compiled.pack

    def integer_only(*args):
        data = pack(*args)
        data[6] = 0  # the head's `exact`
        return data

    plan = _long_plans()["classes"]
    fast = ovs.Sampler(plan, num_replicas=2, rank=1).indices(3, 9000)
    monkeypatch.setattr(compiled, "pack", integer_only)
    slow = ovs.Sampler(plan, num_replicas=2, rank=1).indices(3, 9000)
    assert np.array_equal(fast, slow)
    monkeypatch.setattr(_order, "use_kernels", False)
    reference = ovs.Sampler(plan, num_replicas=2, rank=1).indices(3, 9000)
    assert np.array_equal(slow, reference)


@needs_numba
@settings(max_examples=300, deadline=None)
@given(
    divisor=st.integers(1, 2**52 - 1),
    share=st.floats(0, 1),
    nudge=st.integers(-2, 2),
)
@example(divisor=1, share=1.0, nudge=0)
@example(divisor=2**52 - 1, share=1.0, nudge=0)
@example(divisor=3, share=1.0, nudge=-1)
@example(divisor=2**26, share=1.0, nudge=-1)
def test_the_float_division_of_the_layout_is_exact(divisor, share, nudge):
    quotient = int(share * ((2**52 - 1) // divisor))
    a = min(max(quotient * divisor + nudge, 0), 2**52 - 1)
    assert kernels()._floor_div(a, divisor) == a // divisor


@needs_numba
@pytest.mark.parametrize(
    ("plan", "shuffle"),
    [
        (ovs.plan([0, 1], {0: 2**60, 1: 2**60 + 5}, seed=3), False),
        (
            ovs.mix_plan({"a": 1, "b": 1}, samples={"a": 2**60, "b": 2**60}, seed=3),
            False,
        ),
        (ovs.plan([0, 1], {0: 2**61, 1: 2**61}, seed=3, rounding="stochastic"), True),
    ],
    ids=["labels", "mixture", "stochastic"],
)
def test_samples_of_2_60_copies_are_found_as_the_reference_finds_them(
    plan, shuffle, monkeypatch
):
    """A per-sample layout's table of marks near 2**63: no mark wraps, no
    shift reaches 64 (found by a review: wrong samples, and a crash)."""

    def make():
        s = ovs.Sampler(plan, shuffle)
        ends = [0, 2**60 + 7, len(s) - 1]
        return [s[i] for i in ends], s.indices(len(s) - 5000, len(s)).tolist()

    compiled, reference = _both(make, monkeypatch)
    assert compiled == reference


def kernels():
    from oversample.index import kernels as compiled

    return compiled


@pytest.mark.parametrize("use_kernels", [None, False])
def test_a_long_epoch_is_iterated_piece_by_piece(use_kernels, monkeypatch):
    monkeypatch.setattr(_order, "use_kernels", use_kernels)
    plan = _plans()["classes"]
    whole = ovs.Sampler(plan, num_replicas=2, rank=1).indices().tolist()
    monkeypatch.setattr(sampler, "_WHOLE_EPOCH", 100)
    monkeypatch.setattr(sampler, "_BLOCK", 100)
    monkeypatch.setattr(sampler, "_PIECE", 16)
    s = ovs.Sampler(plan, num_replicas=2, rank=1)
    assert list(s) == whole
    iterator = iter(s)
    head = [next(iterator) for _ in range(250)]
    state = s.state_dict()
    again = ovs.Sampler(plan, num_replicas=2, rank=1)
    again.load_state_dict(state)
    assert head + list(again) == whole


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 1000, 4097, 65536, 65537])
@pytest.mark.parametrize("shuffle", [True, False])
def test_the_permutation_is_a_bijection_at_edge_sizes(size, shuffle):
    feistel = _order.Feistel.keyed(size, 5, 1, shuffle)
    out = feistel(np.arange(size))
    assert np.array_equal(np.sort(out), np.arange(size))
    if not shuffle:
        assert np.array_equal(out, np.arange(size))


def test_the_permutation_keeps_the_shape_of_its_input():
    feistel = _order.Feistel.keyed(1000, 5, 1, True)
    whole = feistel(np.arange(1000))
    assert feistel(np.array(7)).shape == ()
    assert int(feistel(np.array(7))) == whole[7]
    grid = np.arange(1000).reshape(40, 25)
    assert np.array_equal(feistel(grid), whole.reshape(40, 25))


def test_an_empty_rank_split_yields_nothing():
    plan = ovs.plan([0, 0, 1], seed=0)  # 4 copies in all
    s = ovs.Sampler(plan, num_replicas=5, rank=4, drop_last=True)
    assert len(s) == 0
    assert list(s) == [] and s.indices().tolist() == []
