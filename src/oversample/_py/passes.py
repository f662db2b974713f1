"""The one pass over a Python source before streaming: it counts the labels
(per shard, for shards) when no counts are given, and collects the held
samples for the spread; then the table of what is held."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from oversample import spread as _spread
from oversample._py.decide import ClassDecider
from oversample._py.fields import Field, labels_of
from oversample._py.held import Collector, Held
from oversample.plan import Plan

BLOCK = 4096
PLACE = 40  # an ident is place << PLACE | position


@dataclass(frozen=True)
class Piece:
    """One part of the source the pass reads: an iterable, its shard place
    (0 for one stream) and, for a tagged stream, the field naming the shard."""

    examples: Iterable[Any]
    place: int = 0
    tag: Field | None = None
    places: dict[str, int] | None = None


@dataclass
class Found:
    """What the pass saw: samples per (place, label) and the collector."""

    pairs: dict[tuple[int, int | str], int]
    collector: Collector | None
    seen: int

    @property
    def counts(self) -> dict[int | str, int]:
        totals: dict[int | str, int] = {}
        for (_, label), number in self.pairs.items():
            totals[label] = totals.get(label, 0) + number
        return dict(sorted(totals.items()))


def _progress(progress: bool) -> Any:
    if not progress:
        return contextlib.nullcontext(None)
    from rich.progress import Progress

    return Progress()


def read(
    pieces: Iterable[Piece],
    label: Field,
    budget: int,
    plan: Plan | None,
    progress: bool = False,
) -> Found:
    """Reads every piece once, a block at a time."""
    decider = None if plan is None else ClassDecider(plan)
    collector = None
    if budget:
        # NOTE: an example's bytes are known only once read, so every class is
        # collected and the fewest copies per sample are dropped first.
        priority = None if plan is None else _spread.class_factors(plan)
        collector = Collector(budget, priority)
    pairs: dict[tuple[int, int | str], int] = {}
    strings = None if decider is None else decider.strings
    seen = 0
    with _progress(progress) as bar:
        task = None if bar is None else bar.add_task("reading the stream", total=None)
        for piece in pieces:
            positions: dict[int, int] = {}
            for examples in _blocks(piece.examples):
                labels = labels_of(label, examples, strings)
                places = _places(piece, examples)
                idents = _idents(places, positions)
                keyed = labels if decider is None else decider.index(labels)
                _tally(pairs, places, labels)
                if collector is not None:
                    collector.add(keyed.tolist(), idents.tolist(), examples)
                seen += len(examples)
                if bar is not None:
                    bar.advance(task, len(examples))
    return Found(pairs, collector, seen)


def _blocks(examples: Iterable[Any]) -> Iterator[list[Any]]:
    source = iter(examples)
    while block := list(itertools.islice(source, BLOCK)):
        yield block


def _places(piece: Piece, examples: list[Any]) -> np.ndarray:
    if piece.tag is None:
        return np.full(len(examples), piece.place, np.int64)
    assert piece.places is not None
    names = [str(piece.tag.value(e, "tag")) for e in examples]
    unknown = [n for n in names if n not in piece.places]
    if unknown:
        raise ValueError(
            f"an example names shard {unknown[0]!r}, which `files` does not list."
        )
    return np.asarray([piece.places[n] for n in names], np.int64)


def _idents(places: np.ndarray, positions: dict[int, int]) -> np.ndarray:
    out = np.empty(places.size, np.int64)
    for place in np.unique(places).tolist():
        rows = np.flatnonzero(places == place)
        first = positions.get(place, 0)
        out[rows] = (place << PLACE) + first + np.arange(rows.size)
        positions[place] = first + rows.size
    return out


def _tally(
    pairs: dict[tuple[int, int | str], int], places: np.ndarray, labels: np.ndarray
) -> None:
    for place, value in zip(places.tolist(), labels.tolist(), strict=True):
        pairs[(place, value)] = pairs.get((place, value), 0) + 1


def hold(
    plan: Plan,
    found: Found,
    decider: ClassDecider,
    offsets: np.ndarray | None,
    starts: np.ndarray | None,
    provenance: bool,
) -> Held | None:
    """The held samples worth their memory (all when every class fitted, else
    the oversampled ones), with their keys and occurrences."""
    collector = found.collector
    if collector is None or not collector.rows:
        return None
    factors = _spread.class_factors(plan)
    by_index = collector.priority is not None
    rows: list[tuple[int, int, Any]] = []  # (class index, ident, example)
    size = 0
    for label, held in collector.rows.items():
        column = int(label) if by_index else int(decider.index(_one(label))[0])
        if collector.dropped and factors[column] <= 1:
            continue
        rows.extend((column, ident, example) for ident, example in held)
        size += collector.bytes[label]
    if not rows:
        return None
    index = np.asarray([r[0] for r in rows], np.int64)
    idents = np.asarray([r[1] for r in rows], np.int64)
    places, positions = idents >> PLACE, idents & ((1 << PLACE) - 1)
    counted = np.bincount(index, minlength=len(plan.classes))
    classes = np.unique(index)
    wrong = classes[counted[classes] != plan._counts[classes]]
    if wrong.size:
        raise ValueError(
            f"the stream holds {int(counted[wrong[0]])} samples of class"
            f" {plan.classes[int(wrong[0])]!r} but the plan counted"
            f" {int(plan._counts[int(wrong[0])])}; plan on the same data you stream."
        )
    order = np.lexsort((positions, places, index))
    group = index[order] * (int(places.max()) + 1) + places[order]
    first = np.searchsorted(group, group, side="left")
    inside = np.empty(index.size, np.int64)
    inside[order] = np.arange(index.size) - first
    if offsets is None or starts is None:
        occurrence, keys = inside, positions
    else:
        occurrence = offsets[places, index] + inside
        keys = starts[places] + positions
    return Held(
        decider, [r[2] for r in rows], index, occurrence, keys, size, provenance
    )


def _one(label: Any) -> np.ndarray:
    return np.asarray([label], dtype=object if isinstance(label, str) else np.int64)
