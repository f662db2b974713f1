"""A Python source before it streams: reading a field (the label, a shard
tag) out of its examples, its first example (and whether it starts over),
the pieces a read takes, the one pass that counts the labels (per shard, for
shards) and collects the held samples of the spread, and its reader for the
one preparation (`oversample.core.prepare`)."""

from __future__ import annotations

import contextlib
import itertools
import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from oversample.core import spread as _spread
from oversample.core.labels import ClassIndex, walk
from oversample.core.labels import keys_of as _keys_of
from oversample.core.plan import Plan
from oversample.core.prepare import distinct, tally
from oversample.core.shard_counts import ShardCounts, local_sizes
from oversample.core.validation import describe, is_int
from oversample.py.spread import PLACE, ExampleCollector
from oversample.shards import Shards

# Fields of examples.

FieldSpec = str | int | Callable[[Any], Any]


@dataclass(frozen=True)
class Field:
    """A checked way to read one field of an example."""

    read: Callable[[Any], Any]
    spec: object

    @classmethod
    def of(cls, spec: object, first: object, name: str = "label") -> Field:
        """Checks `spec` against the first example, before any data flows."""
        read: Callable[[Any], Any]
        if isinstance(spec, str):
            parts = spec.split("/")
            walk(first, spec, name, "the first example")
            if len(parts) == 1:
                read = operator.itemgetter(parts[0])  # C-level: read per example
            else:
                read = _path_reader(parts)

        elif is_int(spec):
            position = int(spec)
            size = len(first) if isinstance(first, Sequence) else 0
            if not size or not -size <= position < size or isinstance(first, str):
                shape = f"sequences of {size}" if size else _keys_of(first)
                raise ValueError(
                    f"`{name}`={position} is a position in a tuple, but the"
                    f" examples are {shape}."
                )

            read = operator.itemgetter(position)

        elif callable(spec) and not isinstance(spec, bool):
            read = spec
        else:
            raise TypeError(
                f"`{name}` must be a key (nested as 'a/b'), a tuple position or a"
                f" callable example -> {name}; got {name}={describe(spec)}."
            )
        field = cls(read, spec)
        field.value(first, name)
        return field

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # NOTE: DataLoader workers may receive the stream by pickle; a key path
        # or position is read again from its spec (nested functions do not
        # pickle), a callable goes as it is.
        return _rebuild, (self.spec,)

    def value(self, example: Any, name: str = "label") -> int | str:
        """The field of one example as a Python int or str, or a clear error."""
        return scalar(self.read(example), name)


def _rebuild(spec: object) -> Field:
    if isinstance(spec, str):
        parts = spec.split("/")
        if len(parts) == 1:
            return Field(operator.itemgetter(parts[0]), spec)

        def read(example: Any) -> Any:
            for part in parts:
                example = example[part]
            return example

        return Field(read, spec)
    if is_int(spec):
        return Field(operator.itemgetter(int(spec)), spec)
    return Field(cast(Callable[[Any], Any], spec), spec)


def scalar(value: object, name: str = "label") -> int | str:
    """An int or str from a Python, NumPy or PyTorch scalar, or bytes."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if is_int(value):
        return int(value)
    item = getattr(value, "item", None)
    size = getattr(value, "size", None)
    if item is not None and (size in (None, 1) or callable(size)):
        shape = tuple(getattr(value, "shape", ()))
        if shape in ((), (1,)):
            inner = item()
            if is_int(inner) or isinstance(inner, str | bytes):
                return scalar(inner, name)
    raise TypeError(
        f"`{name}` must select an int or a string per example; got"
        f" {describe(value)} of type {type(value).__name__}."
    )


def labels_of(field: Field, examples: list[Any], strings: bool | None) -> np.ndarray:
    """The field of every example of a block: int64, or an object array of
    str; `strings` says which the plan holds (None: either)."""
    raw = list(map(field.read, examples))
    # NOTE: the common cases (Python or NumPy ints, str) convert in one call;
    # anything else (0-d tensors, bytes, mixes) goes value by value.
    array = np.asarray(raw) if raw else np.zeros(0, np.int64)
    if array.ndim == 1 and array.dtype.kind in "iu":
        if array.dtype == np.uint64 and array.size and int(array.max()) > _INT64_MAX:
            _too_wide(int(array.max()))
        values: np.ndarray = array.astype(np.int64, copy=False)
    elif array.ndim == 1 and array.dtype.kind == "U":
        values = array.astype(object)
    else:
        values = np.asarray([scalar(v) for v in raw], dtype=object)
        if not any(isinstance(v, str) for v in values.tolist()):
            wide = [
                v for v in values.tolist() if not -_INT64_MAX - 1 <= v <= _INT64_MAX
            ]
            if wide:
                _too_wide(wide[0])
            values = values.astype(np.int64)
    is_strings = values.dtype == object
    if values.size and strings is not None and is_strings != strings:
        want = "strings" if strings else "ints"
        raise TypeError(
            f"the labels must be {want}, as the plan's classes are; got {values[0]!r}."
        )
    if is_strings and any(not isinstance(v, str) for v in values.tolist()):
        odd = next(v for v in values.tolist() if not isinstance(v, str))
        raise TypeError(f"the labels must be all ints or all strings; got {odd!r}.")
    return values


_INT64_MAX = 2**63 - 1


def _too_wide(label: int) -> None:
    # NOTE: refused, never narrowed: a wrapped label would be another class.
    raise ValueError(
        f"a label of {label} is above 2**63 - 1, which Python streams do not"
        " support; map the labels to a narrower range (or to strings) first."
    )


def _path_reader(parts: list[str]) -> Callable[[Any], Any]:
    """A reader of a nested key, 'a/b' as ['a', 'b']."""

    def read(example: Any) -> Any:
        for part in parts:
            example = example[part]
        return example

    return read


# The source and its reader.


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


def head(examples: Iterator[Any]) -> Any:
    """The first of `examples`, or a clear error when there is none."""
    for example in examples:
        return example
    raise ValueError("the source is empty; there is nothing to plan.")


def shard_counts(source: Shards, found: Found) -> ShardCounts:
    if not found.pairs:
        raise ValueError("the shards hold no example; there is nothing to count.")
    return ShardCounts.from_pairs(list(source.files), found.pairs, sizes(source))


def sizes(source: Shards) -> tuple[int, ...] | None:
    """Each file's size when every file is a local path, else None."""
    return None if source.stream is not None else local_sizes(source.files)


# The read before streaming.

BLOCK = 4096


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
    collector: ExampleCollector | None
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
    index = None if plan is None else ClassIndex(plan.classes)
    collector = None
    if budget:
        # NOTE: an example's bytes are known only once read, so every class is
        # collected and the fewest copies per sample are dropped first.
        priority = None if plan is None else _spread.class_factors(plan)
        collector = ExampleCollector(budget, priority)
    pairs: dict[tuple[int, int | str], int] = {}
    strings = None if index is None else index.strings
    seen = 0
    with _progress(progress) as bar:
        task = None if bar is None else bar.add_task("reading the stream", total=None)
        for piece in pieces:
            positions: dict[int, int] = {}
            for examples in _blocks(piece.examples):
                labels = labels_of(label, examples, strings)
                places = _places(piece, examples)
                idents = _idents(places, positions)
                keyed = labels if index is None else index(labels)
                tally(pairs, places, labels)
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
    values, inverse = distinct(places)
    for code, place in enumerate(values.tolist()):
        rows = np.flatnonzero(inverse == code)
        first = positions.get(place, 0)
        out[rows] = (place << PLACE) + first + np.arange(rows.size)
        positions[place] = first + rows.size
    return out
