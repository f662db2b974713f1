from __future__ import annotations

import json
from itertools import chain

import numpy as np
import pytest

import oversample as ovs


def _sampler(**kwargs):
    labels = np.random.default_rng(0).permutation(
        np.repeat(np.arange(5), [60, 30, 12, 5, 2])
    )
    return ovs.Sampler(ovs.plan(labels, seed=6), **kwargs)


@pytest.mark.parametrize("batch_size", [1, 7, 64, 300, 301])
@pytest.mark.parametrize("replicas", [1, 3])
def test_batches_concatenate_to_exactly_the_samplers_epoch(batch_size, replicas):
    for rank in range(replicas):
        sampler = _sampler(num_replicas=replicas, rank=rank)
        sampler.set_epoch(2)
        batches = list(ovs.BatchSampler(sampler, batch_size))
        assert len(batches) == len(ovs.BatchSampler(sampler, batch_size))
        assert all(len(b) == batch_size for b in batches[:-1])
        assert 1 <= len(batches[-1]) <= batch_size
        assert all(type(i) is int for b in batches for i in b)
        assert list(chain.from_iterable(batches)) == sampler.indices().tolist()


def test_drop_last_leaves_out_only_the_short_tail_and_says_so():
    sampler = _sampler()
    batches = ovs.BatchSampler(sampler, 64, drop_last=True)
    out = list(batches)
    assert [len(b) for b in out] == [64] * (len(sampler) // 64)
    assert batches.num_left_out == len(sampler) % 64 > 0
    assert (
        list(chain.from_iterable(out))
        == sampler.indices().tolist()[: len(sampler) - batches.num_left_out]
    )
    assert ovs.BatchSampler(sampler, 64).num_left_out == 0


@pytest.mark.parametrize("taken", [0, 1, 4, 5])
def test_resume_after_some_batches_yields_exactly_the_rest(taken):
    sampler = _sampler()
    sampler.set_epoch(1)
    batches = ovs.BatchSampler(sampler, 64)
    iterator = iter(batches)
    head = [next(iterator) for _ in range(taken)]
    state = json.loads(json.dumps(batches.state_dict()))
    rest = list(iterator)
    again = ovs.BatchSampler(_sampler(), 64)
    again.load_state_dict(state)
    assert list(again) == rest
    assert head + rest == list(again)
    assert again.sampler.epoch == 1


def test_set_epoch_changes_the_batches():
    batches = ovs.BatchSampler(_sampler(), 32)
    first = list(batches)
    batches.set_epoch(1)
    assert list(batches) != first


def test_a_state_with_other_batch_settings_is_refused():
    state = ovs.BatchSampler(_sampler(), 32).state_dict()
    with pytest.raises(ValueError, match=r"batch_size: saved 32, here 16"):
        ovs.BatchSampler(_sampler(), 16).load_state_dict(state)
    with pytest.raises(ValueError, match=r"rank: saved 0, here 1"):
        ovs.BatchSampler(_sampler(num_replicas=2, rank=1), 32).load_state_dict(
            {**state, "num_replicas": 2}
        )
    with pytest.raises(ValueError, match=r"not a BatchSampler state"):
        ovs.BatchSampler(_sampler(), 32).load_state_dict([1])


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"batch_size": 0}, ValueError, r"`batch_size` must be an int >= 1; got"),
        ({"batch_size": 2.0}, TypeError, r"got batch_size=2.0 of type float"),
        ({"batch_size": True}, TypeError, r"got batch_size=True of type bool"),
        ({"batch_size": 4, "drop_last": 1}, TypeError, r"`drop_last` must be a"),
    ],
)
def test_bad_arguments_are_refused(kwargs, error, message):
    with pytest.raises(error, match=message):
        ovs.BatchSampler(_sampler(), **kwargs)


def test_the_sampler_must_be_an_ovs_sampler():
    with pytest.raises(TypeError, match=r"`sampler` must be an ovs.Sampler; got"):
        ovs.BatchSampler(range(10), 4)
