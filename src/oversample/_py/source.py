"""A Python source before it streams: its first example (and whether it
starts over), the pieces a pass reads, the counts a pass makes."""

from __future__ import annotations

import os
from typing import Any

from oversample._py import passes as _passes
from oversample._py.fields import Field
from oversample.plan import Plan
from oversample.shard_counts import ShardCounts
from oversample.shards import Shards


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
    else:
        examples = source
    it = iter(examples)
    if it is examples and not isinstance(source, Shards):
        raise TypeError(
            f"the source is a one-shot iterator ({type(source).__name__}): balancing"
            " reads it in the same order more than once (to count, to hold samples,"
            " once per epoch). Give an iterable that starts over on every iter():"
            " a list, a dataset object, or a class whose __iter__ returns a new"
            " generator."
        )
    for example in it:
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


def check_seen(plan: Plan, found: _passes.Found) -> None:
    counts = found.counts
    for place, label in enumerate(plan.classes):
        number = counts.get(label, 0)
        if number != int(plan._counts[place]):
            raise ValueError(
                f"the stream holds {number} samples of class {label!r} but the"
                f" counts (or plan) say {int(plan._counts[place])}; count the same"
                " data you stream."
            )
