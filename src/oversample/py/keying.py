"""How a Python stream is read and keys its samples, for the keying
`oversample.sources` chose (`KEYINGS`): by position in one stream, by
(shard, position in the shard) in shards that this executor reads, or in a
stream whose examples name their shard (a library split them); and which
reader this process is among ranks and DataLoader workers.

Each keying says how its source is read (its first example, the pieces one
read goes through, whether its samples can be held) and, made for one reader,
keys a block of examples with a small state (positions and running class
counts: O(classes), or O(open shards x classes)) that is saved and restored
as plain lists.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from oversample.core.keying import By
from oversample.core.shard_rule import within
from oversample.py.source import Field, Piece, head

TAGGED = (
    "a tagged stream is split by its own library, so no reader sees the samples"
    " to hold; use ovs.Shards(files, read) for the spread"
)


@dataclass(frozen=True)
class Unit:
    """A piece one reader reads in order: the whole stream, or one shard."""

    name: str
    open: Callable[[], Iterable[Any]]
    place: int  # shard place; 0 for one stream


@dataclass(frozen=True)
class Block:
    """What a block of examples gets from its keying."""

    keys: np.ndarray  # the plan's sample index of each example
    occurrence: np.ndarray | None  # in its class, when classes are read
    mine: np.ndarray | None  # examples this reader streams (None: all)


def _checked(occurrence: np.ndarray, limit: np.ndarray, where: str, index: Any) -> None:
    over = occurrence >= limit
    if over.any():
        column = int(np.asarray(index)[over][0])
        raise ValueError(
            f"{where} holds more samples of class index {column} than were counted"
            f" ({int(np.asarray(limit)[over][0])}); count the same data you stream."
        )


class ByPosition:
    """One iterable, keyed by position. With several readers, reader g of G
    streams the positions p with p % G == g (every reader reads all)."""

    sharded = False
    unheld: str | None = None

    @staticmethod
    def first(source: Any) -> Any:
        """The first example, once the source is checked to start over."""
        examples = iter(source)
        if examples is source:
            raise TypeError(
                f"the source is a one-shot iterator ({type(source).__name__}): it"
                " is read in the same order more than once. Give an iterable that"
                " starts over on every iter(): a list, a dataset object, or a"
                " class whose __iter__ returns a new generator."
            )
        return head(examples)

    @staticmethod
    def pieces(source: Any) -> list[Piece]:
        return [Piece(source)]

    @staticmethod
    def keys(source: Any, counts: Any, samples: int | None) -> Keys:
        """The value every reader makes its keying from (`counts`: the
        plan's class counts, or None when classes are not read)."""
        return Keys(ByPosition, source, counts, samples)

    def __init__(self, keys: Keys, reader: int = 0, readers: int = 1) -> None:
        self.source, self.samples, self.counts = keys.source, keys.samples, keys.counts
        self.reader, self.readers = reader, readers

    def units(self) -> list[Unit]:
        return [Unit("the stream", lambda: self.source, 0)]

    def start(self, unit: Unit) -> dict[str, Any]:
        classes = 0 if self.counts is None else self.counts.size
        return {"position": 0, "seen": [0] * classes}

    def block(
        self,
        unit: Unit,
        state: dict[str, Any],
        count: int,
        index: np.ndarray | None,
        examples: list[Any] | None = None,
    ) -> Block:
        first = state["position"]
        keys = np.arange(first, first + count, dtype=np.int64)
        state["position"] = first + count
        occurrence = None
        if index is not None and self.counts is not None:
            seen = np.asarray(state["seen"], np.int64)
            occurrence = seen[index] + within(index)
            _checked(occurrence, self.counts[index], "the stream", index)
            state["seen"] = seen + np.bincount(index, minlength=seen.size)
        mine = None if self.readers == 1 else keys % self.readers == self.reader
        return Block(keys, occurrence, mine)

    def length(self, unit: Unit) -> int | None:
        return self.samples

    def finish(self, unit: Unit, state: dict[str, Any]) -> None:
        if self.samples is not None and state["position"] != self.samples:
            raise ValueError(
                f"the stream ended after {state['position']} samples, but the plan"
                f" covers {self.samples}; plan on the same data you stream."
            )


class ByShard:
    """Shards this executor reads, a file at a time: reader g of G reads the
    files g, g + G, ... Keys are (shard, position in the shard), through the
    per-shard counts."""

    sharded = True
    unheld: str | None = None

    @staticmethod
    def first(source: Any) -> Any:
        return head(iter(source.read(source.files[0])))

    @staticmethod
    def pieces(source: Any) -> list[Piece]:
        return [Piece(source.read(f), place) for place, f in enumerate(source.files)]

    @staticmethod
    def keys(source: Any, counts: Any, samples: int | None) -> Keys:
        return Keys(ByShard, source, counts)

    def __init__(self, keys: Keys, reader: int = 0, readers: int = 1) -> None:
        self.files: list[str] = list(keys.source.files)
        self.read: Callable[[str], Iterable[Any]] = keys.source.read
        self.counts = keys.counts
        self.reader, self.readers = reader, readers

    def units(self) -> list[Unit]:
        places = range(self.reader, len(self.files), self.readers)
        return [
            Unit(f"shard {p} ({self.files[p]!r})", self._opener(p), p) for p in places
        ]

    def _opener(self, place: int) -> Callable[[], Iterable[Any]]:
        return lambda: self.read(self.files[place])

    def start(self, unit: Unit) -> dict[str, Any]:
        return {"position": 0, "seen": [0] * len(self.counts.classes)}

    def block(
        self,
        unit: Unit,
        state: dict[str, Any],
        count: int,
        index: np.ndarray | None,
        examples: list[Any] | None = None,
    ) -> Block:
        place = unit.place
        first = state["position"]
        positions = np.arange(first, first + count, dtype=np.int64)
        state["position"] = first + count
        if state["position"] > int(self.counts.per_shard[place]):
            raise ValueError(
                f"{unit.name} holds more than the {int(self.counts.per_shard[place])}"
                " samples counted in it; count it again."
            )
        occurrence = None
        if index is not None:
            seen = np.asarray(state["seen"], np.int64)
            inside = seen[index] + within(index)
            _checked(inside, self.counts.table[place, index], unit.name, index)
            occurrence = self.counts.offsets[place, index] + inside
            state["seen"] = seen + np.bincount(index, minlength=seen.size)
        keys = int(self.counts.starts[place]) + positions
        return Block(keys, occurrence, None)

    def length(self, unit: Unit) -> int | None:
        return int(self.counts.per_shard[unit.place])

    def finish(self, unit: Unit, state: dict[str, Any]) -> None:
        expected = int(self.counts.per_shard[unit.place])
        if state["position"] != expected:
            raise ValueError(
                f"{unit.name} yielded {state['position']} samples but {expected}"
                " were counted; count it again (or read it whole)."
            )


class ByTag:
    """A stream whose examples name their shard (WebDataset's "__url__"), split
    over ranks and workers by its own library: each shard must reach one
    reader whole and in order, which is checked."""

    sharded = True
    unheld: str | None = TAGGED  # NOTE: each reader sees only its own shards

    @staticmethod
    def first(source: Any) -> Any:
        return head(iter(source.stream))

    @staticmethod
    def pieces(source: Any) -> list[Piece]:
        tag = Field.of(source.tag, ByTag.first(source), "tag")
        places = {name: place for place, name in enumerate(source.files)}
        return [Piece(source.stream, tag=tag, places=places)]

    @staticmethod
    def keys(source: Any, counts: Any, samples: int | None) -> Keys:
        tag = Field.of(source.tag, ByTag.first(source), "tag")
        return Keys(ByTag, source.stream, counts, tag=tag)

    def __init__(self, keys: Keys, reader: int = 0, readers: int = 1) -> None:
        assert keys.tag is not None
        self.source, self.tag, self.counts = keys.source, keys.tag, keys.counts
        self.place = {name: place for place, name in enumerate(self.counts.files)}

    def units(self) -> list[Unit]:
        return [Unit("the stream", lambda: self.source, 0)]

    def start(self, unit: Unit) -> dict[str, Any]:
        return {"open": {}, "done": []}  # place -> [position, seen...]

    def places(self, examples: list[Any]) -> np.ndarray:
        names = [str(self.tag.value(e, "tag")) for e in examples]
        unknown = [n for n in names if n not in self.place]
        if unknown:
            raise ValueError(
                f"an example names shard {unknown[0]!r}, which the counts do not"
                f" hold; the counted shards are {list(self.counts.files)[:3]}..."
            )
        return np.asarray([self.place[n] for n in names], np.int64)

    def block(
        self,
        unit: Unit,
        state: dict[str, Any],
        count: int,
        index: np.ndarray | None,
        examples: list[Any] | None = None,
    ) -> Block:
        if index is None or examples is None:
            raise ValueError(
                "a tagged stream keys its samples by class: balance it with"
                " per-class targets."
            )
        places = self.places(examples)
        classes = len(self.counts.classes)
        positions = np.empty(count, np.int64)
        occurrence = np.empty(count, np.int64)
        for place in np.unique(places).tolist():
            rows = np.flatnonzero(places == place)
            if place in state["done"]:
                raise ValueError(
                    f"shard {place} ({self.counts.files[place]!r}) comes again after"
                    " it was read whole: each shard must be read once per epoch."
                )
            opened = state["open"].setdefault(str(place), [0] + [0] * classes)
            seen = np.asarray(opened[1:], np.int64)
            positions[rows] = opened[0] + np.arange(rows.size)
            inside = seen[index[rows]] + within(index[rows])
            name = f"shard {place} ({self.counts.files[place]!r})"
            _checked(inside, self.counts.table[place, index[rows]], name, index[rows])
            occurrence[rows] = self.counts.offsets[place, index[rows]] + inside
            seen += np.bincount(index[rows], minlength=classes)
            opened[0] += rows.size
            opened[1:] = seen.tolist()
            if opened[0] == int(self.counts.per_shard[place]):
                del state["open"][str(place)]
                state["done"].append(place)
        keys = self.counts.starts[places] + positions
        return Block(keys, occurrence, None)

    def length(self, unit: Unit) -> int | None:
        return None

    def finish(self, unit: Unit, state: dict[str, Any]) -> None:
        for place, opened in state["open"].items():
            total = int(self.counts.per_shard[int(place)])
            raise ValueError(
                f"shard {place} ({self.counts.files[int(place)]!r}) reached this"
                f" reader in part ({opened[0]} of {total} samples): the stream splits"
                " samples, not shards (use a shard splitter, e.g. WebDataset's"
                " split_by_node and split_by_worker)."
            )


@dataclass(frozen=True)
class Keys:
    """The keying of a stream, made for one reader in its process (a plain
    value, so that DataLoader workers receive it by pickle)."""

    keying: type[ByPosition | ByShard | ByTag]
    source: Any
    counts: Any
    samples: int | None = None
    tag: Field | None = None

    def __call__(self, reader: int, readers: int) -> ByPosition | ByShard | ByTag:
        return self.keying(self, reader, readers)


KEYINGS: dict[By, type[ByPosition | ByShard | ByTag]] = {
    By.POSITION: ByPosition,
    By.SHARD: ByShard,
    By.TAG: ByTag,
}


# Which reader this process is.


def replicas() -> tuple[int, int]:
    """(num_replicas, rank): the RANK and WORLD_SIZE variables when set (as
    WebDataset reads them), else torch.distributed when initialised, else
    (1, 0)."""
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        return int(os.environ["WORLD_SIZE"]), int(os.environ["RANK"])
    torch = sys.modules.get("torch")
    if torch is not None:
        distributed = torch.distributed
        if distributed.is_available() and distributed.is_initialized():
            return distributed.get_world_size(), distributed.get_rank()
    return 1, 0


def workers() -> tuple[int, int]:
    """(num_workers, worker id) of the DataLoader worker this runs in, or (1, 0)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        info = torch.utils.data.get_worker_info()
        if info is not None:
            return info.num_workers, info.id
    return 1, 0


def reader(split: tuple[int, int] | None) -> tuple[int, int]:
    """(this reader's index, the number of readers) over ranks and workers;
    `split` (num_replicas, rank) overrides the rank."""
    world, rank = replicas() if split is None else split
    count, worker = workers()
    return rank * count + worker, world * count
