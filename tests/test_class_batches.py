from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

import oversample as ovs

LABELS = np.random.default_rng(0).permutation(
    np.repeat(np.arange(6), [400, 130, 57, 20, 9, 4])
)
CLASSES = 6
BY_CLASS = [{"stratified": True}, {"samples_per_class": 4}]


def _progressive():
    return ovs.plan(LABELS, ovs.Progressive(epochs=3), seed=0)


def _balanced(seed=3):
    return ovs.plan(LABELS, seed=seed)


def _sampler(plan, epoch=0, replicas=1, rank=0, **kwargs):
    sampler = ovs.Sampler(plan, num_replicas=replicas, rank=rank, **kwargs)
    sampler.set_epoch(epoch)
    return sampler


def _held(batch, labels=LABELS):
    return np.bincount(labels[np.asarray(batch)], minlength=labels.max() + 1)


def _whole_batches(sampler, m, batch_size):
    """The batches of whole groups: every group but those that do not fill a
    batch (the documented layout)."""
    totals = _held(sampler.indices())
    return int((totals // m).sum()) // (batch_size // m)


@pytest.mark.parametrize("replicas", [1, 2, 3])
@pytest.mark.parametrize("batch_size", [7, 32, 100])
def test_every_stratified_batch_holds_each_class_share_to_within_one(
    replicas, batch_size
):
    plan = _progressive()
    for epoch in range(5):
        for rank in range(replicas):
            sampler = _sampler(plan, epoch, replicas, rank)
            batches = list(ovs.BatchSampler(sampler, batch_size, stratified=True))
            totals = _held(sampler.indices())
            share = totals / totals.sum()
            assert [len(b) for b in batches[:-1]] == [batch_size] * (len(batches) - 1)
            for batch in batches:
                assert np.abs(_held(batch) - len(batch) * share).max() < 1


@pytest.mark.parametrize("replicas", [1, 2, 3])
@pytest.mark.parametrize("kwargs", BY_CLASS)
def test_the_epoch_summed_over_ranks_is_the_plans(replicas, kwargs):
    plan = _progressive()
    for epoch in range(5):
        used = np.zeros(LABELS.size, np.int64)
        for rank in range(replicas):
            sampler = _sampler(plan, epoch, replicas, rank)
            flat = np.concatenate(list(ovs.BatchSampler(sampler, 16, **kwargs)))
            assert np.sort(flat).tolist() == np.sort(sampler.indices()).tolist()
            used += np.bincount(flat, minlength=LABELS.size)
        padding = used - plan.copies(epoch)
        assert padding.min() >= 0
        assert int(padding.sum()) == sampler.num_padded
        if replicas == 1:
            assert (used == plan.copies(epoch)).all()


@pytest.mark.parametrize("replicas", [2, 3])
@pytest.mark.parametrize("kwargs", BY_CLASS)
def test_ranks_take_disjoint_copies_whose_union_is_the_epoch(replicas, kwargs):
    plan = _balanced()
    pairs = []
    for rank in range(replicas):
        sampler = _sampler(plan, 1, replicas, rank, copy_seeds=True)
        got = [
            pair for batch in ovs.BatchSampler(sampler, 16, **kwargs) for pair in batch
        ]
        mine = zip(sampler.indices().tolist(), sampler.seeds().tolist(), strict=True)
        assert sorted(got) == sorted(mine)
        pairs += got
    assert len(set(pairs)) == len(pairs)  # each copy has its own seed
    used = np.bincount([index for index, _ in pairs], minlength=LABELS.size)
    padding = used - plan.copies(1)
    assert padding.min() >= 0 and int(padding.sum()) == sampler.num_padded


def test_stratified_batches_keep_the_samplers_order_in_a_class_and_in_a_batch():
    sampler = _sampler(_balanced(), 2, copy_seeds=True)
    pairs = list(zip(sampler.indices().tolist(), sampler.seeds().tolist(), strict=True))
    where = {pair: position for position, pair in enumerate(pairs)}
    batches = list(ovs.BatchSampler(sampler, 32, stratified=True))
    for batch in batches:
        positions = [where[pair] for pair in batch]
        assert positions == sorted(positions)
    flat = [pair for batch in batches for pair in batch]
    for label in range(CLASSES):
        assert [p for p in flat if LABELS[p[0]] == label] == [
            p for p in pairs if LABELS[p[0]] == label
        ]
    assert flat != pairs


@pytest.mark.parametrize(("m", "batch_size"), [(2, 8), (4, 16), (8, 24), (5, 25)])
@pytest.mark.parametrize("replicas", [1, 2])
def test_m_per_class_batches_hold_batch_size_over_m_classes_of_m_copies(
    m, batch_size, replicas
):
    plan = _balanced()
    for rank in range(replicas):
        sampler = _sampler(plan, 0, replicas, rank)
        batches = list(ovs.BatchSampler(sampler, batch_size, samples_per_class=m))
        whole = _whole_batches(sampler, m, batch_size)
        assert whole >= len(batches) - 3
        for batch in batches[:whole]:
            groups = LABELS[batch].reshape(-1, m)
            assert len(batch) == batch_size
            assert (groups == groups[:, :1]).all()
            assert len(set(groups[:, 0].tolist())) == batch_size // m


@pytest.mark.parametrize(("m", "batch_size"), [(4, 16), (3, 12), (4, 20)])
@pytest.mark.parametrize("replicas", [1, 3])
def test_the_tail_holds_the_groups_left_then_each_class_remainder(
    m, batch_size, replicas
):
    plan = _progressive()
    for rank in range(replicas):
        sampler = _sampler(plan, 1, replicas, rank)
        batches = list(ovs.BatchSampler(sampler, batch_size, samples_per_class=m))
        totals = _held(sampler.indices())
        whole = _whole_batches(sampler, m, batch_size)
        left = int((totals // m).sum()) % (batch_size // m)
        tail = np.concatenate(batches[whole:] or [np.zeros(0, np.int64)])
        assert [len(b) for b in batches[whole:-1]] == [batch_size] * (
            len(batches) - whole - 1
        )
        groups = LABELS[tail[: left * m]].reshape(-1, m)
        assert (groups == groups[:, :1]).all()
        rest = LABELS[tail[left * m :]]
        assert rest.tolist() == sorted(rest.tolist())
        assert np.bincount(rest, minlength=CLASSES).tolist() == (totals % m).tolist()


@pytest.mark.parametrize("replicas", [1, 2])
@pytest.mark.parametrize("m", [2, 3, 4, 6])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_group_holds_m_distinct_samples_wherever_its_class_has_m(replicas, m, seed):
    """A class with at least m samples gives groups of m distinct samples
    whenever the rank's copies of the class are within one per sample (a
    whole epoch's always are)."""
    labels = np.repeat(np.arange(5), [50, 30, 7, 3, 2])
    plan = ovs.plan(labels, {0: 50, 1: 61, 2: 23, 3: 11, 4: 9}, seed=seed)
    checked = Counter()
    for rank in range(replicas):
        sampler = _sampler(plan, 0, replicas, rank)
        batches = list(ovs.BatchSampler(sampler, 2 * m, samples_per_class=m))
        epoch = sampler.indices()
        totals = _held(epoch, labels)
        groups = totals // m
        held = Counter(epoch.tolist())
        spread = [  # most minus fewest copies of a sample of the class
            np.ptp([held[i] for i in set(epoch[labels[epoch] == c].tolist())] or [0])
            for c in range(5)
        ]
        flat = np.concatenate(batches)[: int(groups.sum()) * m].reshape(-1, m)
        for group in flat.tolist():
            code = int(labels[group[0]])
            assert (labels[group] == code).all()
            samples = len(set(epoch[labels[epoch] == code].tolist()))
            if samples < m:
                checked["fewer than m samples"] += 1
            elif spread[code] <= 1:
                assert len(set(group)) == m, (code, group)
                checked["distinct"] += 1
            else:
                checked["uneven on this rank"] += 1
    assert checked["distinct"]  # the guarantee was exercised
    if replicas == 1:  # a whole epoch: every class of m samples qualifies
        assert checked["uneven on this rank"] == 0


def test_a_class_above_m_over_batch_size_of_the_epoch_gets_its_share_of_groups():
    plan = ovs.plan(LABELS, "sqrt", seed=2)
    sampler = _sampler(plan)
    batches = list(ovs.BatchSampler(sampler, 16, samples_per_class=4))
    groups = _held(sampler.indices()) // 4
    share = 4 * groups / groups.sum()
    assert share.max() > 1
    for batch in batches[: _whole_batches(sampler, 4, 16)]:
        held = _held(batch)
        assert (held % 4 == 0).all()
        assert np.abs(held // 4 - share).max() < 1


@pytest.mark.parametrize("kwargs", BY_CLASS)
@pytest.mark.parametrize("taken", [0, 1, 5, 17])
@pytest.mark.parametrize("copy_seeds", [False, True])
def test_a_resume_mid_epoch_in_a_fresh_object_yields_exactly_the_rest(
    kwargs, taken, copy_seeds
):
    def batches():
        sampler = ovs.Sampler(
            _progressive(), num_replicas=2, rank=1, copy_seeds=copy_seeds
        )
        return ovs.BatchSampler(sampler, 16, **kwargs)

    first = batches()
    first.set_epoch(2)
    iterator = iter(first)
    head = [next(iterator) for _ in range(taken)]
    text = json.dumps(first.state_dict())
    assert len(text) < 1024
    rest = list(iterator)
    again = batches()
    again.load_state_dict(json.loads(text))
    again.set_epoch(2)
    assert list(again) == rest
    again.set_epoch(2)
    assert head + rest == list(again)


@pytest.mark.parametrize("kwargs", BY_CLASS)
def test_batches_by_class_are_a_function_of_the_seed_and_epoch(kwargs):
    def batches(seed, epoch):
        sampler = _sampler(_balanced(seed), epoch)
        return list(ovs.BatchSampler(sampler, 16, **kwargs))

    assert batches(3, 1) == batches(3, 1)
    assert batches(3, 1) != batches(4, 1)
    assert batches(3, 1) != batches(3, 2)


@pytest.mark.parametrize(
    ("kwargs", "batch_size"),
    [({"stratified": True}, 36), ({"samples_per_class": 7}, 35)],
)
def test_drop_last_leaves_out_only_the_last_short_batch(kwargs, batch_size):
    sampler = _sampler(_balanced())
    assert len(sampler) % batch_size
    full = list(ovs.BatchSampler(sampler, batch_size, **kwargs))
    dropped = ovs.BatchSampler(sampler, batch_size, drop_last=True, **kwargs)
    assert list(dropped) == full[:-1]
    assert dropped.num_left_out == len(full[-1]) == len(sampler) % batch_size
    assert len(dropped) == len(full) - 1


def test_an_unshuffled_sampler_gives_batches_in_the_plans_class_order():
    sampler = _sampler(_balanced(), shuffle=False)
    batches = list(ovs.BatchSampler(sampler, 12, stratified=True))
    assert [_held(b).tolist() for b in batches[:2]] == [[2] * 6, [2] * 6]
    flat = np.concatenate(batches)
    for label in range(CLASSES):
        mine = flat[LABELS[flat] == label]
        assert (np.diff(mine) >= 0).all()  # the sampler's order: source order


def test_a_mixture_plan_is_stratified_by_source():
    plan = ovs.mix_plan(
        {"a": 300, "b": 50, "c": 7}, rates={"a": 1, "b": 2, "c": 5}, seed=0
    )
    source = np.repeat([0, 1, 2], [300, 50, 7])
    batches = list(ovs.BatchSampler(ovs.Sampler(plan), 20, stratified=True))
    share = np.array([300, 100, 35]) / 435
    for batch in batches:
        held = np.bincount(source[batch], minlength=3)
        assert np.abs(held - len(batch) * share).max() < 1
    assert np.bincount(np.concatenate(batches), minlength=357).tolist() == (
        plan.copies(0).tolist()
    )


def test_a_dataloader_reads_stratified_batches_for_several_epochs():
    torch = pytest.importorskip("torch")
    plan = _progressive()
    dataset = torch.utils.data.TensorDataset(torch.arange(LABELS.size))
    batches = ovs.BatchSampler(ovs.Sampler(plan), 32, stratified=True)
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=batches)
    for epoch in range(4):
        batches.set_epoch(epoch)
        read = [b[0].numpy() for b in loader]
        assert len(read) == len(batches)
        share = np.array(list(plan.targets_at(epoch).values())) / plan.total_at(epoch)
        for batch in read:
            assert np.abs(_held(batch) - len(batch) * share).max() < 1
        used = np.bincount(np.concatenate(read), minlength=LABELS.size)
        assert (used == plan.copies(epoch)).all()


def test_a_state_saved_before_batches_by_class_restores_into_plain_batches():
    batches = ovs.BatchSampler(_sampler(_balanced()), 16)
    iterator = iter(batches)
    next(iterator)
    state = batches.state_dict()
    rest = list(iterator)
    del state["batch_stratified"], state["batch_samples_per_class"]
    again = ovs.BatchSampler(_sampler(_balanced()), 16)
    again.load_state_dict(state)
    assert list(again) == rest


@pytest.mark.parametrize(
    ("saved", "here", "message"),
    [
        ({"stratified": True}, {}, r"batch_stratified: saved True, here False"),
        (
            {"samples_per_class": 4},
            {"samples_per_class": 8},
            r"batch_samples_per_class: saved 4, here 8",
        ),
        ({}, {"stratified": True}, r"batch_stratified: saved False, here True"),
    ],
)
def test_a_state_of_other_batches_by_class_is_refused(saved, here, message):
    state = ovs.BatchSampler(_sampler(_balanced()), 16, **saved).state_dict()
    with pytest.raises(ValueError, match=message):
        ovs.BatchSampler(_sampler(_balanced()), 16, **here).load_state_dict(state)


def _weights_plan():
    return ovs.plan(weights=np.linspace(1, 3, 40), seed=0)


def _whole_plan():
    return ovs.duplicate(list(range(40)), copies=3, indices=[2, 5], seed=0).plan


@pytest.mark.parametrize(
    ("plan", "kwargs", "error", "message"),
    [
        (
            _balanced,
            {"batch_size": 16, "samples_per_class": 0},
            ValueError,
            r"`samples_per_class` must be an int >= 1; got samples_per_class=0\.",
        ),
        (
            _balanced,
            {"batch_size": 16, "samples_per_class": 4.0},
            TypeError,
            r"`samples_per_class` must be an int >= 1; got samples_per_class=4\.0",
        ),
        (
            _balanced,
            {"batch_size": 16, "samples_per_class": True},
            TypeError,
            r"got samples_per_class=True of type bool",
        ),
        (
            _balanced,
            {"batch_size": 16, "samples_per_class": 3},
            ValueError,
            r"`samples_per_class` must divide `batch_size`=16, so that a batch"
            r" holds whole groups; got samples_per_class=3\.",
        ),
        (
            _balanced,
            {"batch_size": 32, "samples_per_class": 4},
            ValueError,
            r"`batch_size`=32 with `samples_per_class`=4 asks for 8 classes in a"
            r" batch, and the plan has 6; use batch_size <= 24\.",
        ),
        (
            _progressive,
            {"batch_size": 10, "samples_per_class": 5},
            ValueError,
            r"`samples_per_class`=5 is more than the 4 copies of class 5 in epoch 0:"
            r" every class needs at least samples_per_class copies in every epoch;"
            r" use samples_per_class <= 4",
        ),
        (
            _balanced,
            {"batch_size": 16, "stratified": 1},
            TypeError,
            r"`stratified` must be a bool; got stratified=1\.",
        ),
        (
            _progressive,
            {"batch_size": 621, "stratified": True},
            ValueError,
            r"`batch_size`=621 is more than the 620 indices of epoch 0;"
            r" `stratified=True` needs at least one whole batch in every epoch:"
            r" use batch_size <= 620\.",
        ),
        (
            _progressive,
            {"batch_size": 624, "samples_per_class": 4},
            ValueError,
            r"`batch_size`=624 with `samples_per_class`=4 asks for 156 classes",
        ),
        (
            _balanced,
            {"batch_size": 16, "stratified": True, "samples_per_class": 4},
            ValueError,
            r"give `stratified=True` or `samples_per_class`, not both: stratified"
            r" batches hold every class's share, m-per-class batches hold"
            r" batch_size / m classes; got stratified=True and samples_per_class=4\.",
        ),
        (
            _weights_plan,
            {"batch_size": 4, "stratified": True},
            ValueError,
            r"`stratified=True` makes batches by class, and this sampler's plan"
            r" decides its copies from per-sample weights, so it has no classes",
        ),
        (
            _weights_plan,
            {"batch_size": 4, "samples_per_class": 2},
            ValueError,
            r"`samples_per_class=2` makes batches by class, .* from per-sample"
            r" weights",
        ),
        (
            _whole_plan,
            {"batch_size": 4, "samples_per_class": 2},
            ValueError,
            r"from ovs.duplicate's whole copies, so it has no classes to batch by",
        ),
    ],
)
def test_bad_batches_by_class_are_refused_before_any_batch(
    plan, kwargs, error, message
):
    with pytest.raises(error, match=message):
        ovs.BatchSampler(ovs.Sampler(plan()), **kwargs)


def test_a_batch_larger_than_a_ranks_epoch_is_refused_naming_the_ranks():
    plan = ovs.plan([0] * 30 + [1] * 29, seed=0)
    sampler = ovs.Sampler(plan, num_replicas=3, rank=2)
    with pytest.raises(
        ValueError,
        match=r"`batch_size`=30 is more than the 20 indices of epoch 0 on each"
        r" of 3 ranks; `samples_per_class=15` needs at least one whole batch",
    ):
        ovs.BatchSampler(sampler, 30, samples_per_class=15)


def test_a_group_straddling_a_samples_extra_copy_is_still_distinct():
    """Three samples with four copies and pairs: the extra copy must not join
    its own sample's group (as it did when groups were cut from rounds of
    first copies, then second copies)."""
    repeated = 0
    for seed in range(40):
        plan = ovs.plan([0] * 3 + [1] * 8, {0: 4, 1: 8}, seed=seed)
        for batch in ovs.BatchSampler(ovs.Sampler(plan), 4, samples_per_class=2):
            repeated += batch[0] == batch[1]
            repeated += batch[2] == batch[3]
    assert repeated == 0
