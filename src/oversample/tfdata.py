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

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from oversample import _seeding
from oversample._tf import labels as _labels
from oversample._tf import pipeline as _pipeline
from oversample._tf import rules as _rules
from oversample._tf import tf as _tf
from oversample._validation import check_factor, describe, is_int
from oversample.plan import Plan
from oversample.plan import plan as make_plan
from oversample.strategies import RepeatFactor

LabelSpec = str | int | Callable[[Any], Any]

_UNSET = _pipeline.UNSET


def count_labels(
    ds: Any, label: LabelSpec = "label", *, progress: bool = False
) -> dict[int | str, int]:
    """Counts elements per class in one pass that reads only the label.

    The pass is batched and vectorised, checks that the class counts add up to
    the elements seen (and to the declared cardinality, when known) and refuses
    an infinite dataset at once. For TFDS, load with
    `decoders={"image": tfds.decode.SkipDecoding()}` to skip decoding images.
    A multi-label element counts once for each distinct class it holds.

    Args:
        ds: a finite `tf.data.Dataset`.
        label: a feature key (nested as "a/b"), a tuple position (1 for
            `as_supervised=True`) or a callable element -> label tensor.
        progress: show a progress bar (total from the cardinality when known).

    Returns:
        dict label -> count, sorted by label; string labels as `str`.

    Example:
        >>> import tensorflow as tf, oversample as ovs
        >>> ds = tf.data.Dataset.from_tensor_slices({"label": [3, 1, 3, 3]})
        >>> ovs.count_labels(ds)
        {1: 1, 3: 3}
    """
    resolved = _labels.resolve_label(ds.element_spec, label)
    _labels.check_finite(ds, "count_labels")
    return _labels.count(ds, resolved, progress).counts


def _settings(
    epoch: object, epochs: object, shuffle_buffer: object, provenance: object
) -> _pipeline.Settings:
    if not isinstance(provenance, bool):
        raise TypeError(
            f"`provenance` must be a bool; got provenance={describe(provenance)}."
        )
    return _pipeline.Settings(
        epochs=_pipeline.check_epochs(epoch, epochs),
        shuffle_buffer=_pipeline.check_buffer(shuffle_buffer),
        provenance=provenance,
    )


def _total(plan: Plan) -> int | None:
    return plan.total if plan.rounding == "exact" else None


def _run(
    ds: Any,
    rule: _rules.Rule,
    settings: _pipeline.Settings,
    *,
    seed: int,
    fingerprint: str,
    plan: Plan | None = None,
    total: int | None = None,
) -> Any:
    """Checks the source against the plan, builds the pipeline, attaches the plan."""
    cardinality = int(ds.cardinality())
    num_samples = plan.num_samples if plan is not None else None
    _pipeline.check_source(ds, num_samples, keyed_by_position=rule.by_position)
    if num_samples is None and cardinality >= 0:
        num_samples = cardinality
    out = _pipeline.assemble(
        ds,
        rule,
        settings,
        seed=seed,
        num_samples=num_samples,
        total_per_epoch=_total(plan) if plan is not None else total,
        fingerprint=fingerprint,
    )
    out.plan = plan
    return out


def _run_plan(
    ds: Any,
    plan: Plan,
    label: _labels.Label | None,
    settings: _pipeline.Settings,
    rule: _rules.Rule | None = None,
) -> Any:
    """Carries out `plan` with its own rule (or `rule`, which reads the plan)."""
    return _run(
        ds,
        _rules.plan_rule(plan, label) if rule is None else rule,
        settings,
        seed=plan.seed,
        fingerprint=plan.fingerprint,
        plan=plan,
    )


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
    epochs: int | None = _UNSET,
    shuffle_buffer: int | str | None = "auto",
    provenance: bool = False,
    progress: bool = False,
    key: LabelSpec | None = None,
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

    Args:
        ds: a finite `tf.data.Dataset` of dicts (TFDS) or tuples.
        label: a feature key (nested "a/b"), a tuple position or a callable.
        strategy: see `ovs.plan`; multi-label elements take `ovs.RepeatFactor`.
        seed: an int in [0, 2**64), or None to draw one (kept in `.plan.seed`).
        rounding: "exact" (class totals equal targets in every epoch) or
            "stochastic".
        max_factor: caps every class's factor.
        counts: class counts, to skip the counting pass.
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
    resolved = _labels.resolve_label(ds.element_spec, label)
    settings = _settings(epoch, epochs, shuffle_buffer, provenance)
    if key is not None:
        return _balance_by_key(
            ds,
            resolved,
            key,
            strategy,
            seed,
            rounding,
            max_factor,
            settings,
            progress,
            counts=counts,
            plan=plan,
        )
    if plan is not None:
        chosen = _check_plan_alone(plan, strategy, rounding, max_factor, counts, seed)
    elif resolved.multi:
        if not isinstance(strategy, RepeatFactor):
            raise ValueError(
                "multi-label elements (a list of labels each) work with"
                " strategy=ovs.RepeatFactor(threshold) only; got"
                f" strategy={describe(strategy)}."
            )
        _labels.check_finite(ds, "balance")
        rows = _labels.count(ds, resolved, progress).rows
        chosen = make_plan(
            rows, strategy, seed=seed, rounding=rounding, max_factor=max_factor
        )
    else:
        if counts is None:
            _labels.check_finite(ds, "balance")
            counts = _labels.count(ds, resolved, progress).counts
        chosen = make_plan(
            counts=counts,
            strategy=strategy,
            seed=seed,
            rounding=rounding,
            max_factor=max_factor,
        )
    return _run_plan(ds, chosen, resolved, settings)


def _balance_by_key(
    ds: Any,
    label: _labels.Label,
    key: LabelSpec,
    strategy: object,
    seed: int | None,
    rounding: str,
    max_factor: float | None,
    settings: _pipeline.Settings,
    progress: bool,
    *,
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
    keyed = _labels.collect_keyed(ds, label, resolved_key, progress)
    chosen = make_plan(
        keyed.labels, strategy, seed=seed, rounding=rounding, max_factor=max_factor
    )
    rule = _rules.KeyedClassRule(chosen, label, resolved_key, keyed.keys)
    out = _run(
        ds,
        rule,
        settings,
        seed=chosen.seed,
        fingerprint=chosen.fingerprint,
        plan=chosen,
    )
    out.keys = keyed.keys
    return out


def _check_plan_alone(
    plan: object,
    strategy: object,
    rounding: str,
    max_factor: object,
    counts: object,
    seed: object,
) -> Plan:
    if not isinstance(plan, Plan):
        raise TypeError(f"`plan` must be an ovs.Plan; got plan={describe(plan)}.")
    given = [
        name
        for name, value, default in (
            ("strategy", strategy, "not majority"),
            ("rounding", rounding, "exact"),
            ("max_factor", max_factor, None),
            ("counts", counts, None),
            ("seed", seed, None),
        )
        if not (value is default or (isinstance(value, str) and value == default))
    ]
    if given:
        raise ValueError(
            f"`plan` already fixes {', '.join(given)}; pass either a plan or"
            " those arguments."
        )
    return plan


def duplicate(
    ds: Any,
    copies: float | Mapping[Any, float] | Callable[[Any], Any] = 2,
    *,
    where: Callable[[Any], Any] | None = None,
    indices: Iterable[int] | None = None,
    label: LabelSpec | None = None,
    seed: int | None = None,
    rounding: str = "exact",
    plan: Plan | None = None,
    epoch: int | None = None,
    epochs: int | None = _UNSET,
    shuffle_buffer: int | str | None = "auto",
    provenance: bool = False,
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

    The other arguments are those of `balance`.

    Example:
        >>> import tensorflow as tf, oversample as ovs
        >>> ds = tf.data.Dataset.range(3)
        >>> sorted(int(x) for x in ovs.duplicate(ds, copies=2, seed=0))
        [0, 0, 1, 1, 2, 2]
    """
    settings = _settings(epoch, epochs, shuffle_buffer, provenance)
    if where is not None and indices is not None:
        raise ValueError("give `where` or `indices`, not both.")
    resolved = None if label is None else _labels.resolve_label(ds.element_spec, label)
    if plan is not None:
        chosen = _check_plan_alone(plan, "not majority", rounding, None, None, seed)
        return _run_plan(ds, chosen, resolved, settings)
    if isinstance(copies, Mapping):
        if resolved is None:
            raise ValueError(
                "per-class `copies` (a dict) needs `label=` to read each element's"
                " class."
            )
        if where is not None or indices is not None:
            raise ValueError(
                "per-class `copies` does not combine with `where` or `indices`."
            )
        return _duplicate_by_class(ds, copies, resolved, seed, rounding, settings)
    if resolved is not None:
        raise ValueError("`label` goes with per-class `copies` (a dict) only.")
    if callable(copies):
        if where is not None or indices is not None:
            raise ValueError(
                "a callable `copies` gives every sample its own factor; it does not"
                " combine with `where` or `indices`."
            )
        return _duplicate_by_weight(ds, copies, seed, rounding, settings)
    factor = check_factor(copies, "copies")
    if factor.is_integer():
        return _duplicate_whole(ds, int(factor), where, indices, seed, settings)
    if where is not None or indices is not None:
        raise ValueError(
            "`copies` must be a whole number with `where` or `indices`; got"
            f" copies={copies}."
        )
    cardinality = int(ds.cardinality())
    if cardinality < 0:
        raise ValueError(
            f"a fractional `copies`={copies} needs the number of samples, but the"
            " cardinality of `ds` is unknown; pass"
            " `ds.apply(tf.data.experimental.assert_cardinality(n))`."
        )
    chosen = make_plan(
        weights=np.full(cardinality, factor), seed=seed, rounding=rounding
    )
    return _run_plan(ds, chosen, None, settings)


def _duplicate_whole(
    ds: Any,
    copies: int,
    where: Callable[[Any], Any] | None,
    indices: Iterable[int] | None,
    seed: int | None,
    settings: _pipeline.Settings,
) -> Any:
    """Whole-number copies for all, for `where`, or for chosen positions."""
    tf = _tf()
    many = tf.constant(copies, tf.int64)
    one = tf.constant(1, tf.int64)
    cardinality = int(ds.cardinality())
    total = cardinality * copies if cardinality >= 0 else None
    if where is not None:
        spec = _labels.output_spec(ds.element_spec, where, "where")
        if not (
            isinstance(spec, tf.TensorSpec)
            and spec.dtype == tf.bool
            and spec.shape.rank == 0
        ):
            raise TypeError(
                f"`where` must return a boolean scalar per element; it returns {spec}."
            )

        def rule(element: Any, key: Any) -> Any:
            return tf.where(where(element), many, one)

        total, identity = None, f"where:{_callable_name(where)}"
    elif indices is not None:
        chosen = _check_indices(ds, indices)
        table = tf.constant(chosen, tf.int64)
        last = max(chosen.size - 1, 0)

        def rule(element: Any, key: Any) -> Any:
            if not chosen.size:
                return one + tf.zeros_like(key)
            flat = tf.reshape(key, [-1])
            slot = tf.minimum(tf.searchsorted(table, flat), last)
            hit = tf.reshape(tf.gather(table, slot) == flat, tf.shape(key))
            return tf.where(hit, many, one)

        extra = (copies - 1) * int(chosen.size)
        total = cardinality + extra if cardinality >= 0 else None
        identity = f"indices:{_seeding.derive(0, chosen.tobytes()):x}"
    else:

        def rule(element: Any, key: Any) -> Any:
            return many

        identity = "all"
    return _run(
        ds,
        _rules.FixedRule(
            rule, by_position=indices is not None, vectorised=where is None
        ),
        settings,
        seed=_seeding.resolve_seed(seed),
        fingerprint=f"duplicate:{copies}:{identity}",
        total=total,
    )


def _callable_name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", type(fn).__name__)


def _check_indices(ds: Any, indices: Iterable[int]) -> np.ndarray:
    """Sorted unique positions, each checked against the dataset's length."""
    if isinstance(indices, str | bytes) or not isinstance(indices, Iterable):
        raise TypeError(
            f"`indices` must be an iterable of ints; got indices={describe(indices)}."
        )
    values = list(indices)
    bad = [v for v in values if not is_int(v)]
    if bad:
        raise TypeError(
            f"`indices` must be ints (source positions); got {describe(bad[:3])}."
        )
    array = np.unique(np.asarray(values, dtype=np.int64))
    size = int(ds.cardinality())
    if size < 0:
        _labels.check_finite(ds, "`indices`")
        size = int(ds.reduce(np.int64(0), lambda n, _: n + 1))
    outside = array[(array < 0) | (array >= size)]
    if outside.size:
        raise ValueError(
            f"`indices` must be source positions in [0, {size}); got"
            f" {describe(outside[:5].tolist())}."
        )
    return array


def _duplicate_by_weight(
    ds: Any,
    copies: Callable[[Any], Any],
    seed: int | None,
    rounding: str,
    settings: _pipeline.Settings,
) -> Any:
    """A real factor per sample from the element: one pre-pass, then a plan."""
    tf = _tf()
    spec = _labels.output_spec(ds.element_spec, copies, "copies")
    if not (
        isinstance(spec, tf.TensorSpec)
        and spec.shape.rank == 0
        and (spec.dtype.is_floating or spec.dtype.is_integer)
        and spec.dtype != tf.bool
    ):
        raise TypeError(
            f"a callable `copies` must return a real scalar per element; it returns"
            f" {spec}."
        )
    _labels.check_finite(ds, "a callable `copies`")
    factors = _labels.map_elements(ds, lambda e: tf.cast(copies(e), tf.float64))
    weights = [b.numpy() for b in factors.batch(_labels.COUNT_BATCH)]
    chosen = make_plan(
        weights=np.concatenate(weights) if weights else np.zeros(0),
        seed=seed,
        rounding=rounding,
    )
    rule = _rules.WeightRule(
        chosen, lambda element, key: _rules.fixed_from_weight(copies(element))
    )
    return _run_plan(ds, chosen, None, settings, rule)


def _duplicate_by_class(
    ds: Any,
    copies: Mapping[Any, float],
    label: _labels.Label,
    seed: int | None,
    rounding: str,
    settings: _pipeline.Settings,
) -> Any:
    """Per-class factors: whole numbers directly, real ones through a plan."""
    tf = _tf()
    if not copies:
        raise ValueError("per-class `copies` must name at least one class.")
    factors = {
        _class_key(key): check_factor(value, f"copies[{key!r}]")
        for key, value in copies.items()
    }
    if any(not f.is_integer() for f in factors.values()):
        _labels.check_finite(ds, "fractional per-class `copies`")
        counts = _labels.count(ds, label, progress=False).counts
        missing = [k for k in factors if k not in counts]
        if missing:
            raise ValueError(
                f"`copies` names classes that are not in the data: {describe(missing)}."
            )
        targets = {k: math.floor(counts[k] * f + 0.5) for k, f in factors.items()}
        chosen = make_plan(
            counts=counts, strategy=targets, seed=seed, rounding=rounding
        )
        return _run_plan(ds, chosen, label, settings)
    keys = list(factors)
    strings = isinstance(keys[0], str)
    if any(isinstance(k, str) != strings for k in keys):
        raise TypeError(f"`copies` keys must be all ints or all str; got {keys}.")
    if strings != (label.dtype == tf.string):
        raise TypeError(
            f"`copies` keys are {'strings' if strings else 'ints'} but the label has"
            f" dtype {label.dtype.name}."
        )
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(keys, tf.string if strings else tf.int64),
            tf.constant([int(f) for f in factors.values()], tf.int64),
        ),
        default_value=1,
    )

    def rule(element: Any, key: Any) -> Any:
        value = label.read(element)
        return table.lookup(value if strings else tf.cast(value, tf.int64))

    description = ",".join(f"{k}={int(f)}" for k, f in sorted(factors.items()))
    return _run(
        ds,
        _rules.FixedRule(rule, vectorised=label.vectorised),
        settings,
        seed=_seeding.resolve_seed(seed),
        fingerprint=f"duplicate:classes:{description}",
    )


def _class_key(key: object) -> int | str:
    if is_int(key):
        return int(key)
    if isinstance(key, bytes):
        return key.decode("utf-8")
    if isinstance(key, str):
        return key
    raise TypeError(f"`copies` keys must be class labels (int or str); got {key!r}.")
