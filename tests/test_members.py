"""The plan's members and codes are built a chunk at a time (no sort of every
sample, no int64 copy of the labels): they equal what a stable argsort and a
np.unique encoding give, across chunk boundaries and label dtypes. A mixture
plan holds each source as a range of the samples: nothing per sample."""

import numpy as np
import pytest

import oversample as ovs
from oversample.core import labels as _labels
from oversample.core import rule as _rule
from oversample.index import order as _order


@pytest.mark.parametrize("chunk", [1, 7, 64, 1 << 18])
@pytest.mark.parametrize("classes", [1, 3, 300])
def test_members_group_the_samples_as_a_stable_sort_does(monkeypatch, chunk, classes):
    monkeypatch.setattr(_rule, "GROUP_CHUNK", chunk)
    rng = np.random.default_rng(classes)
    codes = rng.integers(0, classes, 1000).astype(np.uint16)
    counts = np.bincount(codes, minlength=classes)
    members = _rule.Members.of(codes, counts)
    assert members.order.dtype == np.uint32
    np.testing.assert_array_equal(members.order, np.argsort(codes, kind="stable"))
    occurrence = members.occurrences
    for c in range(classes):
        np.testing.assert_array_equal(occurrence[codes == c], np.arange(int(counts[c])))


@pytest.mark.parametrize("chunk", [1, 5, 1 << 20])
@pytest.mark.parametrize(
    "labels",
    [
        np.array([7, -3, 7, 7, 0, -3, 12], np.int64),
        np.array([2**64 - 1, 2**64 - 5, 2**64 - 1], np.uint64),
        np.array([3, 1, 3, 3, 2], np.int8),
        np.repeat(np.arange(40, dtype=np.int32), np.arange(1, 41))[::-1].copy(),
    ],
)
def test_labels_are_encoded_a_chunk_at_a_time_as_unique_would(
    monkeypatch, chunk, labels
):
    monkeypatch.setattr(_labels, "_CHUNK", chunk)
    found = _labels.encode_labels(labels)
    values, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    assert list(found.classes) == values.tolist()
    np.testing.assert_array_equal(found.codes, inverse.reshape(-1))
    np.testing.assert_array_equal(found.counts, counts)
    assert found.codes.dtype == _labels.code_dtype(values.size)


def test_a_sampler_built_over_chunks_is_the_one_built_whole(monkeypatch):
    labels = np.random.default_rng(3).integers(0, 50, 5000)
    whole = ovs.Sampler(ovs.plan(labels, "sqrt", seed=1)).indices()
    monkeypatch.setattr(_rule, "GROUP_CHUNK", 97)
    monkeypatch.setattr(_labels, "_CHUNK", 101)
    chunked = ovs.Sampler(ovs.plan(labels, "sqrt", seed=1))
    np.testing.assert_array_equal(chunked.indices(), whole)


# A mixture plan: each source a range of the samples, nothing per sample.

SIZES = {"web": 2000, "books": 37, "code": 5, "arxiv": 1000, "wiki": 11}
RATES = ovs.Schedule(
    {
        0: {"web": 0.7, "books": 3, "code": 0.4, "arxiv": 1.5, "wiki": 1},
        2: {"web": 0.3, "books": 1, "code": 2, "arxiv": 1, "wiki": 5},
    }
)


@pytest.mark.parametrize("kernels", [False, None], ids=["numpy", "default"])
@pytest.mark.parametrize("replicas", [1, 3])
def test_a_mixture_sampler_over_source_ranges_gives_the_plans_copies(
    monkeypatch, kernels, replicas
):
    monkeypatch.setattr(_order, "use_kernels", kernels)
    plan = ovs.mix_plan(SIZES, RATES, seed=3)
    assert plan.members.order is None, "a mixture plan holds nothing per sample"
    offsets = np.cumsum([0, *SIZES.values()])[:-1]
    for name, start in zip(SIZES, offsets, strict=True):
        assert plan.members.starts[plan.classes.index(name)] == start
    for epoch in range(4):
        union = np.zeros(plan.num_samples, np.int64)
        for rank in range(replicas):
            sampler = ovs.Sampler(plan, num_replicas=replicas, rank=rank)
            sampler.set_epoch(epoch)
            every = sampler.indices()
            assert every[7:301].tolist() == sampler.indices(7, 301).tolist()
            some = range(0, every.size, 53)
            assert [sampler[i] for i in some] == every[::53].tolist()
            union += np.bincount(every, minlength=plan.num_samples)
        copies = plan.copies(epoch)
        padded = union - copies
        assert (padded >= 0).all() and padded.sum() < replicas, epoch
        codes = plan.members.codes
        for c, name in enumerate(plan.classes):
            inside = np.flatnonzero(codes == c)
            assert inside[0] == plan.members.starts[c]
            assert inside.size == SIZES[name] and np.all(np.diff(inside) == 1)


def test_a_mixture_plan_of_ten_billion_samples_is_planned_by_its_sources():
    sizes = {f"s{i:04d}": 10_000_000 for i in range(1000)}
    rates = {name: 0.5 + (i % 7) / 4 for i, name in enumerate(sizes)}
    plan = ovs.mix_plan(sizes, rates, seed=0)
    assert plan.num_samples == 10**10
    sampler = ovs.Sampler(plan)
    window = sampler.indices(len(sampler) - 10_000, len(sampler))
    assert window.min() >= 0 and window.max() < 10**10
    # NOTE: each index lies in a source's range, the source given by the plan.
    source = np.searchsorted(plan.members.starts, window, side="right") - 1
    assert (window - plan.members.starts[source] < 10_000_000).all()
    assert sampler[len(sampler) - 1] == window[-1]


def test_a_mixture_state_saved_when_plans_held_each_samples_source_is_refused():
    # NOTE: a Sampler's state_dict written by oversample at f5ef4c4 for this plan.
    saved = {
        "version": 2,
        "rule": 2,
        "plan": "821063ecf603b25839dffcf64743cc50",
        "history": {
            "base": "21d176fa4325412511231d04c39c7385",
            "phases": [[0, "60cb07fcc9f67067"]],
        },
        "seed": 3,
        "num_replicas": 1,
        "rank": 0,
        "shuffle": True,
        "drop_last": False,
        "copy_seeds": False,
        "epoch": 0,
        "position": 5,
    }
    plan = ovs.mix_plan({"a": 100, "b": 30}, {"a": 1, "b": 2}, seed=3)
    sampler = ovs.Sampler(plan)
    with pytest.raises(ValueError, match="as an earlier oversample held it"):
        sampler.load_state_dict(saved)
    sampler.load_state_dict(ovs.Sampler(plan).state_dict())  # its own state restores


def test_batches_by_source_of_a_mixture_build_nothing_per_sample():
    plan = ovs.mix_plan(SIZES, RATES, seed=5)
    sampler = ovs.Sampler(plan)
    sampler.set_epoch(1)
    batches = list(ovs.BatchSampler(sampler, 64, stratified=True))
    assert "codes" not in vars(plan.members), "no per-sample codes were built"
    flat = np.concatenate(batches)
    assert np.sort(flat).tolist() == np.sort(sampler.indices()).tolist()
    sources = plan.members.classes_of(flat)
    assert sources.tolist() == plan.members.codes[flat].tolist()


@pytest.mark.parametrize("replicas", [1, 2])
def test_a_mixture_epoch_taken_on_threads_is_the_reference_order(monkeypatch, replicas):
    sizes = {"a": 600_000, "b": 90_000, "c": 7}
    plan = ovs.mix_plan(sizes, {"a": 1.2, "b": 0.5, "c": 30}, seed=4)
    found = {}
    for kernels in (False, None):
        monkeypatch.setattr(_order, "use_kernels", kernels)
        sampler = ovs.Sampler(plan, num_replicas=replicas, rank=replicas - 1)
        sampler.set_epoch(2)
        found[kernels] = sampler.indices()
    assert found[None].size > _order.THREADED, "the threaded path is taken"
    assert found[None].tolist() == found[False].tolist()
