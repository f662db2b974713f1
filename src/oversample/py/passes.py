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

from oversample.core import spread as _spread
from oversample.core.marks import Marking
from oversample.core.plan import Plan
from oversample.py.decide import ClassDecider
from oversample.py.fields import Field, labels_of
from oversample.py.held import Collector, Held

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
    from oversample import report

    return report.progress()


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
                    collector.add(keyed, idents, examples)
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
    values, inverse = np.unique(labels, return_inverse=True)
    cells = places * values.size + inverse.reshape(-1)
    found, numbers = np.unique(cells, return_counts=True)
    named = values.tolist()  # Python ints or strings
    for cell, number in zip(found.tolist(), numbers.tolist(), strict=True):
        pair = (cell // values.size, named[cell % values.size])
        pairs[pair] = pairs.get(pair, 0) + number


def hold(
    plan: Plan,
    found: Found,
    decider: ClassDecider,
    starts: np.ndarray | None,
    marking: Marking,
) -> Held | None:
    """The held samples worth their memory (all when every class fitted, else
    the oversampled ones), with their keys and occurrences."""
    collector = found.collector
    if collector is None or not collector.rows:
        return None
    factors = _spread.class_factors(plan)
    by_index = collector.priority is not None
    kept: dict[int, Any] = {}
    for label in collector.rows:
        column = int(label) if by_index else int(decider.index(_one(label))[0])
        if not (collector.dropped and factors[column] <= 1):
            kept[column] = label
    if not kept:
        return None
    # NOTE: a class is held whole and the pass read it in key order (position,
    # or shard then position), so its k-th row has occurrence k: the rows are
    # laid out by class index and need no sort.
    columns, pieces, examples = [], [], []
    size = 0
    for column in sorted(kept):
        label = kept[column]
        rows = sum(idents_of.size for idents_of, _ in collector.rows[label])
        if rows != int(plan._counts[column]):
            raise ValueError(
                f"the stream holds {rows} samples of class {plan.classes[column]!r}"
                f" but the plan counted {int(plan._counts[column])}; plan on the same"
                " data you stream."
            )
        columns.append(np.full(rows, column, np.int64))
        for idents_of, examples_of in collector.rows[label]:
            pieces.append(idents_of)
            examples.extend(examples_of)
        size += collector.bytes[label]
    index = np.concatenate(columns)
    idents = np.concatenate(pieces).astype(np.int64)
    places, positions = idents >> PLACE, idents & ((1 << PLACE) - 1)
    first = np.repeat(
        np.cumsum(np.bincount(index)) - np.bincount(index), np.bincount(index)
    )
    occurrence = np.arange(index.size) - first[: index.size]
    keys = positions if starts is None else starts[places] + positions
    return Held(decider, examples, index, occurrence, keys, size, marking)


def _one(label: Any) -> np.ndarray:
    return np.asarray([label], dtype=object if isinstance(label, str) else np.int64)
