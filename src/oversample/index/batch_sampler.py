"""Batches of a Sampler's indices, one list per batch, for PyTorch's
`DataLoader(batch_sampler=...)`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from oversample.core import states as _states
from oversample.core.validation import check_bool, check_int, describe
from oversample.index import ranks as _ranks
from oversample.index import sampler as _sampler


class BatchSampler:
    """Yields a `Sampler`'s epoch as lists of `batch_size` source indices (of
    (index, seed) pairs when the sampler has `copy_seeds=True`).

    `DataLoader(dataset, batch_sampler=ovs.BatchSampler(sampler, 256))` asks
    for a whole batch of indices per call instead of one index at a time (and
    a dataset with `__getitems__` reads it in one go). The batches concatenate
    to exactly the sampler's epoch, so exactness, ranks and epochs are the
    sampler's. The state is the sampler's, with the batch settings: resuming
    continues after the last batch yielded.

    Args:
        sampler: an `ovs.Sampler`; `sampler.set_epoch(e)` chooses the epoch.
        batch_size: indices per batch, an int >= 1.
        drop_last: leave out the last `len(sampler) % batch_size` indices
            (`num_left_out`) instead of yielding a shorter last batch.

    Examples:
        >>> import oversample as ovs
        >>> sampler = ovs.Sampler(ovs.plan([0, 0, 0, 1], seed=0))
        >>> batches = list(ovs.BatchSampler(sampler, batch_size=4))
        >>> [len(b) for b in batches], sorted(sum(batches, []))
        ([4, 2], [0, 1, 2, 3, 3, 3])
    """

    def __init__(
        self, sampler: _sampler.Sampler, batch_size: int, drop_last: bool = False
    ) -> None:
        if not isinstance(sampler, _sampler.Sampler):
            # NOTE: Lightning rebuilds a batch sampler around its own
            # DistributedSampler when `use_distributed_sampler` is on.
            raise TypeError(
                f"`sampler` must be an ovs.Sampler; got sampler={describe(sampler)}."
                " Under Lightning, give the loader sampler=ovs.DistributedSampler("
                "plan) and batch_size, or set Trainer(use_distributed_sampler=False)."
            )
        self.sampler = sampler
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)
        self.drop_last = check_bool(drop_last, "drop_last")

    @property
    def num_left_out(self) -> int:
        """Indices of this epoch that drop_last leaves out (0 without it)."""
        return len(self.sampler) % self.batch_size if self.drop_last else 0

    def __len__(self) -> int:
        full, rest = divmod(len(self.sampler), self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def set_epoch(self, epoch: int) -> None:
        """Chooses the sampler's epoch (from its start)."""
        self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[list[Any]]:
        _ranks.check("ovs.BatchSampler", self.sampler.num_replicas)
        sampler, size = self.sampler, self.batch_size
        end = len(sampler) - self.num_left_out
        piece = size * max(1, _sampler._PIECE // size)
        for low, array in sampler._pieces(sampler.position, piece):
            for offset in range(0, array.size, size):
                batch = array[offset : offset + size]
                if low + offset + batch.size > end:
                    break
                sampler._moved_to(low + offset + batch.size)
                yield sampler._listed(low + offset, batch)
        sampler._moved_to(0)

    def state_dict(self) -> dict[str, Any]:
        """The sampler's state with the batch settings; JSON-able."""
        state = self.sampler.state_dict()
        state.update(batch_size=self.batch_size, batch_drop_last=self.drop_last)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores a state from `state_dict`; refuses other batch settings."""
        mine = {"batch_size": self.batch_size, "batch_drop_last": self.drop_last}
        _states.check("BatchSampler", state, self.state_dict(), tuple(mine))
        self.sampler.load_state_dict({k: v for k, v in state.items() if k not in mine})
