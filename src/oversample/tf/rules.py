"""The rule that carries out a plan in TensorFlow, and weight rounding."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from oversample.core import rounding as _rounding
from oversample.core.plan import Plan
from oversample.tf import tf as _tf
from oversample.tf.class_rules import ClassIndex, ClassRule
from oversample.tf.labels import Label
from oversample.tf.rule import Rule, fixed_from_weight, sample_hash


class WeightRule(Rule):
    """Weight rounding: floor(w) plus systematic (or stochastic) extras."""

    uses_epoch = True

    def __init__(
        self,
        plan: Plan,
        fixed_of: Callable[[Any, Any], Any],
        vectorised: bool = False,
    ) -> None:
        assert plan._fixed is not None
        self.plan = plan
        self.rule = _rounding.weight_rule(plan.seed, plan._fixed)
        self.fixed_of = fixed_of
        self.batched = vectorised

    def init_state(self) -> tuple[Any, ...]:
        return (_tf().constant(0, _tf().int64),)

    def read(self, element: Any, key: Any) -> Any:
        return self.fixed_of(element, key)

    def decide(
        self, values: Any, keys: Any, state: tuple[Any, ...], epoch: Any
    ) -> tuple[Any, Any, Any, tuple[Any, ...]]:
        tf = _tf()
        (running,) = state
        whole = tf.bitwise.right_shift(values, tf.constant(32, tf.int64))
        fraction = tf.bitwise.bitwise_and(
            values, tf.constant(_rounding.FIXED_MASK, tf.int64)
        )
        before = running + tf.cumsum(fraction, exclusive=True)
        first = keys if self.plan.rounding == "stochastic" else before
        payload = tf.stack([first, fraction, tf.zeros_like(fraction)], axis=-1)
        return whole, fraction > 0, payload, (running + tf.reduce_sum(fraction),)

    def _offset(self, epoch: Any) -> Any:
        tf = _tf()
        rule = self.rule
        mask = tf.constant(_rounding.FIXED_MASK, tf.uint64)
        epoch_low = tf.bitwise.bitwise_and(tf.cast(epoch, tf.uint64), mask)
        step = tf.bitwise.bitwise_and(
            tf.constant(rule.start, tf.uint64)
            + epoch_low * tf.constant(_rounding.GOLDEN32, tf.uint64),
            mask,
        )
        offset = tf.constant(rule.low, tf.uint64) + step % tf.constant(
            rule.width, tf.uint64
        )
        return tf.cast(offset, tf.int64)

    def resolve(self, payload: Any, epoch: Any) -> Any:
        tf = _tf()
        fraction = payload[..., 1]
        if self.plan.rounding == "stochastic":
            draw = tf.bitwise.right_shift(
                sample_hash(self.plan.seed, epoch, payload[..., 0]),
                tf.constant(32, tf.uint64),
            )
            return draw < tf.cast(fraction, tf.uint64)
        before = payload[..., 0] + self._offset(epoch)
        high = tf.constant(32, tf.int64)
        crossed = tf.bitwise.right_shift(before + fraction, high) - (
            tf.bitwise.right_shift(before, high)
        )
        return crossed > 0


def plan_rule(plan: Plan, label: Label | None) -> Rule:
    """The rule that carries out `plan`, keyed by source position."""
    tf = _tf()
    if plan.kind == "classes":
        if label is None:
            raise ValueError(
                "a class plan needs `label=` to read each element's class."
            )
        if label.multi:
            raise ValueError(
                "this plan has one class per sample, but the label is a list of"
                " labels; multi-label data plans with ovs.RepeatFactor."
            )
        return ClassRule(plan, label)
    if plan._class_factors is not None:
        if label is None or not label.multi:
            raise ValueError(
                "this multi-label plan needs `label=` selecting a list of labels per"
                " element."
            )
        index = ClassIndex(plan.classes, label.dtype)
        factors = tf.constant(plan._class_factors, tf.float64)
        read = label.read

        def sample_factor(element: Any, key: Any) -> Any:
            labels = read(element)
            if isinstance(labels, tf.RaggedTensor):
                labels = labels.flat_values
            held = tf.gather(factors, index(labels))
            return fixed_from_weight(tf.reduce_max(tf.concat([[1.0], held], 0)))

        return WeightRule(plan, sample_factor)
    assert plan._fixed is not None
    fixed = tf.constant(plan._fixed, tf.int64)
    return WeightRule(plan, lambda element, key: tf.gather(fixed, key), vectorised=True)
