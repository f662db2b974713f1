from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import oversample as ovs

LABELS = [0] * 10 + [1] * 5 + [2] * 2 + [3] * 1


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("not majority", {0: 10, 1: 10, 2: 10, 3: 10}),
        ("auto", {0: 10, 1: 10, 2: 10, 3: 10}),
        ("all", {0: 10, 1: 10, 2: 10, 3: 10}),
        ("minority", {0: 10, 1: 5, 2: 2, 3: 10}),
        ("not minority", {0: 10, 1: 10, 2: 10, 3: 1}),
        ({3: 4, 1: 7}, {0: 10, 1: 7, 2: 2, 3: 4}),
        (ovs.Power(1.0), {0: 10, 1: 10, 2: 10, 3: 10}),
        (ovs.Power(0.0), {0: 10, 1: 5, 2: 2, 3: 1}),
        # round(n * sqrt(10 / n)) = round(sqrt(10 n)): 10, 7.07, 4.47, 3.16
        ("sqrt", {0: 10, 1: 7, 2: 4, 3: 3}),
        (ovs.Power(0.5), {0: 10, 1: 7, 2: 4, 3: 3}),
        (
            lambda counts: {c: 2 * n for c, n in counts.items()},
            {0: 20, 1: 10, 2: 4, 3: 2},
        ),
    ],
)
def test_strategy_targets(strategy, expected):
    assert ovs.plan(LABELS, strategy, seed=0).targets == expected


def test_max_factor_caps_every_class():
    p = ovs.plan(LABELS, seed=0, max_factor=3)
    assert p.targets == {0: 10, 1: 10, 2: 6, 3: 3}
    assert max(p.factors.values()) <= 3


def test_repeat_factor_single_label():
    # f(c) = n_c / 18; r(c) = max(1, sqrt(0.5 / f(c))).
    p = ovs.plan(LABELS, ovs.RepeatFactor(0.5), seed=0)
    expected = {
        c: int(np.floor(n * max(1.0, np.sqrt(0.5 / (n / 18))) + 0.5))
        for c, n in {0: 10, 1: 5, 2: 2, 3: 1}.items()
    }
    assert p.targets == expected


def test_repeat_factor_multi_label_takes_the_max_over_labels():
    rows = [[0, 1], [0], [0], [0], [2], [0, 2]]
    p = ovs.plan(rows, ovs.RepeatFactor(1.0), seed=0)
    # f(0) = 5/6, f(1) = 1/6, f(2) = 2/6.
    r = {0: np.sqrt(6 / 5), 1: np.sqrt(6), 2: np.sqrt(3)}
    weights = np.array([r[1], r[0], r[0], r[0], r[2], r[2]])
    for epoch in range(6):
        copies = p.copies(epoch)
        assert np.all((copies == np.floor(weights)) | (copies == np.ceil(weights)))
        assert copies.sum() == round(weights.sum())
    assert p.counts == {0: 5, 1: 1, 2: 2}


def test_multi_hot_matrix_equals_label_lists():
    rows = [[0, 1], [0], [2], [0, 2], [1]]
    matrix = np.zeros((5, 3), dtype=np.int8)
    for i, row in enumerate(rows):
        matrix[i, row] = 1
    a = ovs.plan(rows, ovs.RepeatFactor(0.8), seed=4)
    b = ovs.plan(matrix, ovs.RepeatFactor(0.8), seed=4)
    assert a.counts == b.counts
    assert np.array_equal(a.copies(2), b.copies(2))


def _imblearn_targets(labels, strategy):
    from imblearn.over_sampling import RandomOverSampler

    sampler = RandomOverSampler(sampling_strategy=strategy, random_state=0)
    sampler.fit_resample(np.zeros((len(labels), 1)), np.asarray(labels))
    counts = dict(zip(*np.unique(labels, return_counts=True), strict=True))
    targets = {int(c): int(n) for c, n in counts.items()}
    for label, added in sampler.sampling_strategy_.items():
        targets[int(label)] += int(added)
    return targets


label_sets = st.lists(st.integers(0, 6), min_size=2, max_size=80).filter(
    lambda ls: len(set(ls)) > 1
)


@settings(max_examples=150, deadline=None)
@given(
    labels=label_sets,
    preset=st.sampled_from(["not majority", "all", "minority", "not minority", "auto"]),
)
def test_presets_equal_imbalanced_learn(labels, preset):
    assert ovs.plan(labels, preset, seed=0).targets == _imblearn_targets(labels, preset)


@settings(max_examples=60, deadline=None)
@given(labels=label_sets, data=st.data())
def test_dict_targets_equal_imbalanced_learn(labels, data):
    counts = dict(zip(*np.unique(labels, return_counts=True), strict=True))
    chosen = {
        int(c): int(n) + data.draw(st.integers(0, 30))
        for c, n in counts.items()
        if data.draw(st.booleans())
    }
    if not chosen:
        return
    assert ovs.plan(labels, chosen, seed=0).targets == _imblearn_targets(labels, chosen)
