"""The random-access executor: a Sampler of source indices for PyTorch, Grain,
TFDS data_source, NumPy and Hugging Face datasets."""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from oversample.core import rule as _rule
from oversample.core import seeding as _seeding
from oversample.core import states as _states
from oversample.core.plan import MAX_TOTAL, Plan
from oversample.core.validation import (
    check_bool,
    check_int,
    check_split,
    describe,
    is_int,
)
from oversample.index import epochs as _epochs
from oversample.index import order as _order
from oversample.index import ranks as _ranks
from oversample.index import resume as _resume

_STATE_VERSION = 2  # 2: the copy rule's version is saved (`core.rule.VERSION`)
# NOTE: an epoch of up to this many indices is computed whole when iterated
# (about 13 ns per index, 8 bytes each); a longer one goes a piece at a time
# through the slower per-slot map, so memory stays bounded.
_WHOLE_EPOCH = 1 << 24
_PIECE = 1 << 12  # indices turned into Python ints at a time
_BLOCK = 1 << 16  # indices computed at a time when the epoch is not whole


class Sampler:
    """Yields the source indices of a plan's epoch, shuffled, split by rank.

    Epoch e yields exactly the multiset of `plan.copies(e)` in a global seeded
    shuffle (seed and epoch): a keyed permutation of the epoch's slots and a
    per-class layout map any slot to its source index, so `sampler[i]` is
    random access and the state beyond the plan is O(classes). Iterating
    computes an epoch of up to 2**24 indices whole (8 bytes each), a longer
    one piece by piece. Works as a PyTorch `Sampler` (sampler=...; see
    `ovs.BatchSampler` for batch_sampler=...), as a Grain `MapDataset` source,
    and with NumPy or Hugging Face `Dataset.select` through `indices()`.

    With `num_replicas` > 1, rank r takes every num_replicas-th slot. When the
    epoch does not divide evenly, copies are added (or, with drop_last,
    removed) one per class, largest classes first (more than one per class
    only with more ranks than classes), never removing a sample's only copy
    while another choice exists; `num_padded` and `num_dropped` say how many.

    With `copy_seeds=True` it yields `(index, seed)` pairs: each copy's
    augmentation seed in [0, 2**64) (for `numpy.random.default_rng` or
    `torch.Generator`), a pure function of (plan seed, epoch, index, copy):
    distinct per copy, the same on every rank, process and resume.

    Examples:
        >>> import oversample as ovs
        >>> plan = ovs.plan([0, 0, 0, 1], seed=0)
        >>> sampler = ovs.Sampler(plan)
        >>> len(sampler), sorted(sampler)
        (6, [0, 1, 2, 3, 3, 3])
    """

    def __init__(
        self,
        plan: Plan,
        shuffle: bool = True,
        num_replicas: int = 1,
        rank: int = 0,
        drop_last: bool = False,
        copy_seeds: bool = False,
    ) -> None:
        if not isinstance(plan, Plan):
            raise TypeError(f"`plan` must be an ovs.Plan; got plan={describe(plan)}.")
        if not plan.knows_samples:
            made = (
                "decides copies from each element as it streams"
                if plan.kind == "whole"
                else "was made from class counts"
            )
            raise ValueError(
                f"`plan` {made} and knows no samples; a Sampler needs a plan of"
                " every sample: ovs.plan(labels, ...) or ovs.plan(weights=...)."
            )
        check_bool(shuffle, "shuffle")
        check_bool(drop_last, "drop_last")
        check_bool(copy_seeds, "copy_seeds")
        replicas, rank = check_split(num_replicas, rank)
        _check_padded(plan, replicas, drop_last)
        if plan.kind == "classes":
            _ = plan.members  # NOTE: built now (a counting pass), not at first use
        self.plan = plan
        self.shuffle = shuffle
        self.num_replicas = replicas
        self.rank = rank
        self.drop_last = drop_last
        self.copy_seeds = copy_seeds
        self._epoch = 0
        self._position = 0
        self._restored = False  # a position from load_state_dict, not yet iterated
        self._reading: tuple[int, int, Iterator[int]] | None = None
        self._layout: _order.EpochOrder | None = None  # built on first use
        self._change = 0  # copies added (> 0) or dropped (< 0) in this epoch
        self._length = 0

    # The epoch.

    @property
    def epoch(self) -> int:
        """The epoch this sampler yields (see `set_epoch`)."""
        return self._epoch

    def set_epoch(self, epoch: int) -> None:
        """Chooses the epoch that the next iteration yields, from its start; a
        position restored into this epoch by `load_state_dict` stays (trainers
        call `set_epoch` at the start of every epoch)."""
        value = check_int(epoch, "epoch")
        if self._restored and _resume.keeps_position(
            value, self._epoch, self._position, len(self)
        ):
            return
        self._restored = False
        if value != self._epoch:
            self._layout = None
        self._epoch = value
        self._position = 0
        self._reading = None

    def _order_now(self) -> _order.EpochOrder:
        """This epoch's order, built on first use."""
        if self._layout is None:
            self._layout, self._change = _epochs.build(
                self.plan, self._epoch, self.shuffle, self.num_replicas, self.drop_last
            )
            self._length = self._layout.feistel.total // self.num_replicas
        return self._layout

    @property
    def num_padded(self) -> int:
        """Copies added in this epoch (over all ranks) to give every rank one length."""
        self._order_now()
        return max(self._change, 0)

    @property
    def num_dropped(self) -> int:
        """Copies removed in this epoch (over all ranks), with drop_last."""
        self._order_now()
        return max(-self._change, 0)

    def __repr__(self) -> str:
        return (
            f"Sampler({self.plan!r}, epoch={self._epoch}, rank={self.rank} of"
            f" {self.num_replicas}, len={len(self)}, shuffle={self.shuffle})"
        )

    def _repr_html_(self) -> str:
        """Jupyter's view: this rank's epoch, then its plan's counts."""
        from oversample import report

        title = (
            f"oversample Sampler: epoch {self._epoch}, rank {self.rank} of"
            f" {self.num_replicas}, {len(self):,} indices; {report.heading(self.plan)}"
        )
        return report.plan_html(self.plan, title)

    def __len__(self) -> int:
        if self._layout is None:
            self._order_now()
        return self._length

    # Indices.

    def _slot(self, index: object) -> int:
        """The epoch slot of this rank's index-th element."""
        if not is_int(index):
            raise TypeError(f"`index` must be an int; got index={describe(index)}.")
        i = int(index)
        length = len(self)
        if not -length <= i < length:
            raise IndexError(
                f"index {index} is out of range for a sampler of {length}."
            )
        return self.rank + self.num_replicas * (i % length)

    def __getitem__(self, index: int) -> Any:
        """The index-th source index of this rank's epoch (random access); with
        `copy_seeds`, the (index, seed) pair."""
        order = self._order_now()
        length = self._length
        if self.copy_seeds:
            return self._getitems([index])[0]
        # NOTE: the common case, a Python int in range, is checked inline:
        # this runs once per element under Grain's MapDataset.
        if type(index) is int and 0 <= index < length:
            return order.at(self.rank + self.num_replicas * index)
        return order.at(self._slot(index))

    def _getitems(self, indices: Sequence[int]) -> list[Any]:
        """Many source indices (or pairs) at once (Grain's batched read)."""
        slots = np.fromiter((self._slot(i) for i in indices), np.int64)
        array = self._order_now().take(slots)
        return self._paired(slots, array) if self.copy_seeds else array.tolist()

    def _listed(self, first: int, array: np.ndarray) -> list[Any]:
        """This rank's indices from element `first` on, as ints or pairs."""
        if not self.copy_seeds:
            return array.tolist()
        return self._paired(self._slots(first, first + array.size), array)

    def _paired(self, slots: np.ndarray, array: np.ndarray) -> list[Any]:
        """(index, seed) pairs of the source indices `array` at `slots`."""
        seeds = self._seeds_at(slots, array)
        return list(zip(array.tolist(), seeds.tolist(), strict=True))

    def _seeds_at(self, slots: np.ndarray, array: np.ndarray) -> np.ndarray:
        copies = self._order_now().copy_numbers(slots)
        return _seeding.copy_seeds(self.plan.seed, self._epoch, array, copies)

    def _slots(self, first: int, last: int) -> np.ndarray:
        """The epoch slots of this rank's elements [first, last)."""
        return self.rank + self.num_replicas * np.arange(first, last, dtype=np.int64)

    def _window_of(self, first: int, last: int) -> np.ndarray:
        """This rank's indices [first, last) (its slots are a run)."""
        slot = self.rank + self.num_replicas * first
        return self._order_now().run(slot, last - first, self.num_replicas)

    def indices(self, start: int | None = None, stop: int | None = None) -> np.ndarray:
        """Positions [start, stop) of this rank's epoch as an int64 array (what
        iteration yields there); by default the whole epoch. A window costs
        its own length, whatever the epoch's, so a loader can take a million
        indices at a time from an epoch of 10**9."""
        first, last = self._window(start, stop)
        if first == 0 and last == len(self):
            return self._order_now().whole(self.rank, self.num_replicas)
        return self._window_of(first, last)

    def seeds(self, start: int | None = None, stop: int | None = None) -> np.ndarray:
        """The copy seed of each element of `indices(start, stop)`, uint64."""
        first, last = self._window(start, stop)
        return self._seeds_at(self._slots(first, last), self.indices(first, last))

    def _window(self, start: object, stop: object) -> tuple[int, int]:
        """`start` and `stop` checked against this rank's epoch: ints in
        [0, len(self)], start <= stop."""
        length = len(self)
        first = 0 if start is None else check_int(start, "start")
        last = length if stop is None else check_int(stop, "stop")
        for name, value in (("start", first), ("stop", last)):
            if value > length:
                raise ValueError(
                    f"`{name}` must be in [0, {length}] (this rank's epoch); got"
                    f" {name}={value}."
                )
        if first > last:
            raise ValueError(
                f"`start` must be <= `stop`; got start={first}, stop={last}."
            )
        return first, last

    def _begun(self) -> int:
        """Starts an iteration: the position it starts from (a restored one
        is now under way, so `set_epoch` may move on after it)."""
        self._restored = False
        return self.position

    def _pieces(self, start: int, piece: int) -> Iterator[tuple[int, np.ndarray]]:
        """(first position, indices) pieces of this rank's epoch from `start`."""
        self._restored = False
        length = len(self)
        whole = self.indices() if length - start <= _WHOLE_EPOCH else None
        block = piece * max(1, _BLOCK // piece)
        for first in range(start, length, block):
            last = min(first + block, length)
            if whole is not None:
                array = whole[first:last]
            else:
                array = self._window_of(first, last)
            for low in range(first, last, piece):
                yield low, array[low - first : low - first + piece]

    def _lists(self, start: int) -> Iterator[Iterator[int]]:
        for low, array in self._pieces(start, _PIECE):
            items = iter(self._listed(low, array))
            self._reading = (low, array.size, items)
            yield items
        self._moved_to(0)

    def _moved_to(self, position: int) -> None:
        """Records that the next element to yield is at `position`."""
        self._reading = None
        self._position = position

    def __iter__(self) -> Iterator[int]:
        # NOTE: a C-level chain over lists of Python ints runs no Python code
        # per element; the position is read off the list iterator
        # (`length_hint`) only when a state is asked for.
        _ranks.check("ovs.Sampler", self.num_replicas)
        return itertools.chain.from_iterable(self._lists(self.position))

    @property
    def position(self) -> int:
        """Elements of this rank's epoch already yielded."""
        if self._reading is None:
            return self._position
        low, size, items = self._reading
        return low + size - operator.length_hint(items)

    # Resuming.

    def __getstate__(self) -> dict[str, Any]:
        # NOTE: workers (Grain's processes, for one) receive the sampler by
        # pickle; the epoch's order holds compiled functions and is rebuilt.
        state = dict(self.__dict__)
        state.update(_position=self.position, _reading=None, _layout=None)
        return state

    def state_dict(self) -> dict[str, Any]:
        """A small JSON-able state: where this rank is in which epoch."""
        return {
            "version": _STATE_VERSION,
            "rule": _rule.VERSION,
            "plan": self.plan.fingerprint,
            "history": self.plan.history(self._epoch),
            "seed": self.plan.seed,
            "num_replicas": self.num_replicas,
            "rank": self.rank,
            "shuffle": self.shuffle,
            "drop_last": self.drop_last,
            "copy_seeds": self.copy_seeds,
            "epoch": self._epoch,
            "position": self.position,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores a state from `state_dict`; refuses another configuration."""
        names = ("seed", "num_replicas", "rank", "shuffle", "drop_last")
        mine = self.state_dict()
        _states.check("Sampler", state, mine, (*names, "copy_seeds"), self.plan)
        self._restored = False
        self.set_epoch(state["epoch"])
        position = check_int(state["position"], "state['position']")
        if position > len(self):
            raise ValueError(
                f"`state['position']`={position} is beyond this epoch's {len(self)}."
            )
        self._moved_to(position)
        self._restored = True

    get_state = state_dict
    set_state = load_state_dict


def _check_padded(plan: Plan, replicas: int, drop_last: bool) -> None:
    """An epoch padded to a multiple of the ranks must still have int64
    positions (a plan is refused above 2**63 - 1 copies; padding adds some)."""
    if drop_last or replicas == 1 or plan.kind != "classes":
        return
    largest = int(max(sum(row.tolist()) for row in plan.class_rule.targets))
    padded = -(-largest // replicas) * replicas
    if padded > MAX_TOTAL:
        raise ValueError(
            f"`num_replicas`={replicas} pads an epoch of {largest} copies to"
            f" {padded}, above 2**63 - 1 = {MAX_TOTAL} (positions are int64);"
            " use drop_last=True or a number of ranks that divides the epoch."
        )
