"""Batches of a whole epoch cut to be dealt out to the processes by a loader
that shards batches (Accelerate's `prepare`, the Hugging Face Trainer)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from oversample.core.validation import check_int, describe
from oversample.index import ranks as _ranks
from oversample.index import sampler as _sampler


class DealtBatchSampler:
    """Yields a whole epoch as batches that a loader deals round-robin to
    `num_processes` processes, every process the same number, nothing padded.

    Accelerate's `prepare` (and so the Hugging Face Trainer) hands process r
    the batches r, r + num_processes, ... of one loader, and pads the last
    ones with repeated indices when they do not come out even. This cuts the
    epoch of a whole-epoch `ovs.Sampler` into num_processes * m batches of
    near-equal size (at most `max_batch_size`; m = ceil(len(sampler) /
    (num_processes * max_batch_size))), so every process gets m batches and
    the union over processes is exactly the plan's epoch. `batch_size` is
    None because the sizes vary by one, which is how Accelerate's shard knows
    to deal the batches as they are.

    Args:
        sampler: a whole-epoch `ovs.Sampler` (num_replicas=1): the loader
            splits the epoch, so the sampler does not.
        batch_size: the most indices in a batch, an int >= 1.
        num_processes: the processes the batches are dealt to
            (`accelerator.num_processes`).

    Examples:
        >>> import oversample as ovs
        >>> sampler = ovs.Sampler(ovs.plan([0, 0, 0, 0, 1], seed=0))
        >>> batches = list(ovs.DealtBatchSampler(sampler, 3, num_processes=2))
        >>> [len(b) for b in batches], sorted(sum(batches, []))
        ([2, 2, 2, 2], [0, 1, 2, 3, 4, 4, 4, 4])
    """

    batch_size = None
    drop_last = False

    def __init__(
        self, sampler: _sampler.Sampler, batch_size: int, num_processes: int
    ) -> None:
        if not isinstance(sampler, _sampler.Sampler):
            raise TypeError(
                f"`sampler` must be an ovs.Sampler; got sampler={describe(sampler)}."
            )
        if sampler.num_replicas != 1:
            raise ValueError(
                "`sampler` must be a whole-epoch ovs.Sampler (num_replicas=1): the"
                " loader deals the batches out to the processes; got"
                f" num_replicas={sampler.num_replicas}."
            )
        self.sampler = sampler
        self.max_batch_size = check_int(batch_size, "batch_size", minimum=1)
        self.num_processes = check_int(num_processes, "num_processes", minimum=1)
        self._skip = 0

    def __len__(self) -> int:
        share = self.num_processes * self.max_batch_size
        return self.num_processes * -(-len(self.sampler) // share)

    def set_epoch(self, epoch: int) -> None:
        """Chooses the sampler's epoch (from its start, or `skip`'s batch)."""
        self.sampler.set_epoch(epoch)

    def skip(self, batches: int) -> None:
        """Starts the next epoch iterated after every process's first `batches`
        batches, without computing them: a trainer's resume mid-epoch (the
        Hugging Face Trainer's `get_resumed_dataloader`)."""
        rounds = len(self) // self.num_processes
        self._skip = check_int(batches, "batches")
        if self._skip > rounds:
            raise ValueError(
                f"`batches` must be at most the {rounds} batches of each process;"
                f" got batches={batches}."
            )

    def __iter__(self) -> Iterator[list[Any]]:
        _ranks.check("ovs.DealtBatchSampler", 1, dealt=True)
        sampler, count = self.sampler, len(self)
        if len(sampler) < count:
            raise ValueError(
                f"This epoch's {len(sampler)} indices cannot make {count} batches"
                f" (a multiple of num_processes={self.num_processes}, of at most"
                f" batch_size={self.max_batch_size}) without an empty one; use a"
                " larger batch_size or fewer processes."
            )
        size, larger = divmod(len(sampler), count)  # the first `larger` are +1
        batch, self._skip = self._skip * self.num_processes, 0
        at = batch * size + min(batch, larger)
        held = np.empty(0, np.int64)
        for _, array in sampler._pieces(at, _sampler._PIECE):
            held = np.concatenate([held, array])
            while batch < count and held.size >= size + (batch < larger):
                take = size + (batch < larger)
                yield sampler._listed(at, held[:take])
                held, at, batch = held[take:], at + take, batch + 1
        sampler._moved_to(0)
