"""`ShardCounts`: the class counts of each file of a sharded source.

With shards, a sample's key is (shard, position within the shard). Its
occurrence index in its class is its class's count in the earlier shards plus
a running count inside its own shard, so every worker decides alone from
O(shards x classes) numbers, and the union over workers is exactly the plan's
epoch for the labels taken in file order. NumPy only; TensorFlow is used by
`oversample.tf.stream` when a pipeline is built.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from oversample.core import packing as _packing
from oversample.core.validation import check_int, describe

_FORMAT = "oversample.shard_counts"
_VERSION = 2  # 2: a checksum over the content
_WHAT = "oversample shard counts"


def checked_files(files: object) -> tuple[str, ...]:
    if isinstance(files, str | bytes) or not isinstance(files, Sequence):
        raise TypeError(
            f"`files` must be a list of file names; got files={describe(files)}."
        )
    names = tuple(os.fspath(f) for f in files)
    if not names:
        raise ValueError("`files` is empty; give at least one file.")
    seen: set[str] = set()
    for place, name in enumerate(names):
        if name in seen:
            raise ValueError(f"`files` names {name!r} twice (again at place {place}).")
        seen.add(name)
    return names


def file_fingerprint(files: Sequence[str], sizes: Sequence[int] | None) -> str:
    """A hash of the file names in order and, when known, their sizes in bytes."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(json.dumps([list(files), sizes]).encode())
    return digest.hexdigest()


def local_sizes(files: Sequence[str]) -> tuple[int, ...] | None:
    """Each file's size in bytes when every file is a local path, else None
    (a file read through another file system is not checked for change)."""
    if not all(os.path.isfile(f) for f in files):
        return None
    return tuple(os.path.getsize(f) for f in files)


@dataclass(frozen=True, eq=False)
class ShardCounts(_packing.Saved):
    """Samples of each class in each shard: what `ovs.count_labels(shards)` and
    `oversample.beam.count_shards` return.

    `counts` sums the shards (usable as `counts=` anywhere). The file list and
    the files' sizes are part of the value, so a pipeline over other files, or
    over files that changed since counting, is refused before data flows.
    Save it with `to_json` next to the plan.
    """

    _document = _WHAT
    files: tuple[str, ...]
    classes: tuple[int | str, ...]
    table: np.ndarray = field(repr=False)  # (shards, classes) int64
    sizes: tuple[int, ...] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        table = np.asarray(self.table)
        shape = (len(self.files), len(self.classes))
        if table.shape != shape or table.dtype.kind not in "iu":
            raise ValueError(
                f"`table` must be an int array of shape {shape} (shards, classes);"
                f" got {table.dtype} {table.shape}."
            )
        if table.size and int(table.min()) < 0:
            raise ValueError("`table` holds a negative count.")
        if self.sizes is not None and len(self.sizes) != len(self.files):
            raise ValueError("`sizes` must give one size per file.")
        table = table.astype(np.int64)
        table.flags.writeable = False
        object.__setattr__(self, "table", table)

    @classmethod
    def from_pairs(
        cls,
        files: Sequence[str],
        pairs: dict[tuple[int, int | str], int],
        sizes: Sequence[int] | None = None,
    ) -> ShardCounts:
        """From {(shard place, label): count}; classes are sorted labels."""
        names = checked_files(files)
        classes = tuple(sorted({label for _, label in pairs}))
        column = {label: place for place, label in enumerate(classes)}
        table = np.zeros((len(names), len(classes)), np.int64)
        for (shard, label), count in pairs.items():
            table[shard, column[label]] += count
        return cls(names, classes, table, None if sizes is None else tuple(sizes))

    @property
    def counts(self) -> dict[int | str, int]:
        """Samples per class over all shards."""
        totals = self.table.sum(axis=0).tolist()
        return dict(zip(self.classes, totals, strict=True))

    def __repr__(self) -> str:
        return (
            f"ShardCounts(shards={len(self.files)}, classes={len(self.classes)},"
            f" samples={self.num_samples})"
        )

    def _repr_html_(self) -> str:
        """Jupyter's view: samples per class over all shards, and the plot."""
        from oversample import report

        title = f"oversample ShardCounts: {len(self.files):,} shards"
        return report.counts_html(self.counts, title)

    @property
    def num_samples(self) -> int:
        """Samples over all shards."""
        return int(self.table.sum())

    @cached_property
    def per_shard(self) -> np.ndarray:
        """Samples in each shard."""
        return self.table.sum(axis=1)

    @cached_property
    def starts(self) -> np.ndarray:
        """Each shard's first sample in file order (the plan's sample index)."""
        return np.cumsum(self.per_shard) - self.per_shard

    @cached_property
    def offsets(self) -> np.ndarray:
        """(shards, classes): each class's count in all earlier shards."""
        return np.cumsum(self.table, axis=0) - self.table

    @property
    def file_fingerprint(self) -> str:
        """A hash of the file list and sizes that a pipeline is checked against."""
        return file_fingerprint(self.files, self.sizes)

    def check_files(self, files: Sequence[str], sizes: Sequence[int] | None) -> None:
        """Refuses another file list, or files whose size changed, naming the
        first shard that differs."""
        for place, (ours, theirs) in enumerate(zip(self.files, files, strict=False)):
            if ours != theirs:
                raise ValueError(
                    f"shard {place} is {theirs!r}, but the counts were made with"
                    f" {ours!r} there; count the same files in the same order."
                )
        if len(files) != len(self.files):
            more = "more" if len(files) > len(self.files) else "fewer"
            first = min(len(files), len(self.files))
            extra = files[first] if len(files) > first else self.files[first]
            raise ValueError(
                f"the pipeline has {len(files)} files and the counts {len(self.files)}"
                f" ({more}: shard {first}, {extra!r}, was not counted or is missing)."
            )
        if self.sizes is not None and sizes is not None:
            for place, (then, now) in enumerate(zip(self.sizes, sizes, strict=True)):
                if then != now:
                    raise ValueError(
                        f"shard {place} ({self.files[place]!r}) holds {now} bytes"
                        f" but held {then} when counted; count it again."
                    )

    def check_plan(self, plan: Any) -> None:
        """Refuses a plan not made from these counts' classes."""
        from oversample.core.plan import Plan

        if not isinstance(plan, Plan):
            raise TypeError(
                "`plan` must be an ovs.Plan made with ovs.plan(counts="
                f"shard_counts.counts, ...); got plan={describe(plan)}."
            )
        if plan.kind != "classes" or plan.counts != self.counts:
            raise ValueError(
                "`plan` was not made from these shard counts (its class counts"
                " differ); make it with ovs.plan(counts=shard_counts.counts, ...)."
            )

    def outputs(self, plan: Any, epoch: int = 0, spread: Any = None) -> np.ndarray:
        """Elements each shard yields in `epoch` under `plan` (exact rounding).

        O(samples) arithmetic, no per-sample table: per class, the samples that
        get an extra copy are found by inverting the plan's rule and binned by
        shard. With `spread` (the `.spread` report of the balanced pipeline),
        the copies of held classes are counted where they are emitted: shard s
        emits held slots floor(H * start / N) up to floor(H * end / N) of its
        samples' range [start, end) of the N in all shards.
        """
        self.check_plan(plan)
        if plan.rounding != "exact":
            raise ValueError(
                "per-shard outputs are fixed only with exact rounding; got"
                f" rounding={plan.rounding!r}."
            )
        held = set(() if spread is None else spread.held_classes)
        streamed = np.array([c not in held for c in self.classes])
        rule = plan.class_rule.at(epoch)
        out = self.table[:, streamed] @ rule.base[streamed]
        for column in np.flatnonzero(rule.extras * streamed):
            places = np.arange(int(rule.extras[column]), dtype=np.int64)
            occurrence = rule.window(np.full(places.size, column), places)
            bounds = np.cumsum(self.table[:, column])
            shard = np.searchsorted(bounds, occurrence, side="right")
            out += np.bincount(shard, minlength=len(self.files))
        if held:
            slots = int(rule.targets[~streamed].sum())
            ends = [int(v) for v in np.cumsum(self.per_shard)]
            cut = [0] + [slots * end // self.num_samples for end in ends]
            out += np.diff(np.asarray(cut, np.int64))
        return out

    def shares(
        self, plan: Any, num_workers: int, epoch: int = 0, spread: Any = None
    ) -> list[int]:
        """Elements each of `num_workers` yields when worker i reads shards
        i, i + num_workers, ... (FILE auto-sharding, `Shards.shard`); give
        the pipeline's `.spread` when it holds samples."""
        workers = check_int(num_workers, "num_workers", minimum=1)
        per_shard = self.outputs(plan, epoch, spread)
        return [int(per_shard[worker::workers].sum()) for worker in range(workers)]

    def to_json(self) -> str:
        """The counts as a JSON document (files, sizes, classes, table)."""
        document = {
            "format": _FORMAT,
            "version": _VERSION,
            "files": list(self.files),
            "sizes": None if self.sizes is None else list(self.sizes),
            "classes": list(self.classes),
            "table": _packing.pack(self.table),  # zlib + base64 of int64
        }
        return _packing.seal(document)

    @classmethod
    def from_json(cls, text: str) -> ShardCounts:
        """The counts back from `to_json`; a truncated, corrupted, hand-edited
        or other-version document is refused."""
        return cls._from_text(text, "`text`")

    @classmethod
    def _from_text(cls, text: str, source: str) -> ShardCounts:
        document = _packing.load_document(text, _FORMAT, _VERSION, _WHAT, source)
        return _packing.build(cls._of_document, document, _WHAT, source)

    @classmethod
    def _of_document(cls, document: dict[str, Any]) -> ShardCounts:
        sizes = document["sizes"]
        table = _packing.unpack(document["table"])
        if table is None:
            raise ValueError("it holds no table of counts")
        table = table.reshape(len(document["files"]), len(document["classes"]))
        return cls(
            files=checked_files(document["files"]),
            classes=tuple(document["classes"]),
            table=table,
            sizes=None if sizes is None else tuple(int(s) for s in sizes),
        )

    @cached_property
    def fingerprint(self) -> str:
        """A stable hash of the files, their sizes, the classes and the table."""
        digest = hashlib.blake2b(digest_size=16)
        header = [list(self.files), self.sizes, list(self.classes)]
        digest.update(json.dumps(header).encode())
        digest.update(self.table.tobytes())
        return digest.hexdigest()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ShardCounts):
            return NotImplemented
        return self.fingerprint == other.fingerprint

    def __hash__(self) -> int:
        return hash(self.fingerprint)
