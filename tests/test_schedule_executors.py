"""Targets that change between epochs (ovs.Progressive, ovs.Schedule, a
mixture's rates by epoch) carried out by every executor sample by sample, any
two samples of a class within one use counted from epoch 0, and the weights
changed on resume: a state restores into a schedule that agrees up to the
saved epoch, and is refused naming the first epoch that differs otherwise."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

import oversample as ovs

SIZES = (60, 23, 9, 3)
RAMP = 3
PHASES = {0: "sqrt", 3: "median", 8: {0: 40, 1: 70, 2: 33, 3: 20}}


def _labels() -> np.ndarray:
    return np.random.default_rng(0).permutation(np.repeat(np.arange(4), SIZES))


def _progressive() -> ovs.Plan:
    return ovs.plan(_labels(), ovs.Progressive(epochs=RAMP), seed=3)


def _three_phases(phases=PHASES) -> ovs.Plan:
    # NOTE: the middle phase thins the head class (median < 60).
    return ovs.plan(_labels(), ovs.Schedule(phases), seed=3, thin=True)


PLANS = {"progressive": _progressive, "three phases": _three_phases}
EPOCHS = 3 * RAMP + 3  # past 3x the ramp, and into the last phase


def _assert_fair(per_epoch: np.ndarray, labels: np.ndarray) -> None:
    """Any two samples of a class within one use, counted from epoch 0."""
    used = np.cumsum(per_epoch, axis=0)
    for epoch, uses in enumerate(used):
        for c in range(len(SIZES)):
            mine = uses[labels == c]
            assert mine.max() - mine.min() <= 1, (epoch, c, mine.min(), mine.max())


def _split(keys: np.ndarray, plan: ovs.Plan, epochs: int) -> np.ndarray:
    """Uses per sample in each epoch of a stream of `epochs` back to back."""
    bounds = np.cumsum([0] + [plan.total_at(e) for e in range(epochs)])
    assert keys.size == bounds[-1]
    return np.stack(
        [
            np.bincount(keys[bounds[e] : bounds[e + 1]], minlength=plan.num_samples)
            for e in range(epochs)
        ]
    )


def _expected(plan: ovs.Plan, epochs: int = EPOCHS) -> np.ndarray:
    return np.stack([plan.copies(e) for e in range(epochs)])


@pytest.mark.parametrize("name", PLANS)
def test_the_plan_is_fair_through_every_phase_and_thins_only_where_asked(name):
    plan, labels = PLANS[name](), _labels()
    expected = _expected(plan)
    _assert_fair(expected, labels)
    for epoch in range(EPOCHS):
        for c, target in plan.targets_at(epoch).items():
            assert expected[epoch][labels == c].sum() == target


def test_a_thinning_phase_uses_every_sample_within_ceil_n_over_t_epochs():
    plan, labels = _three_phases(), _labels()
    head = labels == 0
    target = plan.targets_at(3)[0]  # the median phase, epochs 3 to 7
    assert target < SIZES[0]
    window = -(-SIZES[0] // target)
    assert 3 + window <= 8, "the window fits in the phase"
    uses = sum(plan.copies(e)[head] for e in range(3, 3 + window))
    assert uses.min() >= 1


def test_fairness_holds_for_the_long_ramps_of_the_issue():
    labels = np.random.default_rng(1).permutation(
        np.repeat(np.arange(4), [1000, 230, 57, 9])
    )
    for ramp in (3, 6, 11):
        plan = ovs.plan(labels, ovs.Progressive(epochs=ramp), seed=0)
        used = np.cumsum([plan.copies(e) for e in range(17)], axis=0)
        spread = max(int(np.ptp(uses[labels == c])) for uses in used for c in range(4))
        assert spread <= 1, (ramp, spread)


@pytest.mark.parametrize("name", PLANS)
def test_the_sampler_is_the_plan_in_every_epoch(name):
    plan, labels = PLANS[name](), _labels()
    sampler = ovs.Sampler(plan)
    got = []
    for epoch in range(EPOCHS):
        sampler.set_epoch(epoch)
        got.append(np.bincount(sampler.indices(), minlength=labels.size))
    assert np.array_equal(np.stack(got), _expected(plan))
    _assert_fair(np.stack(got), labels)


@pytest.mark.parametrize("name", PLANS)
@pytest.mark.parametrize("spread", [None, "auto"])
def test_a_python_stream_is_the_plan_in_every_epoch(name, spread):
    plan, labels = PLANS[name](), _labels()
    rows = [{"label": int(label), "id": i} for i, label in enumerate(labels)]
    options = {} if spread == "auto" else {"spread": None}
    out = ovs.balance(rows, plan=plan, epochs=EPOCHS, provenance=True, **options)
    keys = np.array([marks["key"] for _, marks in out])
    got = _split(keys, plan, EPOCHS)
    assert np.array_equal(got, _expected(plan))
    _assert_fair(got, labels)


@pytest.mark.parametrize("name", PLANS)
@pytest.mark.parametrize("spread", [None, "auto"])
def test_a_tf_stream_is_the_plan_in_every_epoch(name, spread):
    tf = pytest.importorskip("tensorflow")
    plan, labels = PLANS[name](), _labels()
    ds = tf.data.Dataset.from_tensor_slices({"label": labels})
    options = {} if spread == "auto" else {"spread": None}
    # NOTE: without a shuffle buffer, which would mix neighbouring epochs.
    out = ovs.balance(
        ds, plan=plan, epochs=EPOCHS, provenance=True, shuffle_buffer=0, **options
    )
    keys = np.array([int(marks["key"]) for _, marks in out])
    got = _split(keys, plan, EPOCHS)
    assert np.array_equal(got, _expected(plan))
    _assert_fair(got, labels)


MIX_RATES = ovs.Schedule(
    {0: {"a": 1, "b": 2}, 2: {"a": 0.5, "b": 3}, 4: {"a": 2, "b": 1}}
)
MIX_EPOCHS = 9


def _mix_expected(plan: ovs.Plan) -> np.ndarray:
    return np.stack([plan.copies(e) for e in range(MIX_EPOCHS)])


def _assert_sources_fair(per_epoch: np.ndarray) -> None:
    used = np.cumsum(per_epoch, axis=0)
    for uses in used:
        assert np.ptp(uses[:10]) <= 1 and np.ptp(uses[10:]) <= 1


@pytest.mark.parametrize("stratified", [None, 4])
def test_a_python_mixture_follows_its_rates_by_epoch(stratified):
    sources = {"a": list(range(10)), "b": list(range(100, 107))}
    out = ovs.mix(sources, MIX_RATES, seed=0, epochs=MIX_EPOCHS, stratified=stratified)
    keys = np.array([v if v < 100 else 10 + v - 100 for v in out])
    got = _split(keys, out.plan, MIX_EPOCHS)
    assert np.array_equal(got, _mix_expected(out.plan))
    assert len(out) == keys.size
    _assert_sources_fair(got)


@pytest.mark.parametrize("stratified", [None, 4])
def test_a_tf_mixture_follows_its_rates_by_epoch(stratified):
    tf = pytest.importorskip("tensorflow")
    sources = {"a": tf.data.Dataset.range(10), "b": tf.data.Dataset.range(100, 107)}
    out = ovs.mix(
        sources,
        MIX_RATES,
        seed=0,
        epochs=MIX_EPOCHS,
        stratified=stratified,
        shuffle_buffer=0,
    )
    keys = np.array([int(v) if v < 100 else 10 + int(v) - 100 for v in out])
    assert int(out.cardinality()) == keys.size
    got = _split(keys, out.plan, MIX_EPOCHS)
    assert np.array_equal(got, _mix_expected(out.plan))
    _assert_sources_fair(got)


def test_a_mix_plan_sampler_follows_its_rates_by_epoch():
    plan = ovs.mix_plan({"a": 10, "b": 7}, MIX_RATES, seed=0)
    sampler = ovs.Sampler(plan)
    got = []
    for epoch in range(MIX_EPOCHS):
        sampler.set_epoch(epoch)
        got.append(np.bincount(sampler.indices(), minlength=17))
    assert np.array_equal(np.stack(got), _mix_expected(plan))
    _assert_sources_fair(np.stack(got))


# Weights changed on resume.

SAVED = 4  # the epoch a state is saved in
BEFORE = {0: "sqrt", 3: "all"}
AFTER = {0: "sqrt", 3: "all", 5: "median"}  # agrees up to epoch 4
EARLIER = {0: "sqrt", 4: "median"}  # differs from epoch 3 on


def _schedule_plan(phases, labels=None) -> ovs.Plan:
    labels = _labels() if labels is None else labels
    return ovs.plan(labels, ovs.Schedule(phases), seed=3, thin=True)


def _uses(indices, size: int) -> np.ndarray:
    return np.bincount(np.asarray(list(indices), np.int64), minlength=size)


def test_a_sampler_resumes_into_new_weights_and_refuses_earlier_changes():
    labels = _labels()
    before, after = _schedule_plan(BEFORE), _schedule_plan(AFTER)
    sampler = ovs.Sampler(before)
    used = [_uses(_epoch(sampler, e), labels.size) for e in range(SAVED)]
    sampler.set_epoch(SAVED)
    iterator = iter(sampler)
    head = [next(iterator) for _ in range(50)]
    state = json.loads(json.dumps(sampler.state_dict()))
    resumed = ovs.Sampler(after)
    resumed.load_state_dict(state)
    used.append(_uses(head + list(resumed), labels.size))
    used += [_uses(_epoch(resumed, e), labels.size) for e in range(SAVED + 1, 9)]
    assert np.array_equal(np.stack(used), np.stack([after.copies(e) for e in range(9)]))
    _assert_fair(np.stack(used), labels)
    with pytest.raises(ValueError, match=r"saved in epoch 4 .* from epoch 3 on"):
        ovs.Sampler(_schedule_plan(EARLIER)).load_state_dict(state)


def _epoch(sampler, epoch: int) -> list[int]:
    sampler.set_epoch(epoch)
    return list(sampler)


def test_a_python_stream_resumes_into_new_weights_and_refuses_earlier_changes():
    labels = _labels()
    rows = [{"label": int(label), "id": i} for i, label in enumerate(labels)]
    before, after = _schedule_plan(BEFORE), _schedule_plan(AFTER)
    stream = ovs.balance(rows, plan=before, epochs=9, provenance=True)
    iterator = iter(stream)
    consumed = sum(before.total_at(e) for e in range(SAVED)) + 40
    head = [next(iterator)[1]["key"] for _ in range(consumed)]
    state = json.loads(json.dumps(iterator.state_dict()))
    resumed = iter(ovs.balance(rows, plan=after, epochs=9, provenance=True))
    resumed.load_state_dict(state)
    keys = np.array(head + [marks["key"] for _, marks in resumed])
    got = _split(keys, after, 9)
    assert np.array_equal(got, np.stack([after.copies(e) for e in range(9)]))
    _assert_fair(got, labels)
    earlier = iter(
        ovs.balance(rows, plan=_schedule_plan(EARLIER), epochs=9, provenance=True)
    )
    with pytest.raises(ValueError, match=r"saved in epoch 4 .* from epoch 3 on"):
        earlier.load_state_dict(state)


def test_a_tf_checkpoint_resumes_into_new_weights_and_refuses_earlier_changes(
    tmp_path,
):
    tf = pytest.importorskip("tensorflow")
    # NOTE: the guard runs where the source is read: a source longer than a
    # block, so that the state is saved before the source is exhausted.
    labels = np.tile(_labels(), 30)
    ds = tf.data.Dataset.from_tensor_slices({"label": labels})

    def pipeline(phases, **epochs):
        plan = _schedule_plan(phases, labels)
        out = ovs.balance(ds, plan=plan, provenance=True, shuffle_buffer=64, **epochs)
        return out.map(lambda element, marks: marks["key"])

    def uses(keys):
        return _uses(keys, labels.size)

    after = _schedule_plan(AFTER, labels)
    used = [uses(pipeline(BEFORE, epoch=e).as_numpy_iterator()) for e in range(4)]
    iterator = iter(pipeline(BEFORE, epoch=SAVED))
    head = [int(next(iterator)) for _ in range(40)]
    path = tf.train.Checkpoint(iterator=iterator).save(str(tmp_path / "ckpt"))
    resumed = iter(pipeline(AFTER, epoch=SAVED))
    tf.train.Checkpoint(iterator=resumed).restore(path)
    used.append(uses(head + [int(key) for key in resumed]))
    for epoch in range(SAVED + 1, 9):
        used.append(uses(pipeline(AFTER, epoch=epoch).as_numpy_iterator()))
    assert np.array_equal(np.stack(used), np.stack([after.copies(e) for e in range(9)]))
    _assert_fair(np.stack(used), labels)
    refusal = (tf.errors.InvalidArgumentError, r"another plan or other")
    earlier = iter(pipeline(EARLIER, epoch=SAVED))
    with pytest.raises(refusal[0], match=refusal[1]):
        tf.train.Checkpoint(iterator=earlier).restore(path)
        list(earlier)
    # NOTE: a pipeline of several epochs computes ahead (its buffers may hold
    # the next epoch's elements), so it restores only into the same schedule.
    several = iter(pipeline(BEFORE, epochs=9))
    next(several)
    path = tf.train.Checkpoint(iterator=several).save(str(tmp_path / "several"))
    changed = iter(pipeline(AFTER, epochs=9))
    with pytest.raises(refusal[0], match=refusal[1]):
        tf.train.Checkpoint(iterator=changed).restore(path)
        list(changed)


def test_a_python_mixture_resumes_into_new_rates_and_refuses_earlier_changes():
    sources = {"a": list(range(10)), "b": list(range(100, 107))}
    later = ovs.Schedule(
        {0: {"a": 1, "b": 2}, 2: {"a": 0.5, "b": 3}, 6: {"a": 3, "b": 1}}
    )
    earlier = ovs.Schedule(
        {0: {"a": 1, "b": 2}, 2: {"a": 0.5, "b": 3}, 3: {"a": 2, "b": 2}}
    )
    out = ovs.mix(sources, MIX_RATES, seed=0, epochs=MIX_EPOCHS)
    iterator = iter(out)
    consumed = sum(out.plan.total_at(e) for e in range(3)) + 5
    head = [next(iterator) for _ in range(consumed)]
    state = json.loads(json.dumps(out.state_dict()))
    resumed = ovs.mix(sources, later, seed=0, epochs=MIX_EPOCHS)
    resumed.load_state_dict(state)
    values = head + list(resumed)
    keys = np.array([v if v < 100 else 10 + v - 100 for v in values])
    got = _split(keys, resumed.plan, MIX_EPOCHS)
    assert np.array_equal(got, _mix_expected(resumed.plan))
    _assert_sources_fair(got)
    refused = ovs.mix(sources, earlier, seed=0, epochs=MIX_EPOCHS)
    with pytest.raises(ValueError, match=r"saved in epoch 3 .* from epoch 3 on"):
        refused.load_state_dict(state)


# A state as the Sampler and the BatchSampler saved it before states kept the
# plan's history (oversample at 53288ab), literally.
BEFORE_HISTORY = {
    "version": 2,
    "rule": 2,
    "plan": "1726ed077df9d222abf92e80a67233db",
    "seed": 1,
    "num_replicas": 1,
    "rank": 0,
    "shuffle": True,
    "drop_last": False,
    "copy_seeds": False,
    "epoch": 2,
    "position": 5,
}


def test_a_state_saved_before_histories_restores_into_the_same_plan():
    plan = ovs.plan([0] * 10 + [1] * 3, seed=1)
    assert plan.fingerprint == BEFORE_HISTORY["plan"]
    sampler = ovs.Sampler(plan)
    sampler.load_state_dict(dict(BEFORE_HISTORY))
    # what that version yielded after the first 5 (recorded there)
    assert list(sampler) == [12, 12, 2, 7, 8, 10, 10, 10, 10, 9, 3, 12, 1, 0, 11]
    batches = ovs.BatchSampler(ovs.Sampler(plan), 4)
    saved = {**BEFORE_HISTORY, "epoch": 0, "position": 4}
    batches.load_state_dict({**saved, "batch_size": 4, "batch_drop_last": False})
    fresh = list(ovs.BatchSampler(ovs.Sampler(plan), 4))
    assert list(batches) == fresh[1:]


def test_a_state_saved_before_histories_is_refused_by_another_plan():
    other = ovs.Sampler(ovs.plan([0] * 10 + [1] * 3, seed=2))
    with pytest.raises(ValueError, match="another plan"):
        other.load_state_dict({**BEFORE_HISTORY, "seed": 2})


def test_a_cap_that_changes_no_target_does_not_block_a_resume():
    labels = [0] * 90 + [1] * 10
    saved_under = ovs.plan(labels, ovs.Schedule({0: "sqrt", 10: "all"}), seed=0)
    sampler = ovs.Sampler(saved_under)
    sampler.set_epoch(12)
    head = list(itertools.islice(sampler, 30))
    state = sampler.state_dict()
    capped = ovs.plan(
        labels, ovs.Schedule({0: "sqrt", 10: "all"}), seed=0, max_factor=1000
    )
    resumed = ovs.Sampler(capped)
    resumed.load_state_dict(state)
    assert sorted(head + list(resumed)) == sorted(
        i for i, c in enumerate(saved_under.copies(12)) for _ in range(c)
    )
    tight = ovs.plan(labels, ovs.Schedule({0: "sqrt", 10: "all"}), seed=0, max_factor=2)
    with pytest.raises(ValueError, match="from epoch 0 on"):
        ovs.Sampler(tight).load_state_dict(state)
