"""Reading a field (the label, a shard tag) out of Python examples: dicts,
tuples or anything a callable understands, checked on the first example."""

from __future__ import annotations

import operator
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from oversample.core.labels import keys_of as _keys_of
from oversample.core.labels import walk
from oversample.core.validation import describe, is_int

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
        values: np.ndarray = array.astype(np.int64, copy=False)
    elif array.ndim == 1 and array.dtype.kind == "U":
        values = array.astype(object)
    else:
        values = np.asarray([scalar(v) for v in raw], dtype=object)
        if not any(isinstance(v, str) for v in values.tolist()):
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


def nbytes(example: object, depth: int = 0) -> int:
    """About how many bytes an example holds: arrays and tensors by their
    data, strings by length, containers by their parts."""
    if depth > 8:
        return sys.getsizeof(example)
    if isinstance(example, bytes | str):
        return len(example)
    if isinstance(example, np.ndarray):
        return int(example.nbytes)
    element_size = getattr(example, "element_size", None)
    numel = getattr(example, "nelement", None)
    if callable(element_size) and callable(numel):
        return int(element_size()) * int(numel())
    if isinstance(example, Mapping):
        return sum(nbytes(v, depth + 1) for v in example.values()) + 64
    if isinstance(example, list | tuple):
        return sum(nbytes(v, depth + 1) for v in example) + 16
    return sys.getsizeof(example)


def _path_reader(parts: list[str]) -> Callable[[Any], Any]:
    """A reader of a nested key, 'a/b' as ['a', 'b']."""

    def read(example: Any) -> Any:
        for part in parts:
            example = example[part]
        return example

    return read
