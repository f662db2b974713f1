from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import oversample as ovs
from oversample.core import rounding


def _copies_by_rank(rule, codes, occurrence, epoch):
    """The exact rule as a per-sample test, the way a streaming executor applies
    it: a reference for the plan's inverted computation."""
    size = rule.size[codes]
    rank = (rule.mult[codes] * occurrence + rule.offset[codes]) % size
    shifted = (rank - rounding.epoch_shift(rule, epoch)[codes]) % size
    return rule.base[codes] + (shifted < rule.extra[codes])


def _occurrence(codes: np.ndarray) -> np.ndarray:
    seen: dict[int, int] = {}
    out = []
    for code in codes.tolist():
        out.append(seen.get(code, 0))
        seen[code] = out[-1] + 1
    return np.asarray(out, dtype=np.int64)


@settings(max_examples=200, deadline=None)
@given(
    labels=st.lists(st.integers(0, 5), min_size=2, max_size=150).filter(
        lambda ls: len(set(ls)) > 1
    ),
    seed=st.integers(0, 2**64 - 1),
    epoch=st.integers(0, 2**62),
)
def test_inverted_rule_equals_the_per_sample_streaming_rule(labels, seed, epoch):
    p = ovs.plan(labels, "sqrt", seed=seed)
    by_rank = _copies_by_rank(
        p._rule, p._codes.astype(np.intp), _occurrence(p._codes), epoch
    )
    assert p.copies(epoch).tolist() == by_rank.tolist()


def test_multipliers_are_coprime_and_inverses_correct():
    counts = np.array([1, 2, 6, 12, 97, 360, 1024])
    rule = rounding.class_rule(5, counts, counts * 3 + 1)
    assert np.all(np.gcd(rule.mult, rule.size) == 1)
    assert np.all(rule.mult * rule.inverse % rule.size == 1 % rule.size)
    assert np.all((rule.offset >= 0) & (rule.offset < rule.size))


def test_weight_offsets_stay_in_the_range_that_gives_the_rounded_total():
    fixed = rounding.to_fixed(np.array([1.3, 1.3, 1.3]))  # sum of fractions 0.9
    rule = rounding.weight_rule(0, fixed)
    assert rule.extra_total == 1
    for epoch in range(50):
        offset = rounding.weight_offset(rule, epoch)
        assert rule.low <= offset < rule.low + rule.width
        assert rounding.exact_weight_copies(rule, fixed, epoch).sum() == 4
