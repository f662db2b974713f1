"""The kind of source, told apart in this one place: a tf.data stream, shards
(files read by many workers, into tf.data, into Python iterables or by Ray
tasks), or a Python iterable of examples. Each kind has its executor, from a
registry of executors that share one typed interface, and its keying (by
position, by a stable id, by (shard, position in the shard)), chosen here and
handed to the executor as a value. The entry points (`ovs.balance`,
`ovs.duplicate`, `ovs.count_labels`, `ovs.mix`) hand the source on.

An executor's module is imported only when its kind of source is given, so
`import oversample` loads no TensorFlow, Ray or torch.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from oversample.core.copies import Copies
from oversample.core.keying import POSITION, By, Keying
from oversample.core.prepare import Choice
from oversample.core.settings import Settings
from oversample.core.validation import describe
from oversample.shards import Shards


class CountLabels(Protocol):
    def __call__(
        self, source: Any, label: Any, progress: bool, /, *, keying: Keying
    ) -> Any: ...


class Balance(Protocol):
    def __call__(
        self,
        source: Any,
        label: Any,
        choice: Choice,
        settings: Settings,
        /,
        *,
        keying: Keying,
        progress: bool,
    ) -> Any: ...


class Duplicate(Protocol):
    def __call__(
        self,
        source: Any,
        form: Copies,
        /,
        *,
        label: Any,
        choice: Choice,
        settings: Settings,
        keying: Keying,
    ) -> Any: ...


class Mix(Protocol):
    def __call__(
        self,
        sources: dict[str, Any],
        rates: Any,
        samples: Any,
        seed: int | None,
        settings: Settings,
        stratified: int | None,
        balance: Any = None,
        /,
    ) -> Any: ...


@dataclass(frozen=True)
class Executor:
    """What one kind of source provides to the entry points; `duplicate` and
    `mix` are None where they do not apply, and `stable_ids` says whether its
    samples can be keyed by a stable id read from each element (`key=`), and
    `stratifies` whether its `balance` can lay batches out by class."""

    name: str
    count_labels: CountLabels
    balance: Balance
    duplicate: Duplicate | None = None
    mix: Mix | None = None
    stable_ids: bool = False
    stratifies: bool = False  # `balance(stratified=B)`: batches by class


def _tf_stream() -> Executor:
    from oversample.tf import mixture, stream

    return Executor(
        "a tf.data.Dataset",
        stream.count_labels,
        stream.balance,
        stream.duplicate,
        mixture.mix,
        stable_ids=True,
    )


def _tf_shards() -> Executor:
    from oversample.tf import shards

    return Executor("ovs.Shards read as tf.data", shards.count_labels, shards.balance)


def _python_stream() -> Executor:
    from oversample.py import executor

    return Executor(
        "a Python iterable",
        executor.count_labels,
        executor.balance,
        executor.duplicate,
        executor.mix,
        stratifies=True,
    )


def _python_shards() -> Executor:
    from oversample.py import executor

    return Executor(
        "ovs.Shards read as Python", executor.count_labels, executor.balance
    )


def _ray_shards() -> Executor:
    from oversample import ray

    return Executor("ovs.Shards on Ray", ray.count_labels, ray.balance)


def is_dataset(source: object) -> bool:
    """True for a `tf.data.Dataset` (without importing TensorFlow: a dataset
    exists only once TensorFlow is loaded)."""
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(source, tf.data.Dataset)


def is_ray_dataset(source: object) -> bool:
    """True for a `ray.data.Dataset` (without importing Ray)."""
    data = sys.modules.get("ray.data")
    return data is not None and isinstance(source, data.Dataset)


def _kind(source: object) -> tuple[Callable[[], Executor], Keying]:
    """The executor of `source` (not imported yet) and its keying."""
    if isinstance(source, Shards):
        if source.engine == "ray":
            return _ray_shards, Keying(By.SHARD)
        if source.stream is not None:
            return _python_shards, Keying(By.TAG)
        probe = source.read(source.files[source.places[0]])
        if is_dataset(probe):
            return _tf_shards, Keying(By.SHARD)
        if isinstance(probe, Iterable) and not isinstance(probe, str | bytes):
            return _python_shards, Keying(By.SHARD)
        raise TypeError(
            "`read` must return a tf.data.Dataset or an iterable of examples for a"
            f" file name; it returned a {type(probe).__name__}."
        )
    if is_dataset(source):
        return _tf_stream, POSITION
    if is_ray_dataset(source):
        raise TypeError(
            "a Ray Dataset keeps no stable order of its rows (Ray may split a file"
            " over read tasks and regroup rows into blocks), so copies could not"
            " be decided per sample. Give the files it reads, each read whole by"
            " one Ray task: ovs.Shards(ds.input_files(), read=pyarrow.parquet"
            ".read_table, engine='ray') (see the guide's Ray page)."
        )
    if isinstance(source, Iterable) and not isinstance(source, str | bytes | Mapping):
        return _python_stream, POSITION
    raise TypeError(
        "the source must be a tf.data.Dataset, ovs.Shards or an iterable of"
        f" examples; got {type(source).__name__} {describe(source)}."
    )


def of(source: object, key: object = None) -> tuple[Executor, Keying]:
    """The executor of `source` and how its samples are keyed (`key=` asks
    for a stable id, which only a tf.data stream reads)."""
    load, keying = _kind(source)
    if key is not None and keying.sharded:
        raise ValueError(
            "with `ovs.Shards` the key is (shard, position in the shard); `key=`"
            " does not apply."
        )
    executor = load()
    if key is not None:
        if not executor.stable_ids:
            raise ValueError(
                "`key=` is for tf.data streams; a Python stream is keyed by"
                " position, or by (shard, position in the shard) with ovs.Shards."
            )
        keying = Keying(By.ID, key)
    return executor, keying


def duplicator(source: object) -> tuple[Duplicate, Keying]:
    """The `duplicate` of `source`'s executor, which takes one stream, and
    its keying."""
    executor, keying = of(source)
    if executor.duplicate is None:
        raise TypeError(
            "`duplicate` takes one stream (a tf.data.Dataset or an iterable); got"
            f" {executor.name}: use ovs.balance with per-class targets"
            " (strategy={label: target})."
        )
    return executor.duplicate, keying


def mixer(sources: object) -> Mix:
    """The `mix` of the one kind of source that every named source is."""
    if not isinstance(sources, Mapping) or not sources:
        raise TypeError(
            "`sources` must be a non-empty dict {name: source}; got"
            f" sources={describe(sources)}."
        )
    loads = {}
    for name, source in sources.items():
        if isinstance(source, Shards):
            raise TypeError(
                f"`sources[{name!r}]` is ovs.Shards; a mixture takes tf.data"
                " datasets or Python iterables (shards per source are not"
                " supported yet)."
            )
        loads[name] = _kind(source)[0]
    if len(set(loads.values())) > 1:
        shown = ", ".join(f"{n!r}: {load().name}" for n, load in loads.items())
        raise TypeError(
            "`sources` must all be of one kind (all tf.data datasets, or all"
            f" Python iterables); got {shown}."
        )
    mix = next(iter(loads.values()))().mix
    assert mix is not None
    return mix
