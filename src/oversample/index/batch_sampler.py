"""Batches of a Sampler's indices, one list per batch, for PyTorch's
`DataLoader(batch_sampler=...)`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from oversample.core import interleave as _interleave
from oversample.core import states as _states
from oversample.core.validation import check_bool, check_int, describe
from oversample.index import class_batches as _class_batches
from oversample.index import ranks as _ranks
from oversample.index import sampler as _sampler

# NOTE: states saved before batches by class existed had neither setting.
_DEFAULTS = {"batch_stratified": False, "batch_samples_per_class": None}


class BatchSampler:
    """Yields a `Sampler`'s epoch as lists of `batch_size` source indices (of
    (index, seed) pairs when the sampler has `copy_seeds=True`).

    `DataLoader(dataset, batch_sampler=ovs.BatchSampler(sampler, 256))` asks
    for a whole batch of indices per call instead of one index at a time (and
    a dataset with `__getitems__` reads it in one go). The batches concatenate
    to exactly the sampler's epoch, so exactness, ranks and epochs are the
    sampler's. The state is the sampler's, with the batch settings: resuming
    continues after the last batch yielded.

    Batches by class reorder the rank's epoch (its multiset stays exactly the
    sampler's, so summed over ranks it is `plan.copies(epoch)` plus the
    sampler's documented rank padding) and need a plan of classes
    (`ovs.plan(labels, ...)` or `ovs.mix_plan`, whose classes are the
    sources). With `T_c` the copies of class c in this rank's epoch and `T`
    their sum:

    - `stratified=True`: every batch holds `batch_size * T_c / T` copies of
      each class to within one sample (the quota of `ovs.mix(stratified=B)`);
      a class's copies come in the sampler's order, and a batch keeps that
      order.
    - `samples_per_class=m`: every batch holds `batch_size / m` groups of m
      copies of one class (metric learning). A class's copies, sample by
      sample, are dealt out to its groups in turn (its last `T_c mod m`
      copies, from the samples with the most, go to the tail), so a group
      is m distinct samples whenever the class has m samples and the rank's
      copies of it are within one per sample (a whole epoch's always are).
      A class gets at most one group per batch while its groups are at most
      `m / batch_size` of all the groups; a larger one gets its share of
      groups in every batch. The batches of whole
      groups come first; the last batches (the tail) hold the groups that do
      not fill a batch, then each class's last `T_c mod m` copies, class by
      class, in batches of `batch_size` with a shorter last one. Nothing is
      dropped but that last batch's `num_left_out` indices with `drop_last`.

    When the sampler shuffles, classes with equal claims to a batch are drawn
    in an order seeded by (plan seed, epoch, rank), so which classes meet in
    a batch changes between epochs. Batches by class compute the rank's epoch
    whole when iterated (35-70 bytes per index).

    Args:
        sampler: an `ovs.Sampler`; `sampler.set_epoch(e)` chooses the epoch.
        batch_size: indices per batch, an int >= 1.
        drop_last: leave out the last `len(sampler) % batch_size` indices
            (`num_left_out`) instead of yielding a shorter last batch.
        stratified: every batch holds each class's share (a bool).
        samples_per_class: m of m-per-class batches, an int >= 1 that divides
            `batch_size`, at most every class's copies in every epoch of the
            plan; None for batches in the sampler's order. Either this or
            `stratified`, not both.

    Raises:
        TypeError: a sampler that is not an `ovs.Sampler`, or an argument of
            the wrong type.
        ValueError: batches by class that the plan cannot give (see above),
            named with the argument and the value.

    Examples:
        >>> import oversample as ovs
        >>> sampler = ovs.Sampler(ovs.plan([0, 0, 0, 1], seed=0))
        >>> batches = list(ovs.BatchSampler(sampler, batch_size=4))
        >>> [len(b) for b in batches], sorted(sum(batches, []))
        ([4, 2], [0, 1, 2, 3, 3, 3])

        By class (a plan that raises class 1 from 2 to 6 copies an epoch):

        >>> labels = [0] * 6 + [1] * 2
        >>> sampler = ovs.Sampler(ovs.plan(labels, seed=0))
        >>> shares = ovs.BatchSampler(sampler, batch_size=4, stratified=True)
        >>> [[labels[i] for i in batch].count(1) for batch in shares]
        [2, 2, 2]
        >>> pairs = ovs.BatchSampler(sampler, batch_size=4, samples_per_class=2)
        >>> [sorted(labels[i] for i in batch) for batch in pairs]
        [[0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 1, 1]]
    """

    def __init__(
        self,
        sampler: _sampler.Sampler,
        batch_size: int,
        drop_last: bool = False,
        *,
        stratified: bool = False,
        samples_per_class: int | None = None,
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
        self.stratified = check_bool(stratified, "stratified")
        self.samples_per_class = (
            None
            if samples_per_class is None
            else check_int(samples_per_class, "samples_per_class", minimum=1)
        )
        if self.stratified and self.samples_per_class is not None:
            # NOTE: a stratified batch holds every class's share, an m-per-class
            # batch B/m classes: both at once only when they happen to agree.
            raise ValueError(
                "give `stratified=True` or `samples_per_class`, not both: stratified"
                " batches hold every class's share, m-per-class batches hold"
                f" batch_size / m classes; got stratified=True and"
                f" samples_per_class={self.samples_per_class}."
            )
        if self._by_class:
            _class_batches.check(
                sampler.plan,
                sampler.num_replicas,
                sampler.drop_last,
                self.batch_size,
                self.stratified,
                self.samples_per_class,
            )

    @property
    def _by_class(self) -> bool:
        return self.stratified or self.samples_per_class is not None

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
        yield from self._classed() if self._by_class else self._in_order()

    def _in_order(self) -> Iterator[list[Any]]:
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

    def _classed(self) -> Iterator[list[Any]]:
        sampler, size = self.sampler, self.batch_size
        start = sampler._begun()
        indices = sampler.indices()
        order = self._order(indices)
        end = indices.size - self.num_left_out
        for low in range(start, end, size):
            high = min(low + size, end)
            positions = order[low:high]
            sampler._moved_to(high)
            if sampler.copy_seeds:
                slots = sampler.rank + sampler.num_replicas * positions
                yield sampler._paired(slots, indices[positions])
            else:
                yield indices[positions].tolist()
        sampler._moved_to(0)

    def _order(self, indices: np.ndarray) -> np.ndarray:
        """The positions of the rank's epoch `indices` in batches by class."""
        if not indices.size:
            return np.zeros(0, np.int64)
        sampler, plan = self.sampler, self.sampler.plan
        classes = plan.members.classes_of(indices)
        draw = _class_batches.ties(
            plan.seed, sampler.epoch, sampler.rank, sampler.shuffle
        )
        if self.samples_per_class is None:
            return _interleave.stratified(classes, self.batch_size, draw)
        return _class_batches.per_class(
            classes, indices, self.samples_per_class, self.batch_size, draw
        )

    def _settings(self) -> dict[str, Any]:
        return {
            "batch_size": self.batch_size,
            "batch_drop_last": self.drop_last,
            "batch_stratified": self.stratified,
            "batch_samples_per_class": self.samples_per_class,
        }

    def state_dict(self) -> dict[str, Any]:
        """The sampler's state with the batch settings; JSON-able."""
        return {**self.sampler.state_dict(), **self._settings()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores a state from `state_dict`; refuses other batch settings."""
        mine = self._settings()
        if isinstance(state, dict):
            state = {**_DEFAULTS, **state}
        _states.check("BatchSampler", state, self.state_dict(), tuple(mine))
        self.sampler.load_state_dict({k: v for k, v in state.items() if k not in mine})
