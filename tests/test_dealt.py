"""ovs.DealtBatchSampler, ovs.DistributedSampler and the trainers' set_epoch
without processes: equal batch counts, resume and refusals. The real trainers
on two ranks are in tests/test_trainers.py (heavy)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from itertools import chain

import numpy as np
import pytest

import oversample as ovs
from oversample.index import ranks

LABELS = np.repeat(np.arange(5), [300, 120, 50, 22, 9])


def _plan(labels=LABELS):
    return ovs.plan(labels, seed=0)


def _dealt(batches: list[list[int]], processes: int) -> list[list[list[int]]]:
    """What a loader that deals batches round-robin hands each process."""
    return [batches[r::processes] for r in range(processes)]


@pytest.mark.parametrize("processes", [1, 2, 3, 8])
@pytest.mark.parametrize("batch_size", [2, 7, 32, 2000])
def test_every_process_gets_as_many_batches_and_the_union_is_the_epoch(
    processes, batch_size
):
    plan = _plan()
    sampler = ovs.Sampler(plan)
    sampler.set_epoch(2)
    batches = list(ovs.DealtBatchSampler(sampler, batch_size, processes))
    assert len(batches) % processes == 0
    assert len({len(share) for share in _dealt(batches, processes)}) == 1
    sizes = {len(b) for b in batches}
    assert max(sizes) <= batch_size and max(sizes) - min(sizes) <= 1
    counts = np.bincount(np.concatenate(batches), minlength=LABELS.size)
    assert counts.tolist() == plan.copies(2).tolist()
    assert list(chain.from_iterable(batches)) == sampler.indices().tolist()


def test_length_is_the_batches_of_every_process():
    sampler = ovs.Sampler(_plan())
    batches = ovs.DealtBatchSampler(sampler, 32, num_processes=2)
    assert len(batches) == len(list(batches)) == 2 * -(-len(sampler) // 64)
    assert batches.batch_size is None and batches.drop_last is False


def test_skip_starts_the_next_epoch_after_each_processs_first_batches():
    sampler = ovs.Sampler(_plan())
    batches = ovs.DealtBatchSampler(sampler, 16, num_processes=2)
    batches.set_epoch(1)
    whole = list(batches)
    batches.skip(5)
    batches.set_epoch(1)
    assert list(batches) == whole[10:]
    assert list(batches) == whole  # the skip is used once


def test_copy_seeds_come_with_each_index():
    sampler = ovs.Sampler(_plan(), copy_seeds=True)
    batches = list(ovs.DealtBatchSampler(sampler, 16, num_processes=2))
    pairs = [pair for batch in batches for pair in batch]
    assert [i for i, _ in pairs] == sampler.indices().tolist()
    assert [s for _, s in pairs] == sampler.seeds().tolist()


def test_a_rank_split_sampler_and_bad_arguments_are_refused():
    plan = _plan()
    with pytest.raises(ValueError, match=r"whole-epoch ovs.Sampler.*num_replicas=2"):
        ovs.DealtBatchSampler(ovs.Sampler(plan, num_replicas=2), 32, 2)
    with pytest.raises(TypeError, match=r"`sampler` must be an ovs.Sampler"):
        ovs.DealtBatchSampler([0, 1], 32, 2)
    with pytest.raises(ValueError, match=r"`num_processes` must be an int >= 1"):
        ovs.DealtBatchSampler(ovs.Sampler(plan), 32, 0)
    batches = ovs.DealtBatchSampler(ovs.Sampler(plan), 32, 2)
    with pytest.raises(ValueError, match=r"`batches` must be at most the 24"):
        batches.skip(25)
    ones = ovs.DealtBatchSampler(ovs.Sampler(plan), 1, 8)  # 1,500 in 1,504
    with pytest.raises(ValueError, match=r"1500 indices cannot make 1504 batches"):
        list(ones)


# set_epoch and a restored position (what every trainer calls at an epoch's start)


def _restored(position: int, epoch: int = 1) -> ovs.Sampler:
    plan = _plan()
    sampler = ovs.Sampler(plan)
    sampler.set_epoch(epoch)
    state = json.loads(json.dumps({**sampler.state_dict(), "position": position}))
    fresh = ovs.Sampler(plan)
    fresh.load_state_dict(state)
    return fresh


def test_set_epoch_of_the_restored_epoch_keeps_the_restored_position():
    sampler = _restored(200)
    rest = sampler.indices()[200:].tolist()
    sampler.set_epoch(1)
    sampler.set_epoch(1)  # Accelerate, then the Hugging Face Trainer
    assert list(sampler) == rest
    sampler.set_epoch(1)  # after an iteration: the epoch from its start
    assert list(sampler) == sampler.indices().tolist()


def test_the_batch_sampler_keeps_it_too():
    sampler = _restored(64)
    batches = ovs.BatchSampler(sampler, 32)
    batches.set_epoch(1)
    assert list(chain.from_iterable(batches)) == sampler.indices()[64:].tolist()


def test_another_epoch_that_would_discard_a_restored_position_is_refused():
    sampler = _restored(200)
    with pytest.raises(ValueError, match=r"`epoch`=0 would discard the position 200"):
        sampler.set_epoch(0)
    assert list(sampler) == sampler.indices()[200:].tolist()


def test_a_restored_start_or_end_of_an_epoch_moves_to_any_epoch():
    for position in (0, None):
        sampler = _restored(len(ovs.Sampler(_plan())) if position is None else 0)
        sampler.set_epoch(2)
        assert list(sampler) == sampler.indices().tolist()


def test_a_restored_end_of_an_epoch_set_again_yields_nothing_more():
    sampler = _restored(len(ovs.Sampler(_plan())))
    sampler.set_epoch(1)
    assert list(sampler) == []


# The process group, read without torch; trainers that deal indices out again


class _Group:
    """A stand-in for torch.distributed with a group of `world` ranks."""

    def __init__(self, world: int) -> None:
        self.world = world

    def is_available(self) -> bool:
        return True

    def is_initialized(self) -> bool:
        return True

    def get_world_size(self) -> int:
        return self.world

    def get_rank(self) -> int:
        return 1


def test_no_group_reads_as_none_without_importing_torch(monkeypatch):
    monkeypatch.delitem(sys.modules, "torch.distributed", raising=False)
    assert ranks.group() is None
    assert "torch.distributed" not in sys.modules


def test_a_whole_epoch_on_every_rank_of_a_group_is_warned_of(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.distributed", _Group(2))
    assert ranks.group() == (2, 1)
    with pytest.warns(UserWarning, match=r"Every rank of this process group of 2"):
        list(ovs.Sampler(_plan()))
    with pytest.warns(UserWarning, match=r"give the loader to accelerator.prepare"):
        list(ovs.DealtBatchSampler(ovs.Sampler(_plan()), 32, 2))


def test_a_split_sampler_in_its_group_iterates_quietly(monkeypatch, recwarn):
    monkeypatch.setitem(sys.modules, "torch.distributed", _Group(2))
    sampler = ovs.Sampler(_plan(), num_replicas=2, rank=1)
    assert len(list(sampler)) == len(sampler)
    assert len(recwarn) == 0


def _iterated_by(module: str, sampler) -> list:
    """Iterates `sampler` from code that runs as module `module`."""
    scope = {"__name__": module, "sampler": sampler}
    exec("def deal():\n    return [b for b in sampler]\n", scope)
    return scope["deal"]()


@pytest.mark.parametrize(
    ("module", "fix"),
    [
        ("accelerate.data_loader", "ovs.DealtBatchSampler"),
        ("lightning.fabric.utilities.distributed", "ovs.DistributedSampler"),
    ],
)
def test_a_rank_split_that_a_trainer_deals_out_again_is_refused(module, fix):
    split = ovs.Sampler(_plan(), num_replicas=2, rank=0)
    for what in (split, ovs.BatchSampler(split, 8)):
        with pytest.raises(ValueError, match=rf"already split by rank.*{fix}"):
            _iterated_by(module, what)


def test_a_whole_epoch_that_a_trainer_pads_is_warned_of(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.distributed", _Group(2))
    sampler = ovs.Sampler(_plan())
    with pytest.warns(UserWarning, match=r"splits this whole-epoch ovs.Sampler"):
        _iterated_by("lightning.fabric.utilities.distributed", sampler)


def test_accelerate_dealing_the_dealt_batches_is_quiet(monkeypatch, recwarn):
    monkeypatch.setitem(sys.modules, "torch.distributed", _Group(2))
    batches = ovs.DealtBatchSampler(ovs.Sampler(_plan()), 32, 2)
    assert len(_iterated_by("accelerate.data_loader", batches)) == len(batches)
    assert len(recwarn) == 0


def test_lightnings_rebuild_of_a_batch_sampler_says_what_to_do():
    with pytest.raises(TypeError, match=r"sampler=ovs.DistributedSampler\(plan\)"):
        ovs.BatchSampler(object(), batch_size=8, drop_last=False)


# ovs.DistributedSampler (torch)


def test_the_torch_sampler_is_a_distributed_sampler_split_as_given():
    torch = pytest.importorskip("torch")
    plan = _plan()
    shares = [ovs.DistributedSampler(plan, num_replicas=2, rank=r) for r in (0, 1)]
    assert all(isinstance(s, torch.utils.data.DistributedSampler) for s in shares)
    for share in shares:
        share.set_epoch(3)
    union = Counter(i for share in shares for i in share)
    assert [union[i] for i in range(LABELS.size)] == plan.copies(3).tolist()
    assert len(shares[0]) == len(shares[1]) == shares[0].sampler.indices().size


def test_the_torch_sampler_without_a_group_yields_the_whole_epoch():
    pytest.importorskip("torch")
    plan = _plan()
    sampler = ovs.DistributedSampler(plan)
    sampler.set_epoch(2)
    assert (sampler.num_replicas, sampler.rank, sampler.epoch) == (1, 0, 2)
    whole = ovs.Sampler(plan)
    whole.set_epoch(2)
    assert list(sampler) == whole.indices().tolist()


def test_the_torch_samplers_state_restores_on_any_rank():
    pytest.importorskip("torch")
    plan = _plan()
    saved = ovs.DistributedSampler(plan, num_replicas=2, rank=0)
    saved.set_epoch(1)
    iterator = iter(saved)
    [next(iterator) for _ in range(50)]
    state = json.loads(json.dumps(saved.state_dict()))
    assert "rank" not in state
    other = ovs.DistributedSampler(plan, num_replicas=2, rank=1)
    other.load_state_dict(state)
    other.set_epoch(1)  # Lightning's, after the restore
    assert other.epoch == 1
    assert list(other) == other.sampler.indices()[50:].tolist()
