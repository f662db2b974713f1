"""The tf.data executor over shards: `ovs.Shards` whose reader returns a
tf.data.Dataset per file. A sample's key is (shard, position in the shard);
see `oversample.core.shard_counts`."""

from __future__ import annotations

from typing import Any

from oversample.core.prepare import Choice, prepare
from oversample.core.settings import Settings
from oversample.core.shard_counts import ShardCounts
from oversample.shards import Shards
from oversample.tf import labels as _labels
from oversample.tf import shard_source as _source
from oversample.tf import sharded as _sharded
from oversample.tf import spreading as _spreading
from oversample.tf.labels import LabelSpec
from oversample.tf.readers import ShardReader


def count_labels(shards: Shards, label: LabelSpec, progress: bool) -> ShardCounts:
    """Labels per shard: files read in parallel, one label-only pass."""
    spec = _source.element_spec(shards)
    return _source.count(shards, _labels.resolve_label(spec, label), progress)


def balance(
    shards: Shards,
    label: LabelSpec,
    choice: Choice,
    settings: Settings,
    *,
    progress: bool,
    key: object,
) -> Any:
    """Decisions keyed by (shard, position in the shard); see `ovs.Shards`."""
    spec = _source.element_spec(shards)
    resolved = _labels.resolve_label(spec, label)
    _source.check_source(shards, resolved, settings)
    prepared = prepare(ShardReader(shards, resolved, spec), choice, settings, progress)
    counts = prepared.counts
    place = _spreading.by_shard(counts, len(shards.files))
    holding = _spreading.held(prepared, 2, place)
    return _sharded.balance(
        shards, resolved, prepared.plan, counts, settings, spec, holding
    )
