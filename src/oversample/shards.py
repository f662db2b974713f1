"""`Shards`: a sharded source, a list of files that many workers read.

With shards, a sample's key is (shard, position within the shard); see
`oversample.core.shard_counts` for the counts every worker decides from.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from oversample.core.shard_counts import ShardCounts, checked_files
from oversample.core.validation import check_int, describe, is_int

__all__ = ["ShardCounts", "Shards"]


@dataclass(frozen=True)
class Shards:
    """A sharded source: files, and how to read one into a `tf.data.Dataset`.

    `ovs.count_labels(shards)` counts per shard; `ovs.balance(shards, ...)`
    builds `files -> interleave(read + decide copies) -> shuffle`. Copies are
    decided inside each file's own pipeline, so they do not depend on which
    worker reads which file, on the interleave order, `cycle_length`,
    `num_parallel_calls` or `deterministic`. FILE auto-sharding
    (tf.distribute) and the tf.data service's FILE or DYNAMIC sharding move
    whole files; `shard(n, i)` does the same for
    `distribute_datasets_from_function`. `key` names a feature holding TFDS's
    `tfds_id` (`"<file>__<record>"`): each record's id is then checked against
    the file being read and its place in it (records must come in order).
    `engine="ray"` reads each file in a Ray task, and `ovs.balance` returns a
    lazy `ray.data.Dataset` (`read` then returns a pyarrow Table, a pandas
    DataFrame, a dict of columns or row dicts).

    Examples:
        >>> import oversample as ovs
        >>> shards = ovs.Shards(["a.tfrecord", "b.tfrecord"], read=print)
        >>> shards.shard(2, 1).selected
        (1,)
    """

    files: Sequence[str]
    read: Callable[[Any], Any]
    cycle_length: int | None = None
    num_parallel_calls: int | None = None
    deterministic: bool | None = None
    selected: tuple[int, ...] | None = None  # places of the files this reader reads
    key: str | None = None  # a feature holding each record's tfds_id
    stream: Any = None  # a stream of examples that name their shard (see `tagged`)
    tag: Any = None  # what names the shard in an example of `stream`
    engine: str | None = None  # "ray": each file read by a Ray task

    def __post_init__(self) -> None:
        object.__setattr__(self, "files", checked_files(self.files))
        if self.engine not in (None, "ray"):
            raise ValueError(
                "`engine` must be None (tf.data or Python, by what `read` returns)"
                f" or 'ray' (Ray Data tasks); got engine={describe(self.engine)}."
            )
        if self.stream is not None:
            if self.tag is None:
                raise TypeError(
                    "a tagged stream needs `tag`, the field naming a shard."
                )
        elif not callable(self.read):
            raise TypeError(
                "`read` must be a callable file name -> tf.data.Dataset or iterable"
                f" of examples; got read={describe(self.read)}."
            )
        if self.selected is not None and (
            not isinstance(self.selected, tuple)
            or not all(
                is_int(p) and 0 <= int(p) < len(self.files) for p in self.selected
            )
        ):
            raise TypeError(
                "`selected` must be None or a tuple of file places (as `shard`"
                f" makes it); got selected={describe(self.selected)}."
            )
        for name in ("cycle_length", "num_parallel_calls"):
            value = getattr(self, name)
            if value is not None:
                check_int(value, name, minimum=1)
        if self.key is not None and not isinstance(self.key, str):
            raise TypeError(
                f"`key` must be None or a feature name; got key={describe(self.key)}."
            )
        if self.deterministic is not None and not isinstance(self.deterministic, bool):
            raise TypeError(
                "`deterministic` must be None or a bool; got"
                f" deterministic={describe(self.deterministic)}."
            )

    @classmethod
    def from_tfds(
        cls,
        builder: Any,
        split: str = "train",
        decoders: Any = None,
        add_tfds_id: bool = False,
        **options: Any,
    ) -> Shards:
        """The shard files of a prepared TFDS split, read in TFDS's own order and
        decoded as `builder.as_dataset` would (TFRecord files). `add_tfds_id`
        adds TFDS's "tfds_id" feature to each element and checks it."""
        files, read = tfds_reader(builder, split, decoders, add_tfds_id)
        key = "tfds_id" if add_tfds_id else None
        return cls(files, read, key=key, **options)

    @classmethod
    def tagged(cls, stream: Any, files: Sequence[str], tag: Any = "__url__") -> Shards:
        """Shards read by another library that splits them over ranks and
        workers (WebDataset's `split_by_node` / `split_by_worker`): `stream`
        yields examples that name their shard in `tag` (WebDataset's
        `"__url__"`), each shard whole and in order. `files` lists every shard
        as the examples name it, in the order the counts use."""
        return cls(files, read=_unread, stream=stream, tag=tag)

    @classmethod
    def from_hf(cls, dataset: Any) -> Shards:
        """The shards of a Hugging Face `IterableDataset` (`streaming=True`, or
        `Dataset.to_iterable_dataset(num_shards=...)`), one per file name
        `"shard-<i>-of-<n>"`; this executor splits them over ranks and workers."""
        count = check_int(
            getattr(dataset, "num_shards", None), "dataset.num_shards", minimum=1
        )
        names = [f"shard-{i:05d}-of-{count:05d}" for i in range(count)]
        return cls(names, read=_HfShard(dataset, count, names))

    def shard(self, num_shards: int, index: int) -> Shards:
        """The files reader `index` of `num_shards` reads: its files' places
        index, index + n, ... Decisions still use the places in the whole list.
        """
        count = check_int(num_shards, "num_shards", minimum=1)
        place = check_int(index, "index")
        if place >= count:
            raise ValueError(
                f"`index` must be in [0, num_shards); got index={place},"
                f" num_shards={count}."
            )
        mine = self.places[place::count]
        if not mine:
            raise ValueError(
                f"reader {place} of {count} gets no file (there are"
                f" {len(self.files)}); use fewer readers or more files."
            )
        return replace(self, selected=mine)

    @property
    def places(self) -> tuple[int, ...]:
        """Each file's place in the counted list (after `shard`, a subset)."""
        return self.selected or tuple(range(len(self.files)))


def tfds_reader(
    builder: Any, split: str, decoders: Any, add_tfds_id: bool = False
) -> tuple[list[str], Any]:
    """The files of a prepared TFDS split and a reader decoding their records
    (with TFDS's "tfds_id", "<file name>__<record index>", when asked)."""
    import tensorflow as tf

    info = builder.info
    if split not in info.splits:
        raise ValueError(
            f"`split`={split!r} is not a split of {info.name}; the splits are"
            f" {sorted(info.splits)} (slices like 'train[:10%]' cut through shards)."
        )
    if "tfrecord" not in str(info.file_format).lower():
        raise ValueError(
            f"{info.name} is stored as {info.file_format}; Shards.from_tfds reads"
            " TFRecord shards (use ovs.Sampler with a data_source for ArrayRecord)."
        )
    files = [os.fspath(path) for path in info.splits[split].filepaths]
    features = info.features

    def decode(index: Any, record: Any, base: Any) -> Any:
        element = features.deserialize_example(record, decoders=decoders)
        if add_tfds_id:
            element["tfds_id"] = tf.strings.join([base, tf.strings.as_string(index)])
        return element

    def read(name: Any) -> Any:
        base = tf.strings.regex_replace(name, ".*/", "") + "__"
        records = tf.data.TFRecordDataset(name).enumerate()
        return records.map(
            lambda index, record: decode(index, record, base),
            num_parallel_calls=tf.data.AUTOTUNE,
        )

    return files, read


def _unread(name: Any) -> Any:
    raise TypeError("a tagged Shards is read through its stream, not by file.")


@dataclass(frozen=True)
class _HfShard:
    """Reads one shard of a Hugging Face IterableDataset, example by example.

    NOTE: through `IterableDataset.iter` (batches), which does not split the
    shard again over DataLoader workers as iterating the dataset would."""

    dataset: Any
    count: int
    names: list[str]

    def __call__(self, name: str) -> Any:
        one = self.dataset.shard(num_shards=self.count, index=self.names.index(name))
        for batch in one.iter(batch_size=256):
            columns = list(batch)
            for row in zip(*(batch[c] for c in columns), strict=True):
                yield dict(zip(columns, row, strict=True))
