"""The entry points: `count_labels`, `balance`, `duplicate` and `mix` check what
they are given and hand the source to its executor (see `oversample.sources`);
`mix_plan` is the mixture's plan for random access.

NumPy only: an executor imports TensorFlow when the source is a tf.data one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from oversample import sources as _sources
from oversample.core import copies as _copies
from oversample.core import mixture as _mixture
from oversample.core import settings as _settings
from oversample.core.plan import Plan
from oversample.core.prepare import Choice
from oversample.core.validation import check_bool, check_int

Label = str | int | Callable[[Any], Any]  # what `label=` and `key=` take

__all__ = ["balance", "count_labels", "duplicate", "mix", "mix_plan"]


def count_labels(ds: Any, label: Label = "label", *, progress: bool = False) -> Any:
    """Counts elements per class in one pass that reads only the label.

    The pass is batched and vectorised, checks that the class counts add up to
    the elements seen (and to the declared cardinality, when known) and refuses
    an infinite dataset at once. For TFDS, load with
    `decoders={"image": tfds.decode.SkipDecoding()}` to skip decoding images.
    A multi-label element counts once for each distinct class it holds.

    Args:
        ds: a finite `tf.data.Dataset`, a Python iterable, or `ovs.Shards` to
            count each shard (files read in parallel; with `engine="ray"`,
            one Ray task per file).
        label: a feature key (nested as "a/b"), a tuple position (1 for
            `as_supervised=True`) or a callable element -> label tensor.
        progress: show a progress bar (total from the cardinality when known).

    Returns:
        dict label -> count, sorted by label; string labels as `str`. For
        `Shards`, an `ovs.ShardCounts` (per shard; `.counts` is the dict).

    Examples:
        >>> import tensorflow as tf, oversample as ovs
        >>> ds = tf.data.Dataset.from_tensor_slices({"label": [3, 1, 3, 3]})
        >>> ovs.count_labels(ds)
        {1: 1, 3: 3}
    """
    check_bool(progress, "progress")
    executor, keying = _sources.of(ds)
    return executor.count_labels(ds, label, progress, keying=keying)


def balance(
    ds: Any,
    label: Label = "label",
    strategy: object = "not majority",
    *,
    seed: int | None = None,
    rounding: str = "exact",
    max_factor: float | None = None,
    counts: Mapping[Any, int] | None = None,
    plan: Plan | None = None,
    epoch: int | None = None,
    epochs: int | str | None = "fresh",
    shuffle_buffer: int | str | None = "auto",
    provenance: bool = False,
    copy_seeds: bool = False,
    progress: bool = False,
    key: Label | None = None,
    spread: int | str | None = "auto",
    thin: bool = False,
    stratified: int | None = None,
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

    With `ovs.Shards(files, read, engine="ray")`, each file is read and its
    copies decided by one Ray task, and the result is a lazy
    `ray.data.Dataset` of the epoch (see the guide's Ray page).

    Args:
        ds: a finite `tf.data.Dataset` of dicts (TFDS) or tuples, a Python
            iterable of examples, or `ovs.Shards`.
        label: a feature key (nested "a/b"), a tuple position or a callable.
        strategy: see `ovs.plan`; multi-label elements take `ovs.RepeatFactor`.
        seed: an int in [0, 2**64), or None to draw one (kept in `.plan.seed`).
        rounding: "exact" (class totals equal targets in every epoch) or
            "stochastic".
        max_factor: caps every class's factor.
        counts: class counts, to skip the counting pass (for `ovs.Shards`, the
            `ovs.ShardCounts` of `ovs.count_labels(shards)`). A one-shot Python
            iterator (a generator) given its counts is read once, for one epoch.
        plan: a ready plan, made from these labels in this order.
        epoch: an int k streams exactly epoch k of the plan on every
            iteration. None (default): see `epochs`.
        epochs: "fresh" (default, with `epoch=None`) makes every iteration a
            fresh epoch: a new order and a new choice of extra copies, with
            exact class totals. An int E streams epochs 0..E-1 back to back,
            each exactly the plan's; None streams them without end.
        shuffle_buffer: "auto" (default: total / 16 within [1024, 16384]), a
            size, or 0 / None for no shuffle (copies then stay close together).
        provenance: emit (element, {"key": sample, "copy": index}); the sample
            is the source position (or, with `key=`, the rank of the key).
        copy_seeds: emit (element, {"seed": seed}) (with `provenance`, in the
            same dict): a seed per copy for its augmentation, a pure function
            of (plan seed, epoch, sample, copy index), the same in another
            process, on another worker and after a resume. tf.data: an int64
            [2] tensor for `tf.image.stateless_random_*`; Python: an int in
            [0, 2**64); Ray: a "seed" column. Keyed like `provenance` (a
            reshuffling source needs `key=`); see the guide's augmentation page.
        progress: show a progress bar on the counting pass.
        key: a feature (or callable) holding a unique id per sample.
        spread: the memory budget for holding the samples with the most
            copies, whose copies are then placed over the whole epoch instead
            of within the shuffle buffer: "auto" (default: 256 MiB), bytes as
            an int or a size such as "1GiB", or None (copies mix in the shuffle
            buffer only). Collecting them reads the source once when the
            pipeline is built; that pass also counts the labels when no
            `counts` are given. `.spread` on the result reports what is held.
        thin: allow targets below the counts ("median", "mean", an int size, a
            dict target): such a class gives each sample 0 or 1 copies per
            epoch, rotating over epochs (see `ovs.plan`).
        stratified: B, to lay each epoch out in batches of B that each hold
            every class's share of the epoch to within one (the quota of
            `ovs.mix(stratified=B)`). A Python iterable's stream does it when
            its spread holds every class in memory (then the whole epoch is at
            hand; with DataLoader workers or ranks, each reader's part); it is
            refused otherwise, and on tf.data, shards and Ray, naming
            `ovs.BatchSampler(..., stratified=True)` over a random-access
            source, which gives it at any size.

    Returns:
        A `tf.data.Dataset` with the same element structure (unless
        `provenance` or `copy_seeds`), a known cardinality with exact
        rounding, and the plan it carries out as its `.plan` attribute. For
        a Python iterable, a stream (a torch `IterableDataset` when torch is
        loaded); for shards on Ray, a `ray.data.Dataset` with `.plan`,
        `.shard_counts` and `.with_epoch(k)`.

    Examples:
        >>> import tensorflow as tf, oversample as ovs
        >>> ds = tf.data.Dataset.from_tensor_slices({"label": [0, 0, 0, 1]})
        >>> out = ovs.balance(ds, seed=0)
        >>> int(out.cardinality()), sorted(int(e["label"]) for e in out)
        (6, [0, 0, 0, 1, 1, 1])
    """
    settings = _settings.checked(
        epoch, epochs, shuffle_buffer, provenance, spread, copy_seeds
    )
    check_bool(progress, "progress")
    if stratified is not None:
        stratified = check_int(stratified, "stratified", minimum=1)
    choice = Choice(strategy, seed, rounding, max_factor, counts, plan, thin)
    executor, keying = _sources.of(ds, key)
    if stratified is not None:
        if not executor.stratifies:
            raise ValueError(_stratified_elsewhere(stratified, executor.name))
        settings = dataclasses.replace(settings, stratified=stratified)
    return executor.balance(
        ds, label, choice, settings, keying=keying, progress=progress
    )


def _stratified_elsewhere(size: int, where: str) -> str:
    """Why `stratified=` is refused on this kind of source, and what gives it."""
    return (
        f"`stratified`={size} is not available in `ovs.balance` on {where}: it"
        " needs the whole epoch's copies in memory to lay them out by class, as"
        " a Python iterable's stream does when the spread holds every class."
        " Read the source by index instead: ovs.BatchSampler(ovs.Sampler(plan),"
        f" batch_size={size}, stratified=True) (PyTorch, Grain, TFDS"
        " data_source, NumPy); ovs.mix(..., stratified=B) does it for sources."
    )


def duplicate(
    ds: Any,
    copies: float | Mapping[Any, float] | Callable[[Any], Any] | None = None,
    *,
    where: Callable[[Any], Any] | None = None,
    indices: Iterable[int] | None = None,
    label: Label | None = None,
    seed: int | None = None,
    rounding: str = "exact",
    plan: Plan | None = None,
    epoch: int | None = None,
    epochs: int | str | None = "fresh",
    shuffle_buffer: int | str | None = "auto",
    provenance: bool = False,
    copy_seeds: bool = False,
    spread: int | str | None = "auto",
) -> Any:
    """Duplicates every sample, chosen samples, or samples per class.

    Forms:
        duplicate(ds, copies=2): every sample twice.
        duplicate(ds, copies=3, where=lambda ex: ex["label"] == 7): samples for
            which the graph-safe predicate holds get 3 copies, the others 1.
        duplicate(ds, copies=2, indices=range(100)): chosen source positions.
        duplicate(ds, copies=lambda ex: ex["weight"]): a real factor >= 1 per
            sample, read from the element; one pre-pass validates every factor
            and fixes the epoch total at round(sum); each sample gets floor or
            ceil of its factor.
        duplicate(ds, copies={3: 4, 7: 2}, label="label"): per-class factors;
            classes not named keep one copy.
        duplicate(ds, plan=ovs.plan(weights=w)): a ready per-sample plan.

    Args:
        copies: a whole or real factor >= 1 for every sample (or, with
            `where` or `indices`, a whole factor for those samples), a dict
            {label: factor}, or a callable element -> factor. None (default):
            2, or the copies of `plan`.
        where: a graph-safe predicate element -> bool (a boolean scalar).
        indices: chosen source positions.
        label: reads each element's class, for per-class `copies` or a class
            `plan`.
        plan: a ready plan, given alone (without `copies`, `where` or
            `indices`).

    The other arguments are those of `balance`. Every form is carried out as a
    plan (`.plan` on the result): whole copies as a plan of kind "whole",
    whose fingerprint covers what decides them (the predicate's code, or its
    traced graph in tf.data), so that a saved state restores only into a
    stream that decides the same.

    Examples:
        >>> import tensorflow as tf, oversample as ovs
        >>> ds = tf.data.Dataset.range(3)
        >>> sorted(int(x) for x in ovs.duplicate(ds, copies=2, seed=0))
        [0, 0, 1, 1, 2, 2]
    """
    settings = _settings.checked(
        epoch, epochs, shuffle_buffer, provenance, spread, copy_seeds
    )
    form = _copies.parse(copies, where, indices, label, plan)
    choice = Choice(seed=seed, rounding=rounding, plan=plan)
    duplicate, keying = _sources.duplicator(ds)
    return duplicate(
        ds, form, label=label, choice=choice, settings=settings, keying=keying
    )


def mix(
    sources: Mapping[str, Any],
    rates: Mapping[str, float] | None = None,
    *,
    samples: Mapping[str, int] | None = None,
    seed: int | None = None,
    stratified: int | None = None,
    epoch: int | None = None,
    epochs: int | str | None = "fresh",
    shuffle_buffer: int | str | None = "auto",
    balance: Mapping[str, Any] | None = None,
    copy_seeds: bool = False,
) -> Any:
    """Mixes several named sources into one stream at exact rates.

    The mixture is a plan whose classes are the sources: a source of n samples
    at a rate of r epochs gives round(r * n) elements per epoch, each sample
    b or b+1 copies by the plan's rule (a rate below 1 thins the source and
    rotates: every sample is used within ceil(n / T) epochs, T = round(r * n)
    its elements per epoch). A sample's copies
    lie a source-epoch apart (each extra epoch of a source is a pass over it),
    and the sources are interleaved by a fixed schedule that puts the j-th
    output of source s at the point (j + 1/2) / T_s of the epoch, so every
    run of outputs holds each source near its share.

    Args:
        sources: {name: source}, all tf.data datasets (one dataset out, its
            cardinality known) or all Python iterables that start over on
            every iter() (a stream out, for a DataLoader).
        rates: {name: epochs of that source per epoch of the mixture}, each a
            finite number > 0 (e.g. {"wiki": 2.5, "code": 1, "books": 0.3}).
        samples: instead of `rates`, {name: elements per epoch}, each >= 1.
        seed: an int in [0, 2**64), or None to draw one (kept in `.plan.seed`).
        stratified: a batch size B for stratified batches: every batch of B
            consecutive elements (from the first) holds each source's share
            B * T_s / T to within one sample. None (default): every run of
            elements holds each source's share to within about two. Either
            way each source is shuffled in its own seeded buffer.
        epoch: as in `ovs.balance`.
        epochs: as in `ovs.balance`.
        shuffle_buffer: as in `ovs.balance`: each source's own buffer.
        balance: {name: label} or {name: (label, strategy)}: balance that
            source's classes inside the mixture. A label pass counts them; the
            class plan's targets times the source's rate are its targets
            (`.mixture.within[name]`), carried out by `ovs.balance`'s executor.
        copy_seeds: as in `ovs.balance`; a sample's key is its place in the
            concatenation of the sources, so each copy's seed is the one
            `ovs.Sampler(ovs.mix_plan(...), copy_seeds=True)` gives it.

    Returns:
        The mixed stream, with `.plan` (classes are the names) and `.mixture`.

    Examples:
        >>> import oversample as ovs
        >>> out = ovs.mix({"a": list(range(4)), "b": [10, 11]},
        ...               rates={"a": 0.5, "b": 2}, seed=0, epoch=0)
        >>> len(out), sorted(out)
        (6, [1, 2, 10, 10, 11, 11])
    """
    settings = _settings.checked(
        epoch, epochs, shuffle_buffer, provenance=False, copy_seeds=copy_seeds
    )
    if stratified is not None:
        stratified = check_int(stratified, "stratified", minimum=1)
    mix = _sources.mixer(sources)
    return mix(dict(sources), rates, samples, seed, settings, stratified, balance)


def mix_plan(
    sizes: Mapping[str, int],
    rates: Mapping[str, float] | None = None,
    *,
    samples: Mapping[str, int] | None = None,
    seed: int | None = None,
) -> Plan:
    """The plan of a mixture of map-style datasets, for `ovs.Sampler`.

    Its samples are the concatenation of the sources in the order given (as
    `torch.utils.data.ConcatDataset` or HF `concatenate_datasets` lays them
    out) and its classes are the names, with the targets of `ovs.mix`.

    Args:
        sizes: {name: len(dataset)}, in the order of the concatenation.
        rates: as in `ovs.mix`.
        samples: as in `ovs.mix`.
        seed: as in `ovs.mix`.

    Examples:
        >>> import oversample as ovs
        >>> plan = ovs.mix_plan({"a": 4, "b": 2}, rates={"a": 0.5, "b": 2}, seed=0)
        >>> plan.targets, len(ovs.Sampler(plan))
        ({'a': 2, 'b': 4}, 6)
    """
    return _mixture.mixture(sizes, rates, samples, seed).plan
