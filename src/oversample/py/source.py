"""A Python source before it streams: its first example (and whether it
starts over), the pieces a read takes, and its reader for the one preparation
(`oversample.core.prepare`)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from typing import Any

from oversample.core.plan import Plan
from oversample.core.prepare import Counted
from oversample.core.shard_counts import ShardCounts
from oversample.py import passes as _passes
from oversample.py.fields import Field
from oversample.shards import Shards

TAGGED = (
    "a tagged stream is split by its own library, so no reader sees the samples"
    " to hold; use ovs.Shards(files, read) for the spread"
)


class Once:
    """A one-shot iterator (a generator, a socket's records) given with its
    counts: read once, for one epoch; a second read is refused, never empty."""

    def __init__(self, head: Any, rest: Iterator[Any], name: str) -> None:
        self._examples: Iterator[Any] | None = itertools.chain([head], rest)
        self.name = name

    def __iter__(self) -> Iterator[Any]:
        examples, self._examples = self._examples, None
        if examples is None:
            raise TypeError(
                f"the source is a one-shot iterator ({self.name}) and was read once"
                " already; give an iterable that starts over on every iter() to"
                " stream it again."
            )
        return examples


class IterableReader:
    """The reader of a Python source: an iterable keyed by position, or
    `ovs.Shards` keyed by (shard, position in the shard)."""

    def __init__(self, source: Any, label: Any) -> None:
        self.sharded = isinstance(source, Shards)
        self.name = type(source).__name__
        self.once = False
        if self.sharded:
            head = first(source)
        else:
            examples = iter(source)
            self.once = examples is source
            head = _head(examples)
            if self.once:
                source = Once(head, examples, self.name)
        self.source = source
        self.field = Field.of(label, head)

    def check(self, counts: ShardCounts | None, plan: Plan | None) -> None:
        if self.sharded and counts is not None:
            counts.check_files(list(self.source.files), sizes(self.source))
            if plan is not None:
                counts.check_plan(plan)

    def unheld(self, plan: Plan | None) -> str | None:
        if self.sharded and self.source.stream is not None:
            # NOTE: each reader of a tagged stream sees only the shards its
            # library gives it, so no reader can hold the samples of the others.
            return TAGGED
        return None

    def count(self, progress: bool) -> Counted:
        return self.collect(0, None, progress)[1]

    def collect(
        self, budget: int, plan: Plan | None, progress: bool
    ) -> tuple[_passes.Found, Counted]:
        found = _passes.read(pieces(self.source), self.field, budget, plan, progress)
        counts = None
        if self.sharded and plan is None:
            counts = shard_counts(self.source, found)
        return found, Counted(found.pairs, shard_counts=counts)


def pieces(source: Any) -> list[_passes.Piece]:
    if isinstance(source, Shards) and source.stream is not None:
        tag = Field.of(source.tag, first(source), "tag")
        places = {name: place for place, name in enumerate(source.files)}
        return [_passes.Piece(source.stream, tag=tag, places=places)]
    if isinstance(source, Shards):
        return [
            _passes.Piece(source.read(f), place) for place, f in enumerate(source.files)
        ]
    return [_passes.Piece(source)]


def first(source: Any) -> Any:
    """The first example, after checking that the source starts over."""
    if isinstance(source, Shards):
        examples = (
            source.stream if source.stream is not None else source.read(source.files[0])
        )
        return _head(iter(examples))
    examples = iter(source)
    if examples is source:
        raise TypeError(
            f"the source is a one-shot iterator ({type(source).__name__}): it is"
            " read in the same order more than once. Give an iterable that starts"
            " over on every iter(): a list, a dataset object, or a class whose"
            " __iter__ returns a new generator."
        )
    return _head(examples)


def _head(examples: Iterator[Any]) -> Any:
    for example in examples:
        return example
    raise ValueError("the source is empty; there is nothing to plan.")


def shard_counts(source: Shards, found: _passes.Found) -> ShardCounts:
    if not found.pairs:
        raise ValueError("the shards hold no example; there is nothing to count.")
    return ShardCounts.from_pairs(list(source.files), found.pairs, sizes(source))


def sizes(source: Shards) -> tuple[int, ...] | None:
    """Each file's size when every file is a local path, else None."""
    if source.stream is not None or not all(os.path.isfile(f) for f in source.files):
        return None
    return tuple(os.path.getsize(f) for f in source.files)
