"""Which ranks a sampler's epoch is for: torch's process group, read without
importing torch, and the trainers' code that deals indices out to the ranks."""

from __future__ import annotations

import sys
import warnings
from types import FrameType

# NOTE: the modules whose code iterates a sampler only to deal what it yields
# out to the ranks: Accelerate's BatchSamplerShard (`prepare`, the Hugging Face
# Trainer) and Lightning's DistributedSamplerWrapper.
_DEALERS = {
    "accelerate.data_loader": "Accelerate's `prepare`",
    "lightning.fabric.utilities.distributed": "Lightning",
    "lightning_fabric.utilities.distributed": "Lightning",
}
_FIXES = {
    "Accelerate's `prepare`": (
        "give the loader batch_sampler=ovs.DealtBatchSampler(ovs.Sampler(plan),"
        " batch_size, num_processes=accelerator.num_processes); under the Hugging"
        " Face Trainer, use ovs.PlanTrainer(plan=plan, ...)"
    ),
    "Lightning": (
        "give the loader sampler=ovs.DistributedSampler(plan), which Lightning"
        " leaves as it is, or set Trainer(use_distributed_sampler=False)"
    ),
}


def group() -> tuple[int, int] | None:
    """(world size, rank) of torch's initialised default process group; None
    without one (torch is never imported here)."""
    dist = sys.modules.get("torch.distributed")
    if dist is None or not dist.is_available() or not dist.is_initialized():
        return None
    return dist.get_world_size(), dist.get_rank()


def _dealer(frame: FrameType | None) -> str | None:
    """The trainer whose code runs in `frame` or the frame that called it."""
    # NOTE: two frames: Lightning's wrapper lists the sampler itself, while
    # Accelerate's shard reaches it through torch's BatchSampler.
    for _ in range(2):
        if frame is None:
            return None
        name = _DEALERS.get(frame.f_globals.get("__name__", ""))
        if name is not None:
            return name
        frame = frame.f_back
    return None


def check(what: str, num_replicas: int, *, dealt: bool = False) -> None:
    """Refuses an epoch split by rank that a trainer deals out to the ranks
    again, and warns of an epoch that is not split where it should be.

    Called where a sampler's iteration starts: the frame above the caller is
    the code that iterates it.

    Args:
        what: the object iterated, for the message (`ovs.Sampler`, ...).
        num_replicas: the ranks its epoch is already split into.
        dealt: its batches are cut to be dealt out by the loader
            (`ovs.DealtBatchSampler`).
    """
    dealer = _dealer(sys._getframe(2))
    if dealer is not None and num_replicas > 1:
        raise ValueError(
            f"This {what} is already split by rank (num_replicas={num_replicas}),"
            f" and {dealer} deals what it yields out to the ranks again: each rank"
            f" would take 1/{num_replicas} of its own share. Instead,"
            f" {_FIXES[dealer]}."
        )
    ranks = group()
    if ranks is None or ranks[0] == 1 or num_replicas > 1:
        return
    if dealer is not None and not dealt:
        warnings.warn(
            f"{dealer} splits this whole-epoch {what} over {ranks[0]} ranks itself"
            " and pads the split with repeated indices that the plan did not"
            " choose wherever it does not come out even. For an exact epoch,"
            f" {_FIXES[dealer]}.",
            stacklevel=3,
        )
    elif dealer is None:
        fix = (
            "give the loader to accelerator.prepare, which deals the batches out"
            if dealt
            else "use ovs.Sampler(plan, num_replicas=world_size, rank=rank), or"
            " ovs.DistributedSampler(plan), which reads the group"
        )
        warnings.warn(
            f"Every rank of this process group of {ranks[0]} iterates this"
            f" whole-epoch {what}: each trains on the whole epoch. To split it,"
            f" {fix}.",
            stacklevel=3,
        )
