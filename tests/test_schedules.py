"""Epoch-dependent strategies: ovs.Progressive, its per-epoch targets, and both
executors carrying out each epoch exactly."""

from __future__ import annotations

import numpy as np
import pytest

import oversample as ovs


def _labels(seed: int = 0) -> np.ndarray:
    sizes = [60, 25, 9, 3]
    return np.random.default_rng(seed).permutation(np.repeat(np.arange(4), sizes))


def _plan(**kwargs):
    kwargs.setdefault("seed", 3)
    return ovs.plan(_labels(), ovs.Progressive(epochs=4), **kwargs)


def test_progressive_moves_from_the_data_to_the_end_targets():
    plan = _plan()
    counts = np.array([60, 25, 9, 3])
    assert plan.targets_at(0) == plan.targets == dict(enumerate(counts.tolist()))
    assert plan.targets_at(4) == plan.targets_at(50) == dict.fromkeys(range(4), 60)
    for epoch in range(5):
        targets = np.array(list(plan.targets_at(epoch).values()))
        share = targets / targets.sum()
        weight = epoch / 4
        expected = (1 - weight) * counts / counts.sum() + weight / 4
        assert np.abs(share - expected).max() < 0.01, epoch
        assert (targets >= counts).all(), "oversampling never removes a sample"
        assert plan.total_at(epoch) == targets.sum()
    totals = [plan.total_at(e) for e in range(5)]
    assert totals == sorted(totals), "epochs grow towards the end total"


def test_another_end_strategy_and_max_factor():
    plan = ovs.plan(_labels(), ovs.Progressive(epochs=2, end="sqrt"), seed=0)
    assert plan.targets_at(2) == ovs.plan(_labels(), "sqrt", seed=0).targets
    capped = _plan(max_factor=3)
    for epoch in range(6):
        assert all(
            f <= 3
            for f in np.divide(list(capped.targets_at(epoch).values()), [60, 25, 9, 3])
        )


@pytest.mark.parametrize("rounding", ["exact", "stochastic"])
def test_every_epoch_gives_b_or_b_plus_one_copies_and_exact_totals(rounding):
    labels, plan = _labels(), _plan(rounding=rounding)
    for epoch in range(7):
        copies = plan.copies(epoch)
        assert copies.min() >= 1
        for c, target in plan.targets_at(epoch).items():
            mine = copies[labels == c]
            assert set(mine.tolist()) <= {target // mine.size, target // mine.size + 1}
            if rounding == "exact":
                assert mine.sum() == target


def test_the_schedule_survives_json_and_changes_the_fingerprint():
    plan = _plan()
    again = ovs.Plan.from_json(plan.to_json())
    assert again == plan and again.epoch_dependent
    assert [again.total_at(e) for e in range(6)] == [plan.total_at(e) for e in range(6)]
    assert ovs.plan(_labels(), "all", seed=3).fingerprint != plan.fingerprint
    assert ovs.plan(_labels(), ovs.Progressive(epochs=5), seed=3) != plan


def test_the_sampler_reports_each_epochs_length():
    labels, plan = _labels(), _plan()
    sampler = ovs.Sampler(plan, num_replicas=2, rank=1)
    for epoch in range(6):
        sampler.set_epoch(epoch)
        both = [ovs.Sampler(plan, num_replicas=2, rank=r) for r in range(2)]
        for s in both:
            s.set_epoch(epoch)
        union = np.concatenate([s.indices() for s in both])
        assert len(sampler) * 2 == union.size
        assert union.size - plan.total_at(epoch) == both[0].num_padded
        assert np.bincount(union, minlength=labels.size).min() >= 1


def test_the_stream_carries_out_every_epoch_back_to_back():
    tf = pytest.importorskip("tensorflow")
    labels, plan = _labels(), _plan()
    ds = tf.data.Dataset.from_tensor_slices({"label": labels, "id": np.arange(97)})
    out = ovs.balance(ds, plan=plan, epochs=6, shuffle_buffer=0)
    assert int(out.cardinality()) == sum(plan.total_at(e) for e in range(6))
    ids = np.array([int(e["id"]) for e in out])
    start = 0
    for epoch in range(6):
        part = ids[start : start + plan.total_at(epoch)]
        start += plan.total_at(epoch)
        counted = np.bincount(part, minlength=labels.size)
        assert counted.tolist() == plan.copies(epoch).tolist(), epoch
    one = ovs.balance(ds, plan=plan, epoch=2)
    assert int(one.cardinality()) == plan.total_at(2)


_RATES = {0: {"a": 1, "b": 1}, 2: {"a": 1, "b": 3}}
_FRESH = {
    "strategy": lambda ds: ovs.balance(ds, strategy=ovs.Progressive(epochs=4), seed=0),
    "plan": lambda ds: ovs.balance(ds, plan=_plan()),
    "duplicate": lambda ds: ovs.duplicate(ds, plan=_plan(), label="label"),
    "mix": lambda ds: ovs.mix({"a": ds, "b": ds}, ovs.Schedule(_RATES), seed=0),
}


@pytest.mark.parametrize("form", sorted(_FRESH))
def test_a_fresh_epoch_stream_is_refused_for_a_schedule(form):
    tf = pytest.importorskip("tensorflow")
    ds = tf.data.Dataset.from_tensor_slices({"label": _labels()})
    what = (
        "the mixture's Schedule of rates" if form == "mix" else r"Progressive\(epochs=4"
    )
    with pytest.raises(ValueError, match=what + r".*give `epochs=E`"):
        _FRESH[form](ds)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"epochs": 0},
            ValueError,
            r"`Progressive\(epochs\)` must be an int >= 1; got epochs=0",
        ),
        ({"epochs": True}, TypeError, r"got epochs=True"),
        ({"epochs": 2.5}, TypeError, r"got epochs=2.5"),
        ({"epochs": 2, "end": 3}, TypeError, r"`Progressive\(end\)`.*got end=3"),
    ],
)
def test_bad_progressive_arguments_are_refused(kwargs, error, message):
    with pytest.raises(error, match=message):
        ovs.Progressive(**kwargs)


def test_progressive_is_for_single_label_classes():
    with pytest.raises(ValueError, match=r"RepeatFactor\(threshold\) only"):
        ovs.plan([[0, 1], [1]], ovs.Progressive(epochs=2))
    with pytest.raises(TypeError, match=r"`strategy` does not apply to `weights`"):
        ovs.plan(weights=[1, 2], strategy=ovs.Progressive(epochs=2))


@pytest.mark.parametrize(
    ("phases", "error", "message"),
    [
        ({}, TypeError, r"`Schedule\(phases\)` must be a non-empty dict"),
        ("sqrt", TypeError, r"non-empty dict \{epoch: strategy\}; got phases='sqrt'"),
        ({0: "sqrt", -2: "all"}, ValueError, r"ints >= 0; got -2 in phases=\{0: "),
        (
            {0: "sqrt", 2.5: "all"},
            TypeError,
            r"keyed by epochs, ints >= 0; got 2.5 in phases=",
        ),
        ({1: "sqrt", 3: "all"}, ValueError, r"begin with a phase at epoch 0.*epoch 1"),
        ({0: "sqrt", 5: "all", 3: "mean"}, ValueError, r"epoch 3 after epoch 5"),
        ({0: "sqrt", 2: "most"}, TypeError, r"`Schedule` phase 2 must be a static"),
        (
            {0: "sqrt", 2: ovs.Progressive(epochs=2)},
            TypeError,
            r"phase 2 must be a static strategy",
        ),
    ],
)
def test_a_bad_schedule_is_refused_naming_the_phase(phases, error, message):
    with pytest.raises(error, match=message):
        ovs.Schedule(phases)


def test_a_phase_that_does_not_fit_the_classes_is_refused_naming_it():
    with pytest.raises(ValueError, match=r"`Schedule` phase 4: .*thin=True"):
        ovs.plan(_labels(), ovs.Schedule({0: "all", 4: "median"}), seed=0)
    with pytest.raises(ValueError, match=r"`Schedule` phase 2: "):
        ovs.plan(_labels(), ovs.Schedule({0: "all", 2: {0: 60, 9: 3}}), seed=0)


def test_mixture_rates_that_name_other_sources_in_a_phase_are_refused():
    sizes = {"a": 10, "b": 7}
    rates = ovs.Schedule({0: {"a": 1, "b": 2}, 3: {"a": 1, "c": 2}})
    with pytest.raises(ValueError, match=r"phase 3 of .*'c'"):
        ovs.mix_plan(sizes, rates, seed=0)
    with pytest.raises(TypeError, match=r"`rates` phase 3 must be a dict"):
        ovs.mix_plan(sizes, ovs.Schedule({0: {"a": 1, "b": 1}, 3: "sqrt"}), seed=0)


def test_a_schedule_with_one_row_per_phase_survives_json():
    plan = ovs.plan(_labels(), ovs.Schedule({0: "sqrt", 5: "all"}), seed=2)
    again = ovs.Plan.from_json(plan.to_json())
    assert again == plan
    for epoch in range(8):
        assert again.copies(epoch).tolist() == plan.copies(epoch).tolist()
    assert plan.targets_at(4) != plan.targets_at(5) == plan.targets_at(40)


FINGERPRINT = """
import oversample as ovs
def grow(counts):
    return {c: 10 for c in counts}
labels = [0] * 8 + [1] * 2
for strategy in (ovs.Schedule({0: grow, 2: "sqrt"}), ovs.Progressive(3, end=grow)):
    print(ovs.plan(labels, strategy, seed=0).fingerprint)
"""


def test_a_schedule_of_callables_has_the_same_fingerprint_in_every_process():
    """A callable phase is described by its name, not its address, so a state
    saved in one process restores in the next."""
    import subprocess
    import sys

    runs = [
        subprocess.run(
            [sys.executable, "-c", FINGERPRINT],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout.split()
        for _ in range(2)
    ]
    assert len(runs[0]) == 2 and runs[0] == runs[1]


def test_a_schedule_keeps_the_phases_it_checked():
    phases = {0: "sqrt", 3: "all"}
    rates = {"a": 1.0, "b": 2.0}
    schedule = ovs.Schedule(phases)
    mixed = ovs.Schedule({0: rates})
    phases[1] = "all"  # after the check: unsorted, never seen by the schedule
    rates["a"] = 5.0
    assert list(schedule.phases) == [0, 3]
    assert mixed.phases[0] == {"a": 1.0, "b": 2.0}
    plan = ovs.plan([0] * 8 + [1] * 2, schedule, seed=0)
    assert [plan.targets_at(e)[1] for e in range(5)] == [4, 4, 4, 8, 8]
    with pytest.raises(TypeError):
        schedule.phases[5] = "all"  # read-only


@pytest.mark.parametrize("engine", ["python", "tf"])
def test_a_stratified_batch_longer_than_a_later_epoch_is_refused(engine):
    def source(n):
        if engine == "python":
            return list(range(n))
        import tensorflow as tf

        return tf.data.Dataset.range(n)

    rates = {0: {"a": 1, "b": 1}, 2: {"a": 0.1, "b": 0.2}}
    with pytest.raises(
        ValueError, match=r"`stratified`=12 is more than the 3 .* epoch 2"
    ):
        ovs.mix({"a": source(10), "b": source(10)}, rates=rates, stratified=12,
                seed=0, epochs=3)  # fmt: skip
    fits = ovs.mix({"a": source(10), "b": source(10)}, rates=rates, stratified=3,
                   seed=0, epochs=3)  # fmt: skip
    assert len(list(fits)) == 20 + 20 + 3


@pytest.mark.parametrize(
    "rates, words",
    [
        ({0: {"a": 1, "b": 1}, 4: {"a": 1, "b": 2}, 2: {"a": 1, "b": 1}},
         r"`rates` must list its phases in increasing epochs; got epoch 2 after"
         r" epoch 4 in rates=\{0: "),
        ({1: {"a": 1, "b": 1}}, r"`rates` must begin with a phase at epoch 0.*"
         r" in rates=\{1: "),
        ({0: {"a": 1, "b": 1}, -1: {"a": 1, "b": 1}},
         r"`rates` must be keyed by epochs, ints >= 0; got -1 in rates="),
    ],
)  # fmt: skip
def test_rates_by_epoch_are_refused_naming_rates(rates, words):
    with pytest.raises(ValueError, match=words):
        ovs.mix_plan({"a": 10, "b": 10}, rates=rates, seed=0)
    with pytest.raises(ValueError, match=words.replace("rates", "samples")):
        ovs.mix_plan({"a": 10, "b": 10}, samples=rates, seed=0)
