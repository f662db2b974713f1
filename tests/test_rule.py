from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import oversample as ovs
from oversample.core import rule as _rule


def _copies_by_rank(rule, codes, occurrence):
    """The exact rule as a per-sample test, written out from the rule's
    arrays: a reference for the plan's inverted computation."""
    size = rule.counts[codes]
    rank = (rule.rank_mult[codes] * occurrence + rule.rank_add[codes]) % size
    shifted = (rank - rule.rotation[codes]) % size
    return rule.base[codes] + (shifted < rule.extras[codes])


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
    codes = p.members.codes.astype(np.intp)
    rule = p.rule.at(epoch)
    by_rank = _copies_by_rank(rule, codes, _occurrence(codes))
    assert p.copies(epoch).tolist() == by_rank.tolist()
    assert rule.copies(codes, _occurrence(codes)).tolist() == by_rank.tolist()


def test_multipliers_are_coprime_and_inverses_correct():
    counts = np.array([1, 2, 6, 12, 97, 360, 1024])
    rule = _rule.ClassRule.build(5, "exact", counts, counts * 3 + 1)
    assert np.all(np.gcd(rule.rank_mult, rule.counts) == 1)
    assert np.all(rule.rank_mult * rule.rank_inverse % rule.counts == 1 % rule.counts)
    assert np.all((rule.rank_add >= 0) & (rule.rank_add < rule.counts))


def test_the_rotation_of_a_fixed_target_is_t_times_the_extras():
    counts = np.array([7, 10, 13])
    rule = _rule.ClassRule.build(3, "exact", counts, np.array([9, 25, 13]))
    for epoch in (0, 1, 5, 12, 2**40 + 3):
        expected = epoch * rule.extras[0] % rule.counts
        assert rule.at(epoch).rotation.tolist() == expected.tolist()


def test_the_ledger_carries_the_extras_given_over_changing_targets():
    counts = np.array([9, 4])
    rows = np.array([[9, 4], [11, 6], [13, 5], [16, 7]])
    rule = _rule.ClassRule.build(1, "exact", counts, rows)
    given = np.zeros(2, np.int64)
    for epoch in range(12):
        assert rule.at(epoch).rotation.tolist() == (given % counts).tolist()
        given += rows[min(epoch, 3)] % counts


def test_weight_offsets_stay_in_the_range_that_gives_the_rounded_total():
    fixed = _rule.to_fixed(np.array([1.3, 1.3, 1.3]))  # sum of fractions 0.9
    rule = _rule.WeightRule.build(0, "exact", fixed)
    assert rule.extra_total == 1
    for epoch in range(50):
        offset = rule.offset(epoch)
        assert rule.low <= offset < rule.low + rule.width
        assert rule.copies(epoch).sum() == 4


def test_a_stochastic_rule_asks_for_the_keys():
    rule = ovs.plan([0, 0, 1], seed=0, rounding="stochastic").rule.at(0)
    with pytest.raises(ValueError, match="needs the samples' `keys`"):
        rule.copies(np.array([0]), np.array([0]))
