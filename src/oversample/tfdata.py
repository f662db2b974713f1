"""The tf.data executor: count_labels, balance and duplicate in one streaming pass.

Every decision comes from a `Plan` (or, for `duplicate` with whole-number
copies, a fixed rule). Per element, the pipeline looks the label up in a table
of the plan's classes, keeps a running count per class (the sample's
occurrence index: O(classes) state), turns (class, occurrence, epoch) into a
number of copies with the plan's rule and emits that many bit-identical copies.
Copies are interleaved over a window of samples and a top-level seeded shuffle
mixes them. No `py_function` and no stateful RNG: iterators checkpoint and
resume exactly.

This is the only public module that imports TensorFlow (through
`oversample._tf`), on first call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oversample._tf import holding as _holding
from oversample._tf import labels as _labels
from oversample._tf import run as _run
from oversample._tf import settings as _settings
from oversample._tf import sharded as _sharded
from oversample._tf import spreading as _spreading
from oversample._tf.class_rules import KeyedClassRule
from oversample._tf.duplicate import duplicate
from oversample._tf.labels import LabelSpec
from oversample._validation import check_bool, describe
from oversample.plan import Plan
from oversample.planning import plan as make_plan
from oversample.shards import ShardCounts, Shards
from oversample.spread import check_spread
from oversample.strategies import RepeatFactor

__all__ = ["balance", "count_labels", "duplicate"]


def count_labels(ds: Any, label: LabelSpec = "label", *, progress: bool = False) -> Any:
    """Counts elements per class in one pass that reads only the label.

    The pass is batched and vectorised, checks that the class counts add up to
    the elements seen (and to the declared cardinality, when known) and refuses
    an infinite dataset at once. For TFDS, load with
    `decoders={"image": tfds.decode.SkipDecoding()}` to skip decoding images.
    A multi-label element counts once for each distinct class it holds.

    Args:
        ds: a finite `tf.data.Dataset`, or `ovs.Shards` to count each shard
            (files read in parallel).
        label: a feature key (nested as "a/b"), a tuple position (1 for
            `as_supervised=True`) or a callable element -> label tensor.
        progress: show a progress bar (total from the cardinality when known).

    Returns:
        dict label -> count, sorted by label; string labels as `str`. For
        `Shards`, an `ovs.ShardCounts` (per shard; `.counts` is the dict).

    Example:
        >>> import tensorflow as tf, oversample as ovs
        >>> ds = tf.data.Dataset.from_tensor_slices({"label": [3, 1, 3, 3]})
        >>> ovs.count_labels(ds)
        {1: 1, 3: 3}
    """
    check_bool(progress, "progress")
    if isinstance(ds, Shards):
        spec = _sharded.element_spec(ds)
        return _sharded.count(ds, _labels.resolve_label(spec, label), progress)
    resolved = _labels.resolve_label(ds.element_spec, label)
    _labels.check_finite(ds, "count_labels")
    return _labels.count(ds, resolved, progress).counts


def balance(
    ds: Any,
    label: LabelSpec = "label",
    strategy: object = "not majority",
    *,
    seed: int | None = None,
    rounding: str = "exact",
    max_factor: float | None = None,
    counts: Mapping[Any, int] | None = None,
    plan: Plan | None = None,
    epoch: int | None = None,
    epochs: int | None = _settings.UNSET,
    shuffle_buffer: int | str | None = "auto",
    provenance: bool = False,
    progress: bool = False,
    key: LabelSpec | None = None,
    spread: int | str | None = "auto",
) -> Any:
    """Duplicates samples per class so that each class reaches its target.

    One streaming pass with O(classes) state: per element, a running count per
    class gives the sample's occurrence index and the plan's rule gives its
    copies. Without `counts` or `plan`, a label-only pass counts the classes
    first. Decisions are keyed by source position, so the source order must be
    deterministic (TFDS: `shuffle_files=False`; shuffle after oversampling); a
    source that reshuffles on every iteration is refused. With `key=` (e.g.
    "tfds_id" from `tfds.ReadConfig(add_tfds_id=True)`), decisions are keyed by
    a stable id instead and any order works, at the cost of a table of every
    key (a few dozen bytes per sample).

    With `ovs.Shards` instead of a dataset, each file's copies are decided in
    that file's own pipeline from (shard, position in the shard) and the
    per-shard counts, so any split of the files over workers (tf.distribute
    FILE auto-sharding, the tf.data service) yields exactly the plan's epoch
    in union. Give `epoch=k` or `epochs=E` there (every worker must agree);
    the output's cardinality is unknown (each worker holds a share).

    Args:
        ds: a finite `tf.data.Dataset` of dicts (TFDS) or tuples, or
            `ovs.Shards`.
        label: a feature key (nested "a/b"), a tuple position or a callable.
        strategy: see `ovs.plan`; multi-label elements take `ovs.RepeatFactor`.
        seed: an int in [0, 2**64), or None to draw one (kept in `.plan.seed`).
        rounding: "exact" (class totals equal targets in every epoch) or
            "stochastic".
        max_factor: caps every class's factor.
        counts: class counts, to skip the counting pass (for `ovs.Shards`, the
            `ovs.ShardCounts` of `ovs.count_labels(shards)`).
        plan: a ready plan, made from these labels in this order.
        epoch: None (default) makes every iteration a fresh epoch: a new order
            and a new choice of extra copies, with exact class totals. An int k
            streams exactly epoch k of the plan on every iteration.
        epochs: E streams epochs 0..E-1 back to back, each exactly the plan's;
            None streams them without end.
        shuffle_buffer: "auto" (default: total / 16 within [1024, 16384]), a
            size, or 0 / None for no shuffle (copies then stay close together).
        provenance: emit (element, {"key": sample, "copy": index}); the sample
            is the source position (or, with `key=`, the rank of the key).
        progress: show a progress bar on the counting pass.
        key: a feature (or callable) holding a unique id per sample.
        spread: the memory budget for holding the samples with the most
            copies, whose copies are then placed over the whole epoch instead
            of within the shuffle buffer: "auto" (default: 256 MiB), bytes as
            an int or a size such as "1GiB", or None (copies mix in the shuffle
            buffer only). Collecting them reads the source once when the
            pipeline is built; that pass also counts the labels when no
            `counts` are given. `.spread` on the result reports what is held.

    Returns:
        A `tf.data.Dataset` with the same element structure (unless
        `provenance`), a known cardinality with exact rounding, and the plan
        it carries out as its `.plan` attribute.

    Example:
        >>> import tensorflow as tf, oversample as ovs
        >>> ds = tf.data.Dataset.from_tensor_slices({"label": [0, 0, 0, 1]})
        >>> out = ovs.balance(ds, seed=0)
        >>> int(out.cardinality()), sorted(int(e["label"]) for e in out)
        (6, [0, 0, 0, 1, 1, 1])
    """
    settings = _run.checked_settings(epoch, epochs, shuffle_buffer, provenance)
    check_bool(progress, "progress")
    budget = check_spread(spread)
    choice: dict[str, Any] = {
        "strategy": strategy,
        "seed": seed,
        "rounding": rounding,
        "max_factor": max_factor,
    }
    if isinstance(ds, Shards):
        return _balance_shards(
            ds,
            label,
            choice,
            settings,
            progress,
            budget,
            counts=counts,
            plan=plan,
            key=key,
        )
    resolved = _labels.resolve_label(ds.element_spec, label)
    _run.check_schedule(plan if plan is not None else strategy, settings)
    if key is not None:
        return _balance_by_key(
            ds, resolved, key, choice, settings, progress, budget, counts, plan
        )
    chosen: Plan | None = None
    if plan is not None:
        chosen = _run.check_plan_alone(
            plan, strategy, rounding, max_factor, counts, seed
        )
    elif counts is not None:
        chosen = make_plan(counts=counts, **choice)
    planned = None if chosen is None else chosen.num_samples
    _settings.check_source(ds, planned, keyed_by_position=True)
    reason = _spread_problem(budget, ds.element_spec, chosen, resolved)
    if reason is None:
        _labels.check_finite(ds, "balance")
        holding = _spreading.by_position(
            ds,
            resolved,
            budget,
            chosen,
            lambda found: make_plan(counts=found, **choice),
            progress,
        )
        return _run.run_plan(ds, holding.plan, resolved, settings, holding=holding)
    if chosen is None:
        chosen = _count_and_plan(ds, resolved, choice, progress)
    holding = _spreading.Holding(chosen, None, budget, reason)
    return _run.run_plan(ds, chosen, resolved, settings, holding=holding)


def _count_and_plan(
    ds: Any, label: _labels.Label, choice: dict[str, Any], progress: bool
) -> Plan:
    """The counting pass, then the plan (per-sample label lists for
    multi-label elements)."""
    _labels.check_finite(ds, "balance")
    if not label.multi:
        return make_plan(counts=_labels.count(ds, label, progress).counts, **choice)
    if not isinstance(choice["strategy"], RepeatFactor):
        raise ValueError(
            "multi-label elements (a list of labels each) work with"
            " strategy=ovs.RepeatFactor(threshold) only; got"
            f" strategy={describe(choice['strategy'])}."
        )
    return make_plan(_labels.count(ds, label, progress).rows, **choice)


def _spread_problem(
    budget: int, spec: Any, plan: Plan | None, label: _labels.Label
) -> str | None:
    """Why this stream holds nothing for the spread, or None when it can."""
    if not budget:
        return "spread=None"
    if label.multi:
        return "multi-label elements take per-sample factors"
    return _holding.holdable(spec, plan)


def _balance_by_key(
    ds: Any,
    label: _labels.Label,
    key: LabelSpec,
    choice: dict[str, Any],
    settings: _settings.Settings,
    progress: bool,
    budget: int,
    counts: object,
    plan: object,
) -> Any:
    """Decisions keyed by a stable id: the plan's sample i has the i-th key."""
    if counts is not None or plan is not None:
        raise ValueError(
            "`key=` reads every key in its own pass to rank the samples; it does"
            " not combine with `counts=` or `plan=`."
        )
    if label.multi:
        raise ValueError("`key=` supports one label per element.")
    resolved_key = _labels.resolve_label(ds.element_spec, key, name="key")
    if resolved_key.multi:
        raise ValueError("`key` must be a scalar id per element.")
    _labels.check_finite(ds, "balance")
    reason = _spread_problem(budget, ds.element_spec, None, label)
    if reason is None:
        holding, keys = _spreading.by_key(
            ds,
            label,
            resolved_key,
            budget,
            lambda labels: make_plan(labels, **choice),
            progress,
        )
    else:
        keyed = _labels.collect_keyed(ds, label, resolved_key, progress)
        keys = keyed.keys
        holding = _spreading.Holding(
            make_plan(keyed.labels, **choice), None, budget, reason
        )
    chosen = holding.plan
    rule = KeyedClassRule(chosen, label, resolved_key, keys)
    out = _run.run(
        ds,
        rule,
        settings,
        seed=chosen.seed,
        fingerprint=chosen.fingerprint,
        plan=chosen,
        holding=holding,
    )
    out.keys = keys
    return out


def _balance_shards(
    shards: Shards,
    label: LabelSpec,
    choice: dict[str, Any],
    settings: _settings.Settings,
    progress: bool,
    budget: int,
    *,
    counts: object,
    plan: Plan | None,
    key: object,
) -> Any:
    """Decisions keyed by (shard, position in the shard); see `ovs.Shards`."""
    if key is not None:
        raise ValueError(
            "with `ovs.Shards` the key is (shard, position in the shard); `key=`"
            " does not apply."
        )
    spec = _sharded.element_spec(shards)
    resolved = _labels.resolve_label(spec, label)
    _sharded.check_source(shards, resolved, settings)
    if counts is None and plan is not None:
        raise ValueError(
            "with `ovs.Shards`, `plan=` needs `counts=` (the ovs.ShardCounts it"
            " was made from): decisions use each shard's counts."
        )
    if counts is not None and not isinstance(counts, ShardCounts):
        raise TypeError(
            "with `ovs.Shards`, `counts` must be the ovs.ShardCounts of"
            f" ovs.count_labels(shards); got counts={describe(counts)}."
        )
    chosen = None
    if plan is not None:
        chosen = _run.check_plan_alone(
            plan,
            choice["strategy"],
            choice["rounding"],
            choice["max_factor"],
            None,
            choice["seed"],
        )
    elif counts is not None:
        chosen = make_plan(counts=counts.counts, **choice)
    if counts is not None:
        _sharded.check_counts(shards, counts, chosen)
    reason = _spread_problem(budget, spec, chosen, resolved)
    if reason is None:
        holding, counts = _spreading.by_shard(
            shards,
            resolved,
            budget,
            counts,
            chosen,
            lambda found: make_plan(counts=found.counts, **choice),
            progress,
        )
        chosen = holding.plan
    else:
        if counts is None:
            counts = _sharded.count(shards, resolved, progress)
            chosen = make_plan(counts=counts.counts, **choice)
        holding = _spreading.Holding(chosen, None, budget, reason)
    assert chosen is not None
    return _sharded.balance(shards, resolved, chosen, counts, settings, spec, holding)
