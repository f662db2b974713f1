"""The random-access executor: a Sampler of source indices for PyTorch, Grain,
TFDS data_source, NumPy and Hugging Face datasets."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from oversample import _seeding
from oversample import rounding as _rounding
from oversample._validation import check_int, describe, is_int
from oversample.plan import Plan

_STATE_VERSION = 1
_CHUNK = 1 << 16
_GOLDEN = np.uint64(_seeding.GOLDEN64)
_ROUNDS = 4


class _Permutation:
    """A seeded bijection of [0, size): a Feistel network with cycle-walking.

    Any slot maps to its position in O(1), so an epoch's order is never stored.
    """

    def __init__(self, size: int, seed: int, epoch: int) -> None:
        bits = max(2, math.ceil(math.log2(max(size, 2))))
        bits += bits % 2
        self.size = size
        self.half = np.uint64(bits // 2)
        self.mask = np.uint64((1 << (bits // 2)) - 1)
        self.down = np.uint64(64 - bits // 2)
        self.keys = _seeding.raw_words(seed, _ROUNDS, "sampler-order", epoch)

    def _encrypt(self, x: np.ndarray) -> np.ndarray:
        left, right = x >> self.half, x & self.mask
        with np.errstate(over="ignore"):
            for key in self.keys:
                mixed = ((right ^ key) * _GOLDEN) >> self.down
                left, right = right, left ^ mixed
        return (left << self.half) | right

    def __call__(self, slots: np.ndarray) -> np.ndarray:
        out = self._encrypt(slots.astype(np.uint64))
        outside = np.flatnonzero(out >= self.size)
        while outside.size:
            out[outside] = self._encrypt(out[outside])
            outside = outside[out[outside] >= self.size]
        return out.astype(np.int64)


@dataclass(frozen=True)
class _Epoch:
    """One epoch's layout: how slot positions map to source indices."""

    total: int  # slots over all ranks, after padding or dropping
    change: int  # copies added (> 0) or dropped (< 0)
    starts: np.ndarray | None = None  # grouped by class: first slot per class
    base: np.ndarray | None = None
    extra: np.ndarray | None = None
    ends: np.ndarray | None = None  # source order: cumsum of copies

    @classmethod
    def in_source_order(cls, copies: np.ndarray, change: int) -> _Epoch:
        ends = np.cumsum(copies)
        return cls(int(ends[-1]), change, ends=ends)


class Sampler:
    """Yields the source indices of a plan's epoch, shuffled, split by rank.

    Epoch e yields exactly the multiset of `plan.copies(e)` in a global seeded
    shuffle (seed and epoch), computed on the fly: a Feistel permutation of the
    epoch's slots and a per-class layout, so memory stays O(classes) beyond
    the plan's per-sample data. Works as a PyTorch `Sampler` (sampler=...),
    with `sampler[i]` random access for Grain `MapDataset`, and with NumPy or
    Hugging Face `Dataset.select` through `np.fromiter(sampler, np.int64)`.

    With `num_replicas` > 1, rank r takes every num_replicas-th slot. When the
    epoch does not divide evenly, copies are added (or, with drop_last,
    removed) one per class, largest classes first, never removing a sample's
    only copy while another choice exists; `num_padded` and `num_dropped` say
    how many.

    Example:
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
    ) -> None:
        if not isinstance(plan, Plan):
            raise TypeError(f"`plan` must be an ovs.Plan; got plan={describe(plan)}.")
        if not plan.knows_samples:
            raise ValueError(
                "`plan` was made from class counts and knows no samples; make it"
                " with ovs.plan(labels, ...) for a Sampler."
            )
        for name, value in (("shuffle", shuffle), ("drop_last", drop_last)):
            if not isinstance(value, bool):
                raise TypeError(
                    f"`{name}` must be a bool; got {name}={describe(value)}."
                )
        replicas = check_int(num_replicas, "num_replicas", minimum=1)
        rank = check_int(rank, "rank")
        if rank >= replicas:
            raise ValueError(
                f"`rank` must be in [0, num_replicas={replicas}); got rank={rank}."
            )
        self.plan = plan
        self.shuffle = shuffle
        self.num_replicas = replicas
        self.rank = rank
        self.drop_last = drop_last
        self._epoch = 0
        self._position = 0
        self._layout: _Epoch | None = None

    # The epoch.

    @property
    def epoch(self) -> int:
        return self._epoch

    def set_epoch(self, epoch: int) -> None:
        """Chooses the epoch that the next iteration yields (from its start)."""
        value = check_int(epoch, "epoch")
        if value != self._epoch:
            self._layout = None
        self._epoch = value
        self._position = 0

    @property
    def _current(self) -> _Epoch:
        if self._layout is None:
            self._layout = self._build(self._epoch)
        return self._layout

    @property
    def num_padded(self) -> int:
        """Copies added in this epoch (over all ranks) to give every rank one length."""
        return max(self._current.change, 0)

    @property
    def num_dropped(self) -> int:
        """Copies removed in this epoch (over all ranks), with drop_last."""
        return max(-self._current.change, 0)

    def __len__(self) -> int:
        return self._current.total // self.num_replicas

    def _build(self, epoch: int) -> _Epoch:
        plan = self.plan
        if plan.kind == "classes" and plan.rounding == "exact":
            rule = plan._rule
            base, extra = rule.base.copy(), rule.extra.copy()
            change = self._change(int((base * rule.size + extra).sum()))
            self._adjust_classes(base, extra, change)
            if self.shuffle:
                per_class = base * rule.size + extra
                starts = np.concatenate([[0], np.cumsum(per_class)])
                total = int(per_class.sum())
                return _Epoch(total, change, starts=starts, base=base, extra=extra)
            assert plan._codes is not None
            copies = _rounding.exact_class_copies(
                rule, plan._codes, plan._order, epoch, base, extra
            )
        else:
            copies = plan.copies(epoch)
            change = self._change(int(copies.sum()))
            self._adjust_samples(copies, change, epoch)
        return _Epoch.in_source_order(copies, change)

    def _change(self, total: int) -> int:
        """Copies to add (> 0) or drop (< 0) so that every rank gets one length."""
        remainder = total % self.num_replicas
        if not remainder:
            return 0
        return -remainder if self.drop_last else self.num_replicas - remainder

    def _adjust_classes(self, base: np.ndarray, extra: np.ndarray, change: int) -> None:
        """One copy more (or less) for `change` classes, largest classes first."""
        size = self.plan._rule.size
        totals = base * size + extra
        order = np.lexsort((np.arange(size.size), -totals))
        if change < 0:
            keeps_everyone = totals > size
            order = np.concatenate(
                [order[keeps_everyone[order]], order[~keeps_everyone[order]]]
            )
        for step in range(abs(change)):
            c = order[step % order.size]
            if change > 0:
                extra[c] += 1
                if extra[c] == size[c]:
                    base[c], extra[c] = base[c] + 1, 0
            elif extra[c] > 0:
                extra[c] -= 1
            else:
                base[c], extra[c] = base[c] - 1, size[c] - 1

    def _adjust_samples(self, copies: np.ndarray, change: int, epoch: int) -> None:
        """Pads or drops single copies of seeded random samples."""
        if not change:
            return
        choose = _seeding.rng(self.plan.seed, "sampler-adjust", epoch)
        if change > 0:
            chosen = choose.choice(
                copies.size, size=change, replace=change > copies.size
            )
            np.add.at(copies, chosen, 1)
            return
        spare = np.flatnonzero(copies > 1)
        pool = spare if spare.size >= -change else np.flatnonzero(copies > 0)
        chosen = choose.choice(pool, size=-change, replace=False)
        copies[chosen] -= 1

    # Indices.

    def _sources(self, slots: np.ndarray) -> np.ndarray:
        """Source indices at these slots of the epoch (all ranks' numbering)."""
        layout = self._current
        positions = (
            _Permutation(layout.total, self.plan.seed, self._epoch)(slots)
            if self.shuffle
            else slots
        )
        if layout.ends is not None:
            return np.searchsorted(layout.ends, positions, side="right")
        assert layout.starts is not None and layout.base is not None
        assert layout.extra is not None
        rule = self.plan._rule
        owner = np.searchsorted(layout.starts, positions, side="right") - 1
        inside = positions - layout.starts[owner]
        base, extra = layout.base[owner], layout.extra[owner]
        holders = extra * (base + 1)
        place = np.where(
            inside < holders,
            inside // (base + 1),
            extra + (inside - holders) // np.maximum(base, 1),
        )
        occurrence = _rounding.window_occurrence(rule, self._epoch, owner, place)
        first = np.cumsum(rule.size) - rule.size
        return self.plan._order[first[owner] + occurrence].astype(np.int64)

    def __getitem__(self, index: int) -> int:
        """The index-th source index of this rank's epoch (random access)."""
        if not is_int(index):
            raise TypeError(f"`index` must be an int; got index={describe(index)}.")
        i = int(index)
        length = len(self)
        if not -length <= i < length:
            raise IndexError(
                f"index {index} is out of range for a sampler of {length}."
            )
        slot = self.rank + self.num_replicas * (i % length)
        return int(self._sources(np.array([slot]))[0])

    def indices(self) -> np.ndarray:
        """This rank's whole epoch as an int64 array (what iteration yields)."""
        return np.concatenate(list(self._chunks(0)) or [np.zeros(0, np.int64)])

    def _chunks(self, start: int) -> Iterator[np.ndarray]:
        length = len(self)
        for low in range(start, length, _CHUNK):
            steps = np.arange(low, min(low + _CHUNK, length), dtype=np.int64)
            yield self._sources(self.rank + self.num_replicas * steps)

    def __iter__(self) -> Iterator[int]:
        start = self._position
        for chunk in self._chunks(start):
            for index in chunk.tolist():
                self._position += 1
                yield index
        self._position = 0

    # Resuming.

    def state_dict(self) -> dict[str, Any]:
        """A small JSON-able state: where this rank is in which epoch."""
        return {
            "version": _STATE_VERSION,
            "plan": self.plan.fingerprint,
            "seed": self.plan.seed,
            "num_replicas": self.num_replicas,
            "rank": self.rank,
            "shuffle": self.shuffle,
            "drop_last": self.drop_last,
            "epoch": self._epoch,
            "position": self._position,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores a state from `state_dict`; refuses another configuration."""
        if not isinstance(state, dict) or state.get("version") != _STATE_VERSION:
            raise ValueError(
                f"`state` is not a Sampler state of version {_STATE_VERSION}; got"
                f" {describe(state)}."
            )
        mine = self.state_dict()
        differ = [
            f"{name}: saved {state.get(name)!r}, here {mine[name]!r}"
            for name in ("plan", "seed", "num_replicas", "rank", "shuffle", "drop_last")
            if state.get(name) != mine[name]
        ]
        if differ:
            raise ValueError(
                "`state` was saved from a Sampler with another configuration ("
                + "; ".join(differ)
                + "); restore it into the same plan, seed and split."
            )
        self.set_epoch(state["epoch"])
        position = check_int(state["position"], "state['position']")
        if position > len(self):
            raise ValueError(
                f"`state['position']`={position} is beyond this epoch's {len(self)}."
            )
        self._position = position

    get_state = state_dict
    set_state = load_state_dict
