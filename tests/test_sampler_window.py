"""`Sampler.indices(start, stop)`: a window of the epoch as an array, equal to
the same slice of the whole epoch in every rank split, and the bounds refused
before anything is computed."""

import numpy as np
import pytest

import oversample as ovs

LABELS = np.repeat(np.arange(5), [1000, 300, 50, 7, 1])


def windows(length: int) -> list[tuple[int, int]]:
    """Empty, short, unaligned and end-touching windows of an epoch."""
    return [(0, 0), (0, 1), (5, 17), (100, 100), (3, length // 2), (0, length),
            (length - 3, length), (length, length)]  # fmt: skip


@pytest.mark.parametrize("replicas", [1, 2, 3])
@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("shuffle", [True, False])
def test_a_window_is_the_same_slice_of_the_whole_epoch(replicas, drop_last, shuffle):
    plan = ovs.plan(LABELS, strategy=ovs.Progressive(epochs=3), seed=3)
    union = np.zeros(LABELS.size, np.int64)
    for rank in range(replicas):
        sampler = ovs.Sampler(
            plan,
            num_replicas=replicas,
            rank=rank,
            drop_last=drop_last,
            shuffle=shuffle,
        )
        sampler.set_epoch(2)
        whole = sampler.indices()
        assert whole.dtype == np.int64 and whole.size == len(sampler)
        for start, stop in windows(len(sampler)):
            got = sampler.indices(start, stop)
            np.testing.assert_array_equal(got, whole[start:stop])
            assert got.dtype == np.int64
        assert sampler.indices(start=7).tolist() == whole[7:].tolist()
        assert sampler.indices(stop=9).tolist() == whole[:9].tolist()
        # pieces of a million at a time in a loader, here of 97
        pieces = [sampler.indices(s, min(s + 97, len(sampler)))
                  for s in range(0, len(sampler), 97)]  # fmt: skip
        np.testing.assert_array_equal(np.concatenate(pieces), whole)
        union += np.bincount(whole, minlength=LABELS.size)
    if replicas == 1:
        np.testing.assert_array_equal(union, plan.copies(2))
    else:  # the documented padding or dropping, one copy per class at most
        changed = union - plan.copies(2)
        assert np.all(changed >= 0) if not drop_last else np.all(changed <= 0)


def test_a_windows_seeds_are_those_of_the_whole_epoch():
    sampler = ovs.Sampler(ovs.plan(LABELS, seed=1), copy_seeds=True)
    seeds = sampler.seeds()
    np.testing.assert_array_equal(sampler.seeds(11, 411), seeds[11:411])
    pairs = [sampler[i] for i in range(11, 20)]
    assert [int(s) for s in sampler.seeds(11, 20)] == [s for _, s in pairs]
    assert sampler.indices(11, 20).tolist() == [i for i, _ in pairs]


def test_a_window_is_the_permutation_and_leaves_the_iteration_alone():
    """Every slot of the epoch appears once over the windows (a bijection),
    and taking windows does not move a running iteration."""
    sampler = ovs.Sampler(ovs.plan(LABELS, seed=5))
    length = len(sampler)
    iterator = iter(sampler)
    head = [next(iterator) for _ in range(10)]
    whole = np.concatenate([sampler.indices(s, min(s + 1000, length))
                            for s in range(0, length, 1000)])  # fmt: skip
    rest = list(iterator)
    assert head + rest == whole.tolist()
    np.testing.assert_array_equal(
        np.bincount(whole, minlength=LABELS.size), sampler.plan.copies(0)
    )


@pytest.mark.parametrize(
    "start, stop, error, words",
    [
        (-1, None, ValueError, "got start=-1"),
        (None, -2, ValueError, "got stop=-2"),
        (None, 10**9, ValueError, "`stop` must be in [0, 5000]"),
        (5001, None, ValueError, "`start` must be in [0, 5000]"),
        (10, 5, ValueError, "got start=10, stop=5"),
        (1.0, None, TypeError, "got start=1.0 of type float"),
        (None, 2.5, TypeError, "got stop=2.5 of type float"),
        (True, None, TypeError, "got start=True of type bool"),
        (None, "3", TypeError, "got stop='3' of type str"),
    ],
)
def test_bad_windows_are_refused_naming_the_argument(start, stop, error, words):
    sampler = ovs.Sampler(ovs.plan(LABELS, seed=0))  # "auto": 5 x 1,000
    assert len(sampler) == 5000
    with pytest.raises(error, match=words.replace("[", r"\[").replace("]", r"\]")):
        sampler.indices(start, stop)
    with pytest.raises(error):
        sampler.seeds(start, stop)


def test_numpy_integers_are_positions():
    sampler = ovs.Sampler(ovs.plan(LABELS, seed=0))
    np.testing.assert_array_equal(
        sampler.indices(np.int64(4), np.uint32(9)), sampler.indices()[4:9]
    )


def test_an_epoch_near_two_to_the_63_is_random_access_and_beyond_it_refused():
    labels = np.repeat(np.arange(2), [3, 2])
    largest = 2**63 - 1
    plan = ovs.plan(labels, strategy={0: 2**62, 1: largest - 2**62})
    sampler = ovs.Sampler(plan)
    assert len(sampler) == largest
    tail = sampler.indices(largest - 1000, largest)
    assert tail.size == 1000 and set(tail.tolist()) <= set(range(5))
    assert sampler[largest - 1] == tail[-1]
    with pytest.raises(ValueError, match=r"add up to 9223372036854775808 copies"):
        ovs.plan(labels, strategy={0: 2**62, 1: 2**62})


def test_padding_past_two_to_the_63_is_refused_naming_the_ranks():
    plan = ovs.plan([0, 0, 0, 1], strategy={0: 2**62, 1: 2**62 - 1})
    assert len(ovs.Sampler(plan, num_replicas=3, rank=2, drop_last=True)) > 0
    with pytest.raises(ValueError, match=r"`num_replicas`=3 pads an epoch of"):
        ovs.Sampler(plan, num_replicas=3, rank=2)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: ovs.plan(counts={0: 1}, strategy={0: 2**63}, seed=0),
            r"target 9223372036854775808 for class 0 is above 2\*\*63 - 1",
        ),
        (
            lambda: ovs.mix_plan({"a": 10**9}, {"a": 10**11}, seed=0),
            r"`rates\['a'\]`=100000000000 gives .* 1e\+20 samples per epoch",
        ),
        (
            lambda: ovs.mix_plan({"a": 10}, samples={"a": 2**63}, seed=0),
            r"got samples\['a'\]=9223372036854775808",
        ),
    ],
    ids=["class target", "mixture rate", "mixture samples"],
)
def test_a_single_target_past_int64_is_refused_naming_it(build, message):
    with pytest.raises(ValueError, match=message):
        build()
