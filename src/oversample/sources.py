"""The kind of source, told apart in this one place: a tf.data stream, shards
(files read by many workers, into tf.data, into Python iterables or by Ray
tasks), or a Python iterable of examples. Each kind has its executor; the entry points
(`ovs.balance`, `ovs.duplicate`, `ovs.count_labels`, `ovs.mix`) hand it the
source.

A kind decides only how samples are keyed and read: by position in one
stream (or a stable id), or by (shard, position in the shard).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable, Mapping
from types import ModuleType

from oversample.core.validation import describe
from oversample.shards import Shards

TF_STREAM = "oversample.tf.stream"
TF_SHARDS = "oversample.tf.shards"
PYTHON = "oversample.py.iterables"
RAY = "oversample.ray"
MIXTURES = {TF_STREAM: "oversample.tf.mixture", PYTHON: "oversample.py.mixture"}


def is_dataset(source: object) -> bool:
    """True for a `tf.data.Dataset` (without importing TensorFlow: a dataset
    exists only once TensorFlow is loaded)."""
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(source, tf.data.Dataset)


def is_ray_dataset(source: object) -> bool:
    """True for a `ray.data.Dataset` (without importing Ray)."""
    data = sys.modules.get("ray.data")
    return data is not None and isinstance(source, data.Dataset)


def kind(source: object) -> str:
    """The module of the executor that reads `source`."""
    if isinstance(source, Shards):
        if source.engine == "ray":
            return RAY
        if source.stream is not None:
            return PYTHON
        probe = source.read(source.files[source.places[0]])
        if is_dataset(probe):
            return TF_SHARDS
        if isinstance(probe, Iterable) and not isinstance(probe, str | bytes):
            return PYTHON
        raise TypeError(
            "`read` must return a tf.data.Dataset or an iterable of examples for a"
            f" file name; it returned a {type(probe).__name__}."
        )
    if is_dataset(source):
        return TF_STREAM
    if is_ray_dataset(source):
        raise TypeError(
            "a Ray Dataset keeps no stable order of its rows (Ray may split a file"
            " over read tasks and regroup rows into blocks), so copies could not"
            " be decided per sample. Give the files it reads, each read whole by"
            " one Ray task: ovs.Shards(ds.input_files(), read=pyarrow.parquet"
            ".read_table, engine='ray') (see the guide's Ray page)."
        )
    if isinstance(source, Iterable) and not isinstance(source, str | bytes | Mapping):
        return PYTHON
    raise TypeError(
        "the source must be a tf.data.Dataset, ovs.Shards or an iterable of"
        f" examples; got {type(source).__name__} {describe(source)}."
    )


def executor(source: object, key: object = None) -> ModuleType:
    """The executor module for `source` (TensorFlow is imported only for a
    tf.data kind)."""
    if isinstance(source, Shards) and key is not None:
        raise ValueError(
            "with `ovs.Shards` the key is (shard, position in the shard); `key=`"
            " does not apply."
        )
    return importlib.import_module(kind(source))


def stream_executor(source: object) -> ModuleType:
    """The executor for `duplicate`, which takes one stream, not shards."""
    if isinstance(source, Shards):
        raise TypeError(
            "`duplicate` takes one stream (a tf.data.Dataset or an iterable); got"
            " Shards: use ovs.balance with per-class targets (strategy={label:"
            " target})."
        )
    return executor(source)


def mixture_executor(sources: object) -> ModuleType:
    """The mixture executor for a dict of named sources, all of one kind."""
    if not isinstance(sources, Mapping) or not sources:
        raise TypeError(
            "`sources` must be a non-empty dict {name: source}; got"
            f" sources={describe(sources)}."
        )
    kinds = {}
    for name, source in sources.items():
        if isinstance(source, Shards):
            raise TypeError(
                f"`sources[{name!r}]` is ovs.Shards; a mixture takes tf.data"
                " datasets or Python iterables (shards per source are not"
                " supported yet)."
            )
        kinds[name] = kind(source)
    found = sorted(set(kinds.values()))
    if len(found) > 1:
        shown = ", ".join(f"{n!r}: {k.rsplit('.', 1)[0]}" for n, k in kinds.items())
        raise TypeError(
            "`sources` must all be of one kind (all tf.data datasets, or all"
            f" Python iterables); got {shown}."
        )
    return importlib.import_module(MIXTURES[found[0]])
