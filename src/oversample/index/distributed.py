"""`ovs.Sampler` as a torch `DistributedSampler`, split by the process group's
ranks and so left as it is by Lightning; imports torch (loaded on first use)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch.utils.data

from oversample.core.plan import Plan
from oversample.core.validation import check_int
from oversample.index import ranks as _ranks
from oversample.index.sampler import Sampler


class DistributedSampler(torch.utils.data.DistributedSampler):
    """The plan's epochs split over the ranks of torch's process group, as a
    `torch.utils.data.DistributedSampler`.

    `num_replicas` and `rank` default to the default process group's, read
    when the epoch is first used, so a loader made before the group exists
    (a Lightning script) works; with no group, the whole epoch. Reading them
    (the attributes) is a first use. Lightning
    (its default `use_distributed_sampler=True`) leaves a DistributedSampler
    as it is, and plain DDP needs nothing more. The rest is an `ovs.Sampler`
    with these settings (`.sampler`): the epoch of `set_epoch`, the rank split
    (one copy per class added where the epoch does not divide by the ranks,
    counted in `num_padded`), `state_dict` / `load_state_dict`.

    Args:
        plan: the `ovs.Plan` whose epochs it yields.
        shuffle: as in `ovs.Sampler`.
        num_replicas: the ranks; None: the process group's size.
        rank: this rank; None: the process group's rank.
        drop_last: as in `ovs.Sampler`.
        copy_seeds: as in `ovs.Sampler`.
    """

    def __init__(
        self,
        plan: Plan,
        shuffle: bool = True,
        num_replicas: int | None = None,
        rank: int | None = None,
        drop_last: bool = False,
        copy_seeds: bool = False,
    ) -> None:
        # NOTE: torch's __init__ needs a dataset and reads the group at once;
        # everything it would set is read off the ovs.Sampler here.
        whole = Sampler(plan, shuffle, 1, 0, drop_last, copy_seeds)
        self._given = (
            None if num_replicas is None else check_int(num_replicas, "num_replicas"),
            None if rank is None else check_int(rank, "rank"),
        )
        self._whole = whole
        self._sampler: Sampler | None = None
        self.epoch = 0
        if None not in self._given:
            self._split()

    def _split(self) -> Sampler:
        """The ovs.Sampler of this rank, made on first use."""
        if self._sampler is None:
            world, rank = _ranks.group() or (1, 0)
            given_world, given_rank = self._given
            whole = self._whole
            self._sampler = Sampler(
                whole.plan,
                whole.shuffle,
                world if given_world is None else given_world,
                rank if given_rank is None else given_rank,
                whole.drop_last,
                whole.copy_seeds,
            )
            self._sampler.set_epoch(self.epoch)
            self.num_replicas = self._sampler.num_replicas
            self.rank = self._sampler.rank
        return self._sampler

    def __getattr__(self, name: str) -> Any:
        # NOTE: `num_replicas` and `rank` are set from the group on first use.
        if name in ("num_replicas", "rank") and "_given" in self.__dict__:
            self._split()
            return self.__dict__[name]
        raise AttributeError(name)

    @property
    def sampler(self) -> Sampler:
        """The `ovs.Sampler` of this rank (made from the group on first use)."""
        return self._split()

    def set_epoch(self, epoch: int) -> None:
        """Chooses the epoch, as `ovs.Sampler.set_epoch` (a position restored
        into that epoch stays)."""
        if self._sampler is None:
            self.epoch = check_int(epoch, "epoch")
        else:
            self._sampler.set_epoch(epoch)
            self.epoch = self._sampler.epoch

    def __len__(self) -> int:
        return len(self._split())

    def __iter__(self) -> Iterator[Any]:
        sampler = self._split()
        _ranks.check("ovs.DistributedSampler", sampler.num_replicas)
        return iter(sampler)

    def state_dict(self) -> dict[str, Any]:
        """The `ovs.Sampler` state without the rank: every rank has the same
        length and moves in step, so one rank's state restores on all (as
        Lightning does with a stateful loader's); JSON-able."""
        state = self._split().state_dict()
        del state["rank"]
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores a state from `state_dict` (of any rank) on this rank;
        refuses another configuration."""
        sampler = self._split()
        sampler.load_state_dict({**state, "rank": sampler.rank})
        self.epoch = self._split().epoch
