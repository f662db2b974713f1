"""Turns user labels into sorted classes and compact per-sample class codes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from oversample.core.validation import describe, is_int

# NOTE: a dense lookup table beats sorting when the label range is small; above
# this range np.unique (a sort) is used instead.
_DENSE_RANGE = 1 << 24
_CHUNK = 1 << 17  # labels encoded at a time (1 MiB of int64 temporaries)
_INT64_MAX = 2**63 - 1
_UINT64_MAX = 2**64 - 1


@dataclass(frozen=True)
class EncodedLabels:
    classes: tuple[int | str, ...]
    codes: np.ndarray  # (N,) smallest unsigned dtype holding the class index
    counts: np.ndarray  # (C,) int64


@dataclass(frozen=True)
class EncodedMultiLabels:
    classes: tuple[int | str, ...]
    counts: np.ndarray  # (C,) samples holding each class
    sample_of: np.ndarray  # (M,) sample index of each (sample, class) pair
    codes: np.ndarray  # (M,) class index of each pair
    num_samples: int


def code_dtype(num_classes: int) -> np.dtype:
    for dtype in (np.uint8, np.uint16, np.uint32):
        if num_classes <= np.iinfo(dtype).max + 1:
            return np.dtype(dtype)
    return np.dtype(np.int64)


def _as_label_array(labels: object, name: str) -> np.ndarray:
    """A NumPy array of int or str labels from a list, range, array, pandas
    Series or anything with `__array__`; refuses what is not a label."""
    if isinstance(labels, list | tuple | range):
        array = np.asarray(labels)
        # NOTE: np.asarray turns [1, "a"] into strings, [True, 2] into ints and
        # [1, None] into objects; Python sequences are checked element by
        # element when their dtype could hide such a mix.
        if (
            array.ndim == 1
            and array.size
            and (
                array.dtype.kind in "UOf"
                or (
                    array.dtype.kind in "iu"
                    and any(isinstance(x, bool) for x in labels)
                )
            )
        ):
            return _from_objects(list(labels), name)
    elif isinstance(labels, np.ndarray) or hasattr(labels, "__array__"):
        array = np.asarray(labels)
    else:
        raise TypeError(
            f"`{name}` must be a 1-D sequence or array of int or str labels; got"
            f" {name}={describe(labels)}."
        )
    if array.ndim != 1:
        raise ValueError(
            f"`{name}` must be 1-D, one label per sample; got shape {array.shape}."
            " For multi-label samples use ovs.RepeatFactor."
        )
    if array.size == 0:
        raise ValueError(f"`{name}` must hold at least one label; got an empty {name}.")
    kind = array.dtype.kind
    if kind == "b":
        raise TypeError(
            f"`{name}` are bools; cast them to int (e.g. labels.astype(int)) so that"
            " the classes are explicit."
        )
    if kind == "f":
        missing = np.flatnonzero(np.isnan(array))
        if missing.size:
            raise ValueError(
                f"`{name}` must not hold missing values; got {name}[{missing[0]}]=nan"
                f" ({missing.size} in all)."
            )
        raise TypeError(
            f"`{name}` must be ints or strings; got dtype {array.dtype}. Cast"
            " whole-number float labels with labels.astype(np.int64)."
        )
    if kind in "OT":  # objects (pandas), or NumPy's variable-width StringDType
        return _from_objects(array.tolist(), name)
    if kind == "S":
        return array.astype(str)
    if kind not in "iuU":
        raise TypeError(f"`{name}` must be ints or strings; got dtype {array.dtype}.")
    return array


def _from_objects(values: list[Any], name: str) -> np.ndarray:
    """Labels held as Python objects (a list, an object array from pandas):
    all str, or all ints within 64 bits; names the first value that is not."""
    strings = isinstance(values[0], str)
    for i, value in enumerate(values):
        if isinstance(value, str) if strings else is_int(value):
            continue
        if value is None or (isinstance(value, float) and value != value):
            raise ValueError(
                f"`{name}` must not hold missing values; got {name}[{i}]={value}."
            )
        if isinstance(value, bool | np.bool_):
            problem = "a bool"
        elif isinstance(value, str) or is_int(value):
            problem = f"mixed with {'strings' if strings else 'ints'} before it"
        else:
            problem = f"of type {type(value).__name__}"
        raise TypeError(
            f"`{name}` must be all ints or all strings; got {name}[{i}]="
            f"{describe(value)}, {problem}."
        )
    if strings:
        return np.asarray(values, dtype=str)
    ints = [int(value) for value in values]
    top = _INT64_MAX if min(ints) < 0 else _UINT64_MAX
    for i, number in enumerate(ints):
        if not -_INT64_MAX - 1 <= number <= top:
            raise ValueError(
                f"`{name}` must be ints within 64 bits (int64, or uint64 when none is"
                f" negative); got {name}[{i}]={number}."
            )
    return np.asarray(ints, dtype=np.uint64 if max(ints) > _INT64_MAX else np.int64)


def _class_tuple(values: np.ndarray) -> tuple[int | str, ...]:
    return tuple(values.tolist())


def encode_labels(labels: object, name: str = "labels") -> EncodedLabels:
    """Encodes 1-D labels; refuses empty, float, bool and mixed labels."""
    array = _as_label_array(labels, name)
    if array.dtype.kind in "iu":
        low, high = int(array.min()), int(array.max())
        if high - low < _DENSE_RANGE:
            return _dense(array, low, high)
    values, inverse, counts = np.unique(array, return_inverse=True, return_counts=True)
    dtype = code_dtype(values.size)
    return EncodedLabels(
        _class_tuple(values), inverse.astype(dtype), counts.astype(np.int64)
    )


def _dense(array: np.ndarray, low: int, high: int) -> EncodedLabels:
    """Integer labels in a small range: a histogram, then a lookup table, a
    chunk of labels at a time, so that nothing but the codes grows with the
    labels (an int64 copy of every label would be 8 bytes a sample)."""
    wide = array.dtype == np.uint64
    width = high - low + 1
    chunk = max(_CHUNK, width)  # NOTE: a chunk's histogram costs the range

    def shifted(piece: np.ndarray) -> np.ndarray:
        if wide:
            return (piece - np.uint64(low)).astype(np.int64)
        return piece.astype(np.int64) - low

    histogram = np.zeros(width, np.int64)
    for start in range(0, array.size, chunk):
        piece = shifted(array[start : start + chunk])
        histogram += np.bincount(piece, minlength=width)
    present = np.flatnonzero(histogram)
    lookup = np.zeros(width, dtype=code_dtype(present.size))
    lookup[present] = np.arange(present.size)
    codes = np.empty(array.size, lookup.dtype)
    for start in range(0, array.size, chunk):
        codes[start : start + chunk] = lookup[shifted(array[start : start + chunk])]
    classes: np.ndarray = (
        present.astype(np.uint64) + np.uint64(low)
        if wide
        else present.astype(np.int64) + low
    )
    return EncodedLabels(_class_tuple(classes), codes, histogram[present])


def is_multilabel(labels: object) -> bool:
    """True for a 2-D multi-hot matrix or a sequence of label sequences."""
    if isinstance(labels, np.ndarray):
        return labels.ndim == 2
    if isinstance(labels, Sequence) and not isinstance(labels, str) and len(labels):
        first = labels[0]
        return isinstance(first, Sequence | np.ndarray) and not isinstance(
            first, str | bytes
        )
    return False


def shape_of(labels: object) -> str:
    """How multi-label input looks, for messages."""
    if isinstance(labels, np.ndarray):
        return f"labels of shape {labels.shape}"
    return f"{len(labels)} label lists" if isinstance(labels, Sequence) else "labels"


def encode_multilabels(labels: object, name: str = "labels") -> EncodedMultiLabels:
    """Encodes a multi-hot matrix (N, C) or a list of label lists."""
    if isinstance(labels, np.ndarray) and labels.ndim == 2:
        if labels.dtype.kind not in "biu" or not np.isin(labels, (0, 1)).all():
            raise ValueError(
                f"`{name}` as a 2-D matrix must be multi-hot (0/1, one column per"
                f" class); got dtype {labels.dtype} with other values."
            )
        if labels.shape[0] == 0:
            raise ValueError(f"`{name}` must hold at least one sample.")
        sample_of, codes = np.nonzero(labels)
        counts = labels.astype(bool).sum(axis=0).astype(np.int64)
        keep = np.flatnonzero(counts)
        remap = np.full(labels.shape[1], -1, np.int64)
        remap[keep] = np.arange(keep.size)
        return EncodedMultiLabels(
            tuple(keep.tolist()),
            counts[keep],
            sample_of.astype(np.int64),
            remap[codes],
            labels.shape[0],
        )
    if not isinstance(labels, Iterable):
        raise TypeError(
            f"`{name}` must be a sequence of label lists; got {describe(labels)}."
        )
    rows = list(labels)
    if not rows:
        raise ValueError(f"`{name}` must hold at least one sample.")
    lengths = np.fromiter((len(row) for row in rows), dtype=np.int64, count=len(rows))
    flat = [label for row in rows for label in row]
    if not flat:
        raise ValueError(f"`{name}` holds no label at all.")
    encoded = encode_labels(flat, name)
    sample_of = np.repeat(np.arange(len(rows), dtype=np.int64), lengths)
    pairs = np.unique(np.stack([sample_of, encoded.codes.astype(np.int64)]), axis=1)
    counts = np.bincount(pairs[1], minlength=len(encoded.classes)).astype(np.int64)
    return EncodedMultiLabels(encoded.classes, counts, pairs[0], pairs[1], len(rows))


def walk(root: object, path: str, name: str, where: str) -> object:
    """What the key path `path` ("a/b") names in `root` (an example, or a
    dataset's element spec), refused naming the part that is missing."""
    parts = path.split("/")
    value = root
    for depth, part in enumerate(parts):
        if not isinstance(value, Mapping) or part not in value:
            within = "/".join(parts[:depth]) or where
            hint = ""
            if isinstance(value, tuple | list) and value:
                hint = (
                    f": name the {name} by its position in the {type(value).__name__},"
                    f" e.g. `{name}={len(value) - 1}` (the last of its"
                    f" {len(value)} items)"
                )
            raise ValueError(
                f"`{name}`={path!r}: {part!r} is not a key of {within};"
                f" {keys_of(value)}{hint}."
            )
        value = value[part]
    return value


def keys_of(value: object) -> str:
    """What a label path could name instead: the keys of a mapping, or its kind."""
    if isinstance(value, Mapping):
        return "the keys there are " + ", ".join(repr(k) for k in value)
    return f"it is a {type(value).__name__}, not a dict"


class ClassIndex:
    """Each label's index in a plan's sorted classes, vectorised; a label not
    among them is refused (there is no default copy count). The one NumPy
    lookup every executor uses (the tf.data executor mirrors it in a table).

    Examples:
        >>> ClassIndex((3, 7, 9))(np.array([9, 3, 3])).tolist()
        [2, 0, 0]
    """

    def __init__(self, classes: Sequence[int | str]) -> None:
        self.classes = tuple(classes)
        self.strings = bool(self.classes) and isinstance(self.classes[0], str)
        self.table: np.ndarray | None = None
        if self.strings:
            self.column = {label: place for place, label in enumerate(self.classes)}
            return
        self.sorted = np.asarray(self.classes, dtype=np.int64)
        self.low = int(self.sorted[0]) if self.sorted.size else 0
        span = int(self.sorted[-1]) - self.low + 1 if self.sorted.size else 0
        # NOTE: labels in a small range are looked up in one gather.
        if 0 < span <= 1 << 20:
            self.table = np.full(span, -1, np.int64)
            self.table[self.sorted - self.low] = np.arange(self.sorted.size)

    def __call__(self, labels: np.ndarray) -> np.ndarray:
        if self.strings:
            found = [self.column.get(v, -1) for v in labels.tolist()]
            index = np.asarray(found, np.int64)
        elif self.table is not None:
            inside = labels.astype(np.int64) - self.low
            fits = (inside >= 0) & (inside < self.table.size)
            index = np.where(fits, self.table[np.where(fits, inside, 0)], -1)
        else:
            index = np.searchsorted(self.sorted, labels)
            index = np.minimum(index, self.sorted.size - 1)
            index[self.sorted[index] != labels] = -1
        unknown = index < 0
        if unknown.any():
            shown = sorted(set(labels[unknown].tolist()), key=str)[:5]
            raise ValueError(
                "a label is not in the plan's classes (there is no default copy"
                f" count); unknown labels: {describe(shown)}."
            )
        return index
