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

from typing import Any

import numpy as np

from oversample.core import copies as _copies
from oversample.core import seeding as _seeding
from oversample.core.copies import Copies
from oversample.core.planning import plan as make_plan
from oversample.core.prepare import Choice, FactorChoice, prepare
from oversample.core.settings import Settings
from oversample.py import build as _build
from oversample.py import source as _source
from oversample.py.decide import FixedDecider
from oversample.py.fields import Field
from oversample.py.source import IterableReader
from oversample.py.stream import Balanced
from oversample.shards import Shards


def count_labels(source: Any, label: Any, progress: bool) -> Any:
    """Samples per label (per shard, an `ovs.ShardCounts`, for shards)."""
    counted = IterableReader(source, label).count(progress)
    return counted.shard_counts if isinstance(source, Shards) else counted.counts


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
    reader = IterableReader(source, label)
    prepared = prepare(reader, choice, settings, progress)
    plan = prepared.plan
    if plan.kind != "classes":
        return _build.sample_stream(reader.source, plan, settings)
    return _build.class_stream(
        reader.source,
        reader.field,
        plan,
        prepared.counts if reader.sharded else None,
        prepared.found,
        settings,
        reason=prepared.reason,
    )


def duplicate(
    source: Any, form: Copies, *, label: Any, choice: Choice, settings: Settings
) -> Balanced:
    first = _source.first(source)
    plan = choice.given_plan()
    if plan is not None and plan.kind != "classes":
        return _build.sample_stream(source, plan, settings)
    if plan is not None and label is None:
        raise ValueError("a class plan needs `label=` to read each example's class.")
    if form.per_class is not None and form.whole and not settings.spread:
        field = Field.of(label, first)
        table = {k: int(f) for k, f in form.per_class.items()}
        decider = FixedDecider(1, per_class=(field.value, table))
        return _build.stream(source, decider, None, None, settings, f"classes:{table}")
    if plan is not None or form.per_class is not None:
        if plan is None:
            choice = FactorChoice(
                seed=choice.seed, rounding=choice.rounding, factors=form.per_class
            )
        reader = IterableReader(source, label)
        prepared = prepare(reader, choice, settings, progress=False)
        return _build.class_stream(
            source,
            reader.field,
            prepared.plan,
            None,
            prepared.found,
            settings,
            reason=prepared.reason,
        )
    if form.weight is not None:
        weights = [float(form.weight(e)) for e in source]
        planned = make_plan(weights=weights, seed=choice.seed, rounding=choice.rounding)
        return _build.sample_stream(source, planned, settings)
    if form.kind == "fraction":
        size = sum(1 for _ in source)
        whole = np.full(size, form.factor)
        planned = make_plan(weights=whole, seed=choice.seed, rounding=choice.rounding)
        return _build.sample_stream(source, planned, settings)
    indices = (
        None
        if form.indices is None
        else _copies.positions(form.indices, lambda: sum(1 for _ in source))
    )
    decider = FixedDecider(int(form.factor), where=form.where, indices=indices)
    name = f"whole:{form.factor}:{form.where is not None}:{_seeding.derive(0, indices)}"
    return _build.stream(source, decider, None, None, settings, name, seed=choice.seed)
