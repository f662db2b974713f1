"""The Python-stream executor: `ovs.balance`, `ovs.duplicate` and
`ovs.count_labels` on iterables of examples (dicts or tuples): PyTorch
IterableDatasets, Hugging Face IterableDatasets, WebDataset pipelines, lists,
anything that starts over on every `iter()`. NumPy only.

Three kinds of source, keyed as the other executors key them:

- an iterable: by position. Read by several readers (DataLoader workers,
  ranks), reader g of G streams the positions p % G == g, every reader
  reading the whole source;
- `ovs.Shards(files, read)` with `read(file)` an iterable of examples: by
  (shard, position in the shard); reader g reads the files g, g + G, ...;
- `ovs.Shards.tagged(stream, files)`: a stream that another library splits
  by shard (WebDataset's split_by_node / split_by_worker), each example
  naming its shard.

The plan's own rule decides every copy; copies are laid out in a seeded order
per block of `shuffle_buffer` examples, and the copies of held samples (the
spread) are placed over the whole epoch. With torch imported, the result is a
`torch.utils.data.IterableDataset`.

Example:
    >>> import oversample as ovs
    >>> examples = [{"label": 0}, {"label": 0}, {"label": 0}, {"label": 1}]
    >>> stream = ovs.balance(examples, seed=0)
    >>> sorted(e["label"] for e in stream)
    [0, 0, 0, 1, 1, 1]
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from oversample import _seeding
from oversample._choice import Choice
from oversample._copies import Copies
from oversample._py import build as _build
from oversample._py import passes as _passes
from oversample._py import source as _source
from oversample._py.decide import FixedDecider
from oversample._py.fields import Field
from oversample._py.stream import Balanced
from oversample._settings import Settings
from oversample._validation import describe, is_int
from oversample.planning import plan as make_plan
from oversample.shard_counts import ShardCounts
from oversample.shards import Shards

TAGGED = (
    "a tagged stream is split by its own library, so no reader sees the samples"
    " to hold; use ovs.Shards(files, read) for the spread"
)


def count_labels(source: Any, label: Any, progress: bool) -> Any:
    """Samples per label (per shard, an `ovs.ShardCounts`, for shards)."""
    field = Field.of(label, _source.first(source))
    found = _passes.read(_source.pieces(source), field, 0, None, progress)
    if isinstance(source, Shards):
        return _source.shard_counts(source, found)
    return found.counts


def balance(
    source: Any,
    label: Any,
    choice: Choice,
    settings: Settings,
    *,
    progress: bool,
    key: Any,
) -> Balanced:
    if key is not None:
        raise ValueError(
            "`key=` is for tf.data streams; a Python stream is keyed by position, or"
            " by (shard, position in the shard) with ovs.Shards."
        )
    sharded = isinstance(source, Shards)
    field = Field.of(label, _source.first(source))
    plan = choice.given_plan(with_counts=sharded)
    counts = choice.counts
    if sharded and counts is not None and not isinstance(counts, ShardCounts):
        raise TypeError(
            "with `ovs.Shards`, `counts` must be the ovs.ShardCounts of"
            f" ovs.count_labels(shards); got counts={describe(counts)}."
        )
    if plan is None and counts is not None:
        plan = choice.from_counts(counts.counts if sharded else counts)
    if sharded and counts is not None:
        assert plan is not None
        counts.check_files(list(source.files), _source.sizes(source))
        counts.check_plan(plan)
    if sharded and source.stream is not None and settings.spread:
        # NOTE: each reader of a tagged stream sees only the shards its library
        # gives it, so no reader can hold the samples of the others.
        settings = replace(settings, spread=0)
        untagged = TAGGED
    else:
        untagged = None
    found = None
    if plan is None or settings.spread:
        found = _passes.read(
            _source.pieces(source), field, settings.spread, plan, progress
        )
        if sharded and counts is None:
            counts = _source.shard_counts(source, found)
        if plan is None:
            plan = choice.from_counts(counts.counts if sharded else found.counts)
        else:
            _source.check_seen(plan, found)
    assert plan is not None
    if plan.kind != "classes":
        raise ValueError("`plan` must be a per-class plan for ovs.balance.")
    shard_counts = counts if sharded else None
    return _build.class_stream(
        source, field, plan, shard_counts, found, settings, reason=untagged
    )


def duplicate(
    source: Any, form: Copies, *, label: Any, choice: Choice, settings: Settings
) -> Balanced:
    if isinstance(source, Shards):
        raise TypeError(
            "`duplicate` takes one stream (a tf.data.Dataset or an iterable); got"
            " Shards: use ovs.balance with per-class targets (strategy={label:"
            " target})."
        )
    first = _source.first(source)
    field = None if label is None else Field.of(label, first)
    plan = choice.given_plan()
    if plan is not None and plan.kind == "classes":
        if field is None:
            raise ValueError(
                "a class plan needs `label=` to read each example's class."
            )
        found = _passes.read([_passes.Piece(source)], field, settings.spread, plan)
        return _build.class_stream(source, field, plan, None, found, settings)
    if plan is not None:
        return _build.sample_stream(source, plan, settings)
    if form.per_class is not None:
        assert field is not None
        factors = form.per_class
        if form.whole and not settings.spread:
            table = {k: int(f) for k, f in factors.items()}
            decider = FixedDecider(1, per_class=(field.value, table))
            return _build.stream(
                source, decider, None, None, settings, f"classes:{table}"
            )
        found = _passes.read([_passes.Piece(source)], field, settings.spread, None)
        counts = found.counts
        missing = [k for k in factors if k not in counts]
        if missing:
            raise ValueError(
                f"`copies` names classes that are not in the data: {describe(missing)}."
            )
        targets = {k: int(counts[k] * f + 0.5) for k, f in factors.items()}
        planned = make_plan(
            counts=counts, strategy=targets, seed=choice.seed, rounding=choice.rounding
        )
        return _build.class_stream(source, field, planned, None, found, settings)
    if form.weight is not None:
        weights = [float(form.weight(e)) for e in source]
        planned = make_plan(weights=weights, seed=choice.seed, rounding=choice.rounding)
        return _build.sample_stream(source, planned, settings)
    if form.kind == "fraction":
        size = sum(1 for _ in source)
        whole = np.full(size, form.factor)
        planned = make_plan(weights=whole, seed=choice.seed, rounding=choice.rounding)
        return _build.sample_stream(source, planned, settings)
    indices = None if form.indices is None else _indices(form.indices, source)
    decider = FixedDecider(int(form.factor), where=form.where, indices=indices)
    name = f"whole:{form.factor}:{form.where is not None}:{_seeding.derive(0, indices)}"
    return _build.stream(source, decider, None, None, settings, name, seed=choice.seed)


def _indices(indices: Any, source: Any) -> np.ndarray:
    """Sorted unique positions, each checked against the source's length."""
    if isinstance(indices, str | bytes) or not hasattr(indices, "__iter__"):
        raise TypeError(
            f"`indices` must be an iterable of ints; got indices={describe(indices)}."
        )
    values = list(indices)
    bad = [v for v in values if not is_int(v)]
    if bad:
        raise TypeError(
            f"`indices` must be ints (source positions); got {describe(bad[:3])}."
        )
    array = np.unique(np.asarray(values, np.int64))
    size = sum(1 for _ in source)
    outside = array[(array < 0) | (array >= size)]
    if outside.size:
        raise ValueError(
            f"`indices` must be source positions in [0, {size}); got"
            f" {describe(outside[:5].tolist())}."
        )
    return array
