"""`duplicate` on a tf.data stream: every sample, chosen samples, or samples
per class, k times."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from oversample.core import copies as _copies
from oversample.core import seeding as _seeding
from oversample.core.copies import Copies
from oversample.core.planning import plan as make_plan
from oversample.core.prepare import Choice, FactorChoice, prepare
from oversample.core.settings import Settings
from oversample.tf import labels as _labels
from oversample.tf import rules as _rules
from oversample.tf import run as _run
from oversample.tf import spreading as _spreading
from oversample.tf import tf as _tf
from oversample.tf.labels import LabelSpec
from oversample.tf.readers import StreamReader
from oversample.tf.rule import FixedRule, fixed_from_weight


def duplicate(
    ds: Any,
    form: Copies,
    *,
    label: LabelSpec | None,
    choice: Choice,
    settings: Settings,
) -> Any:
    """`ovs.duplicate` on a tf.data stream, for each form of `copies`."""
    resolved = None if label is None else _labels.resolve_label(ds.element_spec, label)
    plan = choice.given_plan()
    if plan is not None:
        return _run.run_plan(ds, plan, resolved, settings)
    seed, rounding = choice.seed, choice.rounding
    if form.per_class is not None:
        assert resolved is not None
        return _duplicate_by_class(ds, form.per_class, resolved, choice, settings)
    if form.weight is not None:
        return _duplicate_by_weight(ds, form.weight, seed, rounding, settings)
    if form.kind == "whole":
        factor = int(form.factor)
        return _duplicate_whole(ds, factor, form.where, form.indices, seed, settings)
    cardinality = int(ds.cardinality())
    if cardinality < 0:
        raise ValueError(
            f"a fractional `copies`={form.factor} needs the number of samples, but"
            " the cardinality of `ds` is unknown; pass"
            " `ds.apply(tf.data.experimental.assert_cardinality(n))`."
        )
    chosen = make_plan(
        weights=np.full(cardinality, form.factor), seed=seed, rounding=rounding
    )
    return _run.run_plan(ds, chosen, None, settings)


def _duplicate_whole(
    ds: Any,
    copies: int,
    where: Callable[[Any], Any] | None,
    indices: Iterable[int] | None,
    seed: int | None,
    settings: Settings,
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
        chosen = _copies.positions(indices, lambda: _length(ds))
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


def _length(ds: Any) -> int:
    """The dataset's length: its cardinality, or one pass when unknown."""
    size = int(ds.cardinality())
    if size < 0:
        _labels.check_finite(ds, "`indices`")
        size = int(ds.reduce(np.int64(0), lambda n, _: n + 1))
    return size


def _duplicate_by_weight(
    ds: Any,
    copies: Callable[[Any], Any],
    seed: int | None,
    rounding: str,
    settings: Settings,
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
    factors: dict[int | str, float],
    label: _labels.Label,
    choice: Choice,
    settings: Settings,
) -> Any:
    """Per-class factors: through a plan of targets count x factor (with the
    spread, or when a factor is not whole), else a table of whole copies."""
    tf = _tf()

    strings = isinstance(next(iter(factors)), str)
    if strings != (label.dtype == tf.string):
        raise TypeError(
            f"`copies` keys are {'strings' if strings else 'ints'} but the label has"
            f" dtype {label.dtype.name}."
        )
    whole = all(f.is_integer() for f in factors.values())
    reader = StreamReader(ds, label, what="per-class `copies`")
    if not whole or (settings.spread and reader.unheld(None) is None):
        chosen = FactorChoice(
            seed=choice.seed, rounding=choice.rounding, factors=factors
        )
        prepared = prepare(reader, chosen, settings, progress=False)
        holding = _spreading.held(prepared, 1, _spreading.by_position)
        return _run.run_plan(ds, prepared.plan, label, settings, holding=holding)
    keys = list(factors)
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
        seed=_seeding.resolve_seed(choice.seed),
        fingerprint=f"duplicate:classes:{description}",
    )
