"""`duplicate`: every sample, chosen samples, or samples per class, k times."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from oversample import _seeding
from oversample._tf import labels as _labels
from oversample._tf import rules as _rules
from oversample._tf import run as _run
from oversample._tf import settings as _settings
from oversample._tf import tf as _tf
from oversample._tf.labels import LabelSpec
from oversample._tf.rule import FixedRule, fixed_from_weight
from oversample._validation import check_factor, describe, is_int
from oversample.plan import Plan
from oversample.planning import plan as make_plan


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
    epochs: int | None = _settings.UNSET,
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
    settings = _run.checked_settings(epoch, epochs, shuffle_buffer, provenance)
    if not hasattr(ds, "element_spec"):
        raise TypeError(
            f"`ds` must be a tf.data.Dataset; got {type(ds).__name__} (for"
            " ovs.Shards use ovs.balance with per-class targets)."
        )
    if where is not None and indices is not None:
        raise ValueError("give `where` or `indices`, not both.")
    resolved = None if label is None else _labels.resolve_label(ds.element_spec, label)
    if plan is not None:
        chosen = _run.check_plan_alone(plan, "not majority", rounding, None, None, seed)
        return _run.run_plan(ds, chosen, resolved, settings)
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
    return _run.run_plan(ds, chosen, None, settings)


def _duplicate_whole(
    ds: Any,
    copies: int,
    where: Callable[[Any], Any] | None,
    indices: Iterable[int] | None,
    seed: int | None,
    settings: _settings.Settings,
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
    return _run.run(
        ds,
        FixedRule(rule, by_position=indices is not None, vectorised=where is None),
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
    settings: _settings.Settings,
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
        chosen, lambda element, key: fixed_from_weight(copies(element))
    )
    return _run.run_plan(ds, chosen, None, settings, rule)


def _duplicate_by_class(
    ds: Any,
    copies: Mapping[Any, float],
    label: _labels.Label,
    seed: int | None,
    rounding: str,
    settings: _settings.Settings,
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
        return _run.run_plan(ds, chosen, label, settings)
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
    return _run.run(
        ds,
        FixedRule(rule, vectorised=label.vectorised),
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
