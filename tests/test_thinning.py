"""Thinning, opt-in: a target below a class's count gives each sample 0 or 1
copies per epoch (b or b+1 in general) by the plan's one rule, rotating so
that every sample is used within ceil(count / target) epochs and two samples
of a class never differ by more than one use. Without `thin=True` nothing is
removed. (Each executor is checked sample by sample in test_conformance.)"""

from __future__ import annotations

import math

import numpy as np
import pytest

import oversample as ovs

SIZES = [97, 40, 12, 5, 1]


def _labels() -> np.ndarray:
    return np.random.default_rng(3).permutation(np.repeat(np.arange(5), SIZES))


def _uses(plan: ovs.Plan, first: int, epochs: int) -> np.ndarray:
    return np.sum([plan.copies(e) for e in range(first, first + epochs)], axis=0)


@pytest.mark.parametrize("strategy", ["median", "mean", 7, {0: 10, 1: 3}])
def test_a_target_below_the_count_needs_thin(strategy):
    with pytest.raises(ValueError, match=r"below the counts \(class 0: .*thin=True"):
        ovs.plan(_labels(), strategy, seed=0)


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("median", [12] * 5),
        ("mean", [31] * 5),
        (7, [7] * 5),
        ({0: 10, 1: 3}, [10, 3, 12, 5, 1]),
    ],
)
def test_thinned_targets_are_exact_in_every_epoch(strategy, expected):
    labels = _labels()
    plan = ovs.plan(labels, strategy, seed=1, thin=True)
    assert list(plan.targets.values()) == expected
    for epoch in range(6):
        copies = plan.copies(epoch)
        totals = np.bincount(labels, weights=copies, minlength=5).astype(int)
        assert totals.tolist() == expected
        thinned = np.isin(labels, [c for c, t in plan.targets.items() if t < SIZES[c]])
        assert copies[thinned].max() <= 1


@pytest.mark.parametrize("seed", [0, 5, 11])
@pytest.mark.parametrize("target", [1, 3, 10, 33, 96])
def test_every_sample_is_used_within_ceil_count_over_target_epochs(seed, target):
    labels = _labels()
    plan = ovs.plan(labels, {0: target}, seed=seed, thin=True)
    window = math.ceil(SIZES[0] / target)
    head = labels == 0
    for first in range(0, 3 * window, max(1, window // 2)):
        assert _uses(plan, first, window)[head].min() >= 1


@pytest.mark.parametrize("target", [3, 10, 33])
def test_two_samples_of_a_class_differ_by_at_most_one_use(target):
    labels = _labels()
    plan = ovs.plan(labels, {0: target}, seed=2, thin=True)
    head = labels == 0
    total = np.zeros(labels.size, np.int64)
    for epoch in range(40):
        total += plan.copies(epoch)
        used = total[head]
        assert used.max() - used.min() <= 1
        assert used.sum() == target * (epoch + 1)


def test_the_default_and_every_raising_strategy_never_remove_a_sample():
    labels = _labels()
    for strategy in ["not majority", "all", "minority", "sqrt", ovs.Power(0.3), 200]:
        plan = ovs.plan(labels, strategy, seed=0)
        for epoch in range(3):
            assert plan.copies(epoch).min() >= 1


def test_thinned_weights_keep_the_total_and_rotate():
    weights = np.full(50, 0.2)
    plan = ovs.plan(weights=weights, seed=4, thin=True)
    assert plan.total == 10
    uses = np.zeros(50, np.int64)
    for epoch in range(20):
        copies = plan.copies(epoch)
        assert copies.sum() == 10 and copies.max() <= 1
        uses += copies
    assert uses.min() >= 1


def test_weights_below_one_need_thin_and_zero_is_refused():
    with pytest.raises(ValueError, match=r"needs thin=True; got weights\[0\]=0.5"):
        ovs.plan(weights=[0.5, 1.0], seed=0)
    with pytest.raises(ValueError, match=r"> 0 \(thin=True\).*weights\[1\]=0.0"):
        ovs.plan(weights=[0.5, 0.0], seed=0, thin=True)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"strategy": {0: 0}, "thin": True}, "would drop the class"),
        ({"strategy": 0, "thin": True}, r"an int >= 1; got strategy=0"),
        ({"strategy": "median", "thin": 1}, "`thin` must be a bool; got thin=1"),
        (
            {"strategy": ovs.Progressive(epochs=3), "thin": True},
            "does not apply to ovs.Progressive",
        ),
    ],
)
def test_bad_thinning_is_refused(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        ovs.plan(_labels(), seed=0, **kwargs)


def test_a_thinned_plan_round_trips(tmp_path):
    plan = ovs.plan(_labels(), "median", seed=9, thin=True)
    path = plan.save(str(tmp_path / "plan.json"))
    again = ovs.Plan.load(path)
    assert again == plan
    assert again.copies(3).tolist() == plan.copies(3).tolist()


def test_batch_sampler_over_ranks_yields_the_thinned_epoch():
    labels = _labels()
    plan = ovs.plan(labels, "median", seed=6, thin=True)
    for epoch in (0, 4):
        seen = []
        for rank in range(2):
            sampler = ovs.Sampler(plan, num_replicas=2, rank=rank)
            sampler.set_epoch(epoch)
            seen += [i for batch in ovs.BatchSampler(sampler, 8) for i in batch]
        counted = np.bincount(seen, minlength=labels.size)
        padded = counted - plan.copies(epoch)
        assert padded.min() >= 0 and padded.sum() == len(seen) - plan.total


def test_balance_refuses_thin_beside_a_plan():
    plan = ovs.plan(_labels(), seed=0)
    rows = [{"label": int(y)} for y in _labels()]
    with pytest.raises(ValueError, match="`plan` already fixes thin"):
        ovs.balance(rows, plan=plan, thin=True)


def test_duplicate_carries_out_a_thinned_weights_plan():
    rows = [{"label": 0, "id": i} for i in range(30)]
    plan = ovs.plan(weights=np.full(30, 0.5), seed=0, thin=True)
    for epoch in (0, 1):
        out = ovs.duplicate(rows, plan=plan, epoch=epoch)
        counted = np.bincount([e["id"] for e in out], minlength=30)
        assert counted.tolist() == plan.copies(epoch).tolist()
