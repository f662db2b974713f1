"""What a Ray task does with one shard: read the file whole, read its labels,
count them, or decide every sample's copies by the plan's rule. Pure functions
of (plan, shard counts, shard, epoch), so a task that Ray runs again (a killed
worker, a lost node) gives the same rows. NumPy, and the table library of what
`read` returns; no Ray import.

`read(file)` may return a `pyarrow.Table`, a `pandas.DataFrame`, a dict of
equal-length columns, or an iterable of row dicts. The marks that `provenance`
and `copy_seeds` ask for are columns of their own ("key", "copy", "seed"),
with the values every other executor gives for the same shards.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from oversample.core import seeding as _seeding
from oversample.core.labels import walk
from oversample.core.marks import Marking
from oversample.core.plan import Plan
from oversample.core.shard_counts import ShardCounts
from oversample.core.shard_rule import shard_copies
from oversample.core.validation import describe

PLACE = "place"  # the one column of the dataset of shards
EPOCH = "epoch"
KINDS = ("pyarrow", "pandas", "columns", "rows")


@dataclass(frozen=True)
class Shard:
    """One file read whole, in its kind's own form, with its labels."""

    kind: str
    data: Any
    labels: np.ndarray

    @property
    def size(self) -> int:
        return int(self.labels.size)

    def take(self, rows: np.ndarray, columns: dict[str, np.ndarray]) -> Any:
        """The rows at `rows` (repeats allowed), with `columns` added, in the
        kind's own form."""
        if self.kind == "pyarrow":
            import pyarrow

            taken = self.data.take(rows)
            for name, values in columns.items():
                taken = taken.append_column(name, pyarrow.array(values))
            return taken
        if self.kind == "pandas":
            return self.data.iloc[rows].reset_index(drop=True).assign(**columns)
        if self.kind == "columns":
            taken = {name: column[rows] for name, column in self.data.items()}
        else:
            taken = _columns([self.data[r] for r in rows.tolist()], self.data)
        return {**taken, **columns}


def kind_of(data: Any) -> str:
    """Which form `read` returned; an unknown one is refused."""
    module = type(data).__module__.split(".", 1)[0]
    if module == "pyarrow" and hasattr(data, "column_names"):
        return "pyarrow"
    if module == "pandas" and hasattr(data, "columns"):
        return "pandas"
    if isinstance(data, Mapping):
        return "columns"
    if isinstance(data, str | bytes) or not hasattr(data, "__iter__"):
        raise TypeError(
            "`read` must return a pyarrow.Table, a pandas.DataFrame, a dict of"
            " columns or an iterable of row dicts for a file name; it returned"
            f" {describe(data)}."
        )
    return "rows"


def columns_of(data: Any, kind: str) -> list[str]:
    if kind == "pyarrow":
        return list(data.column_names)
    if kind == "pandas":
        return [str(c) for c in data.columns]
    if kind == "columns":
        return [str(c) for c in data]
    return sorted(data[0]) if data and isinstance(data[0], Mapping) else []


def read_shard(read: Callable[[str], Any], name: str, label: object) -> Shard:
    """Reads file `name` whole and its labels, checked."""
    data = read(name)
    kind = kind_of(data)
    if kind == "rows":
        data = list(data)
        if not data:
            return Shard(kind, data, np.zeros(0, np.int64))
        return Shard(kind, data, _labels([label_of(row, label) for row in data]))
    if not isinstance(label, str):
        raise TypeError(
            f"`label` must be a column name when `read` returns a {kind} table;"
            f" got label={describe(label)}."
        )
    names = columns_of(data, kind)
    if label not in names:
        raise ValueError(
            f"`label`={label!r} is not a column of {name!r}; its columns are {names}."
        )
    column = data.column(label) if kind == "pyarrow" else data[label]
    values = column.to_numpy() if hasattr(column, "to_numpy") else column
    return Shard(kind, data, _labels(np.asarray(values).tolist()))


def label_of(row: Any, label: object) -> Any:
    """The label of a row dict: a key (nested "a/b") or a callable row -> label."""
    if isinstance(label, str):
        value = walk(row, label, "label", "the row")
    elif callable(label):
        value = label(row)
    else:
        raise TypeError(
            "`label` must be a key (nested as 'a/b') or a callable row -> label;"
            f" got label={describe(label)}."
        )
    item = getattr(value, "item", None)
    return item() if callable(item) and getattr(value, "ndim", 1) == 0 else value


def _labels(values: list[Any]) -> np.ndarray:
    if values and all(isinstance(v, str) for v in values):
        return np.asarray(values, dtype=object)
    out = np.asarray(values)
    if out.dtype.kind not in "iu":
        raise TypeError(
            "labels must be ints or strings, one per row; got"
            f" {describe(values[:5])} (dtype {out.dtype})."
        )
    return out.astype(np.int64)


def _columns(rows: list[Any], like: list[Any]) -> dict[str, np.ndarray]:
    """Row dicts as a dict of columns (Ray's batch form): fixed-shape values
    stacked, anything else kept as Python objects."""
    names = sorted(like[0]) if like else []
    out = {}
    for name in names:
        values = [row[name] for row in rows]
        try:
            column = np.asarray(values)
        except ValueError:  # ragged arrays
            column = None
        if column is None or column.dtype == object:
            column = np.empty(len(values), dtype=object)
            column[:] = values
        out[name] = column
    return out


@dataclass(frozen=True)
class CountShard:
    """Samples per label in one shard: a Ray `map_batches` function over the
    dataset of shard places."""

    files: tuple[str, ...]
    read: Callable[[str], Any]
    label: object

    def __call__(self, batch: Mapping[str, Any]) -> dict[str, np.ndarray]:
        places, labels, numbers = [], [], []
        for place in np.asarray(batch[PLACE]).tolist():
            shard = read_shard(self.read, self.files[place], self.label)
            found, count = np.unique(shard.labels, return_counts=True)
            places += [place] * found.size
            labels += found.tolist()
            numbers += count.tolist()
        label_column = np.empty(len(labels), dtype=object)
        label_column[:] = labels
        return {
            PLACE: np.asarray(places, np.int64),
            "label": label_column,
            "count": np.asarray(numbers, np.int64),
        }


@dataclass(frozen=True)
class CopyShard:
    """The copies of one shard in one epoch, by the plan's rule at (shard,
    position in the shard): a Ray `map_batches` function over the dataset of
    (epoch, shard place). `local` shuffles the shard's copies in the task;
    `marking` adds the marks' columns."""

    files: tuple[str, ...]
    read: Callable[[str], Any]
    label: object
    plan: Plan
    counts: ShardCounts
    local: bool
    marking: Marking

    def __call__(self, batch: Mapping[str, Any]) -> Any:
        epoch = int(np.asarray(batch[EPOCH])[0])
        place = int(np.asarray(batch[PLACE])[0])
        name = self.files[place]
        shard = read_shard(self.read, name, self.label)
        rows, numbers = self.rows(shard, place, epoch)
        check_free(shard, self.marking, name)
        keys = int(self.counts.starts[place]) + rows
        return shard.take(rows, self.marking.columns(keys, numbers, epoch))

    def rows(
        self, shard: Shard, place: int, epoch: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each row of the shard, repeated by its copies in `epoch`, and each
        copy's number among its sample's copies (a shard that differs from its
        counts is refused by `shard_copies`)."""
        copies = shard_copies(self.plan, self.counts, place, shard.labels, epoch)
        rows = np.repeat(np.arange(shard.size, dtype=np.int64), copies)
        numbers = np.arange(rows.size) - np.repeat(np.cumsum(copies) - copies, copies)
        if self.local:
            order = np.arange(rows.size)
            _seeding.rng(self.plan.seed, "ray-local", epoch, place).shuffle(order)
            rows, numbers = rows[order], numbers[order]
        return rows, numbers


def check_free(shard: Shard, marking: Marking, name: str) -> None:
    """The marks' columns must not hide a column of the shard's own."""
    taken = sorted(set(marking.names) & set(columns_of(shard.data, shard.kind)))
    if taken:
        raise ValueError(
            f"{name!r} has columns {taken}, which the marks of"
            f" {marking.asked} would add; rename them in `read`."
        )
