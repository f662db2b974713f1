"""The balanced Python stream: a reader (one process, one DataLoader worker
on one rank) reads its units (the stream, or its shards) a block at a time;
the plan's rule (`oversample.core.rule`) decides each sample's copies, and a
block's copies are laid out in a seeded order with the held copies (the
spread) it owns. A block's output is a pure function of (seed, epoch, the
block's keys, the keying state before it), so the state saved at any element
is where the block began (O(classes) numbers) and how many of its elements
were yielded; a restore reads the unit again up to the block and lays it out
anew."""

from __future__ import annotations

import collections
import copy
import ctypes
import itertools
import multiprocessing.context
import multiprocessing.sharedctypes
import operator
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from oversample.core import identity as _identity
from oversample.core import rule as _rule
from oversample.core import seeding as _seeding
from oversample.core import states as _states
from oversample.core.labels import ClassIndex
from oversample.core.marks import Marking
from oversample.core.plan import Plan
from oversample.core.rule import ClassRule, WholeRule
from oversample.core.validation import check_int, check_split, describe
from oversample.py import keying as _keying
from oversample.py import spread as _held
from oversample.py.source import Field, labels_of

STATE_VERSION = 2  # 2: every stream carries a plan's fingerprint (rule version 2)
HELD_BLOCK = 1 << 14  # keys per block when every class is held, at most
HELD_SLOTS = 1 << 17  # and held copies per such block, about
PART = 1024  # a block's elements gathered into one list at a time (`_parts`)


@dataclass
class Config:
    """What decides a stream's output, fixed when it is built."""

    keying: Any
    rule: Rule
    held: _held.Held | None
    seed: int
    epochs: tuple[int, ...] | None  # None: endless, from 0
    fixed: int | None  # epoch=k; with neither, the epoch of set_epoch
    block: int  # source examples per block; 0: no mixing
    marking: Marking  # what each output element carries besides itself
    identity: str  # fingerprint of the plan and the settings
    holding: str = "none"  # fingerprint of the samples held for the spread
    split: tuple[int, int] | None = None  # (num_replicas, rank) given
    all_held: bool = False  # every class held: the source needs no second read
    whole: bool = False  # one reader reads it all, whatever the workers
    stratified: int | None = None  # batches by class of this size (all held)
    extra: dict[str, Any] = field(default_factory=dict)


class Balanced:
    """A balanced stream of Python examples: iterate it for one epoch (or for
    `epochs=E` back to back). `set_epoch(e)` chooses the epoch of the next
    iteration, as with PyTorch's DistributedSampler. In a DataLoader with
    workers each worker reads its own share; `state_dict` on the iterator
    (torchdata's StatefulDataLoader calls it) resumes exactly."""

    def __init__(self, config: Config, plan: Any, spread: Any) -> None:
        self._config = config
        self.plan = plan
        self.spread = spread
        self.shard_counts: Any = None
        self._epoch = EpochCell(0)

    @property
    def epoch(self) -> int:
        """The epoch the next iteration yields (see `set_epoch`)."""
        return self._epoch.get()

    def set_epoch(self, epoch: int) -> None:
        """The epoch the next iteration yields (without `epoch=` or `epochs=`).
        It reaches DataLoader workers too, persistent ones included: the
        epoch lives in memory shared with the worker processes."""
        self._epoch.set(check_int(epoch, "epoch"))

    def split(self, num_replicas: int, rank: int) -> Balanced:
        """This stream as rank `rank` of `num_replicas` reads it (otherwise
        read from torch.distributed, or RANK and WORLD_SIZE)."""
        replicas, rank = check_split(num_replicas, rank)
        out = copy.copy(self)
        out._config = copy.copy(self._config)
        out._config.split = (replicas, rank)
        out._epoch = EpochCell(self.epoch)
        return out

    def whole(self) -> Balanced:
        """This stream read whole by one reader, in any DataLoader worker or
        rank (for a reader that splits the outputs itself, as a mixture)."""
        out = copy.copy(self)
        out._config = copy.copy(self._config)
        out._config.whole = True
        return out

    def _epochs(self) -> Iterator[int]:
        config = self._config
        if config.fixed is not None:
            return iter([config.fixed])
        if config.extra.get("streaming"):
            return (
                iter(config.epochs) if config.epochs is not None else itertools.count()
            )
        return iter([self._epoch.get()])

    def __iter__(self) -> StreamIterator:
        windows = _Windows(self)
        iterator = cast(StreamIterator, StreamIterator.from_iterable(windows))
        iterator.windows = windows
        return iterator

    def __repr__(self) -> str:
        return f"oversample stream ({self.spread}; plan {self.plan!r})"


class StreamIterator(itertools.chain[Any]):
    """The iterator of one pass: C-level iteration over each block's output,
    with `state_dict` / `load_state_dict` (torchdata's Stateful protocol)."""

    windows: _Windows

    def state_dict(self) -> dict[str, Any]:
        return self.windows.state()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.windows.restore(state)


class _Windows:
    """The generator of block outputs for one pass (an iterable of lists)."""

    def __init__(self, stream: Balanced) -> None:
        self.stream, self.config = stream, stream._config
        whole = self.config.whole
        self.reader = (0, 1) if whole else _keying.reader(self.config.split)
        self.resume: dict[str, Any] | None = None
        self.started = False
        self.where: dict[str, Any] = {"epoch": None, "done": False}
        self.current: Iterator[Any] | None = None
        self.before = 0  # the block's elements in the parts before `current`
        self.length = 0  # elements in `current`'s part

    def __iter__(self) -> Iterator[Iterator[Any]]:
        return self._run()

    def _identity(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "rule": _rule.VERSION,
            "identity": self.config.identity,
            "reader": list(self.reader),
            "holding": self.config.holding,
        }

    def state(self) -> dict[str, Any]:
        if self.resume is not None and not self.started:
            # NOTE: restored and not read yet: the state is the one restored
            return copy.deepcopy(self.resume)
        where = dict(self.where)
        if self.current is not None:
            where["emitted"] = (
                self.before + self.length - operator.length_hint(self.current)
            )
        if where.get("epoch") is not None:
            where["history"] = self.stream.plan.history(where["epoch"])
        return {**self._identity(), **copy.deepcopy(where)}

    def restore(self, state: dict[str, Any]) -> None:
        if self.started:
            raise ValueError("restore a state before the first element is read.")
        unknown = self.stream.plan.unknown_identity
        if unknown is not None:
            raise ValueError(
                f"`state` cannot be checked against this stream: {unknown}, so"
                f" the restore is refused. {_identity.HINT}"
            )
        mine = self._identity()
        names = ("identity", "reader")
        _states.check("stream", state, mine, names, self.stream.plan)
        if not self._holds_same(state.get("holding", mine["holding"])):
            raise ValueError(
                "`state` was saved by a stream that held other samples in memory"
                " to spread their copies; this plan's targets change what the"
                " stream holds, so the rest of the saved epoch would place copies"
                " elsewhere. Resume under targets that hold the same classes, or"
                " build both streams with spread=None."
            )
        self.resume = copy.deepcopy(state)

    def _holds_same(self, holding: str) -> bool:
        """Whether a state's `holding` names the samples this stream holds."""
        held = self.config.held
        if holding == self.config.holding:
            return True
        return held is not None and holding == held.fingerprint(legacy=True)

    def _run(self) -> Iterator[Iterator[Any]]:
        self.started = True
        config, resume = self.config, self.resume
        keying = config.keying(*self.reader)
        units = keying.units()
        for epoch in self.stream._epochs():
            if resume is not None and resume["done"]:
                break
            saved = None if resume is None else resume["epoch"]
            if saved is not None and epoch < saved:
                continue
            for place, unit in enumerate(units):
                if resume is not None and resume.get("unit", 0) > place:
                    continue
                yield from self._unit(epoch, place, unit, keying, resume)
                resume = None
        self.where = {"epoch": None, "done": True}
        self.current = None

    def _unit(
        self, epoch: int, place: int, unit: Any, keying: Any, resume: Any
    ) -> Iterator[Iterator[Any]]:
        config = self.config
        state = keying.start(unit)
        skip = 0
        if resume is not None and resume.get("epoch") == epoch:
            state = copy.deepcopy(resume["keying"])
            skip = resume.get("emitted", 0)
        size = config.block or 1024
        length = keying.length(unit) if config.all_held else None
        if config.stratified is not None:
            # NOTE: the unit's whole epoch is one block, laid out by class.
            assert length is not None
            size = max(length, 1)
        elif length is not None:
            # NOTE: with every class held, the keys alone make the output (in
            # slot order, whatever the blocks), so blocks can be larger than
            # a shuffle buffer: fewer, longer NumPy passes, up to HELD_SLOTS
            # copies a block.
            assert config.held is not None
            wide = config.held.keys_for(HELD_SLOTS, epoch)
            size = max(size, min(HELD_BLOCK, wide))
        # NOTE: with every class held, the pass before streaming read every
        # example; the keys alone say which held copies a block owns.
        source = None if length is not None else iter(unit.open())
        if source is not None and state.get("position"):
            collections.deque(itertools.islice(source, state["position"]), maxlen=0)
        while True:
            if source is None:
                assert length is not None
                count = min(size, length - state["position"])
                examples: list[Any] | None = None if count > 0 else []
            else:
                examples = list(itertools.islice(source, size))
                count = len(examples)
            if not count:
                break
            self.where = {
                "epoch": epoch,
                "unit": place,
                "position": state.get("position", 0),
                "keying": _snapshot(state),
                "done": False,
            }
            if examples is None:
                pool, rows = self._held(epoch, keying, unit, state, count)
            else:
                pool, rows = lay_out(config, keying, unit, state, examples, epoch)
            self.before, skip = skip, 0
            for part in _parts(pool, rows[self.before :]):
                self.length = len(part)
                self.current = iter(part)
                yield self.current
                self.before += self.length
        keying.finish(unit, state)

    def _held(
        self, epoch: int, keying: Any, unit: Any, state: dict[str, Any], count: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """A block of a stream that holds every class: the held copies its
        keys own, as (pool, rows) for `_parts`."""
        held = self.config.held
        assert held is not None
        block = keying.block(unit, state, count, None)
        owners = block.keys if block.mine is None else block.keys[block.mine]
        if self.config.stratified is not None:
            draw = _seeding.rng(self.config.seed, "by-class", epoch, *self.reader)
            pool = held.stratified(owners, epoch, self.config.stratified, draw)
            return pool, np.arange(pool.size)
        rows = held.owned_rows(owners, epoch)
        if rows is None:  # NOTE: marks asked for: pairs made by the held copies
            pool = held.owned(owners, epoch)
            return pool, np.arange(pool.size)
        return held.examples, rows


class EpochCell:
    """The epoch of `set_epoch` in shared memory: a DataLoader worker gets the
    stream once (persistent workers keep it), so a plain attribute set in the
    main process would never reach it. Passed to a starting process the cell
    stays shared; pickled any other way it becomes a copy of its own."""

    def __init__(self, epoch: int) -> None:
        self._cell = _shared_int(epoch)

    def get(self) -> int:
        return int(self._cell.value)

    def set(self, epoch: int) -> None:
        self._cell.value = epoch

    def __getstate__(self) -> dict[str, Any]:
        if multiprocessing.context.get_spawning_popen() is not None:
            return {"cell": self._cell}
        return {"epoch": self.get()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "cell" in state:
            self._cell = state["cell"]
        else:
            self._cell = _shared_int(state["epoch"])


def _shared_int(value: int) -> Any:
    return multiprocessing.sharedctypes.RawValue(ctypes.c_int64, value)


def _snapshot(state: dict[str, Any]) -> dict[str, Any]:
    """A copy of a keying state (ints, lists of ints, dicts of such lists)."""
    out: dict[str, Any] = {}
    for name, value in state.items():
        if isinstance(value, np.ndarray):
            out[name] = value.tolist()
        elif isinstance(value, list):
            out[name] = list(value)
        elif isinstance(value, dict):
            out[name] = {k: list(v) for k, v in value.items()}
        else:
            out[name] = value
    return out


class Rule:
    """A block's copies, read off the plan's rule (the core's function): by
    class and occurrence, from the plan's copies of each sample (a weights
    plan), or as whole copies (every sample, chosen positions, a predicate
    or a per-class table)."""

    def __init__(self, plan: Plan, field: Field | None) -> None:
        self.plan, self.field = plan, field
        self.rule = plan.rule
        by_class = isinstance(self.rule, ClassRule)
        self.index = ClassIndex(plan.classes) if by_class else None
        self.held: np.ndarray | None = None  # per class: streamed from memory
        self._epoch: int | None = None
        self._copies = np.zeros(0, np.int64)

    @property
    def by_class(self) -> bool:
        return self.index is not None

    def classes(self, examples: list[Any]) -> np.ndarray | None:
        """Each example's class index, when copies are decided by class."""
        if self.index is None:
            return None
        assert self.field is not None
        return self.index(labels_of(self.field, examples, self.index.strings))

    def copies(
        self,
        examples: list[Any],
        index: np.ndarray | None,
        occurrence: np.ndarray | None,
        keys: np.ndarray,
        epoch: int,
    ) -> np.ndarray:
        """The copies in `epoch` of a block's examples; a held sample streams
        none."""
        rule = self.rule
        if isinstance(rule, ClassRule):
            assert index is not None and occurrence is not None
            out = rule.copies(index, occurrence, epoch, keys.astype(np.uint64))
            if self.held is not None:
                out[self.held[index]] = 0
            return out
        if isinstance(rule, WholeRule):
            if rule.selection == "where":
                assert rule.where is not None
                hits = [_truth(rule.where(e)) for e in examples]
                return rule.copies_if(np.asarray(hits, bool))
            if rule.selection == "classes":
                assert self.field is not None and rule.table is not None
                strings = isinstance(next(iter(rule.table)), str)
                return rule.copies_of(labels_of(self.field, examples, strings))
            return rule.copies_at(keys)
        if self._epoch != epoch:
            self._copies, self._epoch = self.plan.copies(epoch), epoch
        if keys.size and int(keys.max()) >= self._copies.size:
            raise ValueError(
                f"the stream holds more than the {self._copies.size} samples the"
                " plan was made for; plan on the same data you stream."
            )
        return self._copies[keys]


# A block laid out.


def _parts(pool: np.ndarray, rows: np.ndarray) -> Iterator[list[Any]]:
    """`pool[rows]` as lists of PART elements, each gathered when the one
    before is read.

    NOTE: a consumer then meets each element while the gather has left it in
    the cache; held copies are examples met at random, and a block's 18,000 at
    once had left the cache before they were yielded (4.2 x 10**6 held copies
    gathered, listed and counted: 0.67 s in parts of 18,000, 0.46 s in parts
    of 1,024)."""
    for first in range(0, rows.size, PART):
        yield pool[rows[first : first + PART]].tolist()


def lay_out(
    config: Any,
    keying: Any,
    unit: Any,
    state: dict[str, Any],
    examples: list[Any],
    epoch: int,
) -> tuple[np.ndarray, np.ndarray]:
    """One block's output: every streamed copy and every held copy it owns, in
    a seeded order, as (pool, rows): the output is `pool[rows]`."""
    rule, count = config.rule, len(examples)
    index = rule.classes(examples)
    block = keying.block(unit, state, count, index, examples)
    copies = rule.copies(examples, index, block.occurrence, block.keys, epoch)
    mine = block.mine
    if mine is not None:
        copies = np.where(mine, copies, 0)
    rows = np.repeat(np.arange(count), copies)
    held: np.ndarray | list[Any] = []
    if config.held is not None:
        owners = block.keys if mine is None else block.keys[mine]
        held = config.held.owned(owners, epoch)
    if config.marking.wanted:
        first = np.repeat(np.cumsum(copies) - copies, copies)
        numbers = np.arange(rows.size) - first
        streamed = [examples[r] for r in rows.tolist()]
        out = config.marking.pairs(streamed, block.keys[rows], numbers, epoch)
        out += list(held)
        laid = np.fromiter(out, dtype=object, count=len(out))
        if config.block and len(out) > 1:
            return laid, _order_of(config, block.keys, epoch, len(out))
        return laid, np.arange(len(out))
    # NOTE: the block is gathered from one pool of object references: the
    # streamed copies' rows and the held copies, in the block's seeded order.
    pool = np.fromiter(
        itertools.chain(examples, held), dtype=object, count=count + len(held)
    )
    rows = np.concatenate([rows, np.arange(count, pool.size)])
    if config.block and rows.size > 1:
        rows = rows[_order_of(config, block.keys, epoch, rows.size)]
    return pool, rows


def _order_of(config: Any, keys: np.ndarray, epoch: int, size: int) -> np.ndarray:
    """The seeded order of a block, from its first key."""
    return _seeding.rng(config.seed, "py-block", epoch, int(keys[0])).permutation(size)


def _truth(value: object) -> bool:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    item = getattr(value, "item", None)
    if callable(item) and tuple(getattr(value, "shape", ())) == ():
        inner = item()
        if isinstance(inner, bool):
            return inner
    raise TypeError(
        f"`where` must return a bool per example; it returned {describe(value)}."
    )
