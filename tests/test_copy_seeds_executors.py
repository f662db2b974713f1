"""`copy_seeds=True` in every executor that offers it: each output element
carries the seed `core.seeding.copy_seeds(plan seed, epoch, sample, copy)` of
its own copy, so the seeds of one epoch are all distinct, the (sample, copy)
pairs are exactly the plan's copies, and a resumed stream or another process
gives the same seeds. Refused where no stable key can be had."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

import oversample as ovs
from oversample.core.seeding import copy_seeds

SEED = 23
SIZES = [40, 25, 13, 7, 3, 1]


def _labels() -> np.ndarray:
    return np.random.default_rng(1).permutation(np.repeat(np.arange(6), SIZES))


def _expected_pairs(plan, epoch: int) -> Counter:
    if not plan.knows_samples:  # counted by class: the same plan over the labels
        plan = ovs.plan(_labels(), seed=plan.seed, rounding=plan.rounding)
    copies = plan.copies(epoch)
    samples = np.flatnonzero(copies).tolist()
    return Counter((i, c) for i in samples for c in range(copies[i]))


def _check_epoch(plan, epoch: int, rows: list[tuple[int, int, int]]) -> None:
    """rows are (sample, copy, seed): the plan's pairs, each seed its own."""
    assert Counter((k, c) for k, c, _ in rows) == _expected_pairs(plan, epoch)
    keys = np.array([k for k, _, _ in rows], np.int64)
    numbers = np.array([c for _, c, _ in rows], np.int64)
    seeds = np.array([s for _, _, s in rows], np.uint64)
    np.testing.assert_array_equal(seeds, copy_seeds(plan.seed, epoch, keys, numbers))
    assert np.unique(seeds).size == seeds.size


# tf.data ----------------------------------------------------------------------


def _tf_rows(out) -> list[tuple[int, int, int]]:
    """(key, copy, first seed word as uint64) of every element."""
    rows = []
    for _, marks in out:
        pair = marks["seed"].numpy()
        assert pair.shape == (2,) and pair.dtype == np.int64
        word = int(pair[:1].view(np.uint64)[0])
        rows.append((int(marks["key"]), int(marks["copy"]), word))
    return rows


def _tf_source(labels, ragged: bool = False):
    import tensorflow as tf

    features = {"label": labels, "id": np.arange(labels.size, dtype=np.int64) * 3}
    if ragged:
        rows = [[1] * (i % 3) for i in range(labels.size)]
        features["ragged"] = tf.ragged.constant(rows)
    return tf.data.Dataset.from_tensor_slices(features)


TF_FORMS = {
    "held whole": {},
    "streamed": {"spread": None},
    "partly held": {"spread": 4 * 40},
    "no shuffle": {"spread": None, "shuffle_buffer": 0},
    "by key": {"key": "id"},
    "per element": {"ragged": True, "spread": None},
}


@pytest.mark.parametrize("form", list(TF_FORMS))
@pytest.mark.parametrize("epoch", [0, 3])
def test_tf_data_seeds_are_the_copies_own(form, epoch):
    pytest.importorskip("tensorflow")
    options = dict(TF_FORMS[form])
    labels = _labels()
    ds = _tf_source(labels, ragged=options.pop("ragged", False))
    out = ovs.balance(
        ds,
        seed=SEED,
        epoch=epoch,
        provenance=True,
        copy_seeds=True,
        rounding="stochastic",
        **options,
    )
    _check_epoch(out.plan, epoch, _tf_rows(out))


def test_tf_data_seed_alone_is_added_beside_the_unchanged_element():
    tf = pytest.importorskip("tensorflow")
    ds = _tf_source(_labels())
    out = ovs.duplicate(ds, copies=2, seed=SEED, epoch=1, copy_seeds=True)
    element, marks = out.element_spec
    assert element == ds.element_spec
    assert marks == {"seed": tf.TensorSpec([2], tf.int64)}
    # every sample twice, with two different seeds
    seeds = [tuple(m["seed"].numpy()) for _, m in out]
    assert len(seeds) == 2 * len(_labels()) == len(set(seeds))


def test_tf_data_epochs_back_to_back_seed_each_epoch_as_its_own():
    pytest.importorskip("tensorflow")
    labels = _labels()
    out = ovs.balance(
        _tf_source(labels), seed=SEED, epochs=3, provenance=True, copy_seeds=True
    )
    rows = _tf_rows(out)
    per_epoch = out.plan.total_at(0)
    for epoch in range(3):
        _check_epoch(out.plan, epoch, rows[epoch * per_epoch : (epoch + 1) * per_epoch])


def test_tf_data_fresh_epochs_draw_new_seeds_on_every_iteration():
    pytest.importorskip("tensorflow")
    out = ovs.balance(_tf_source(_labels()), seed=SEED, copy_seeds=True)
    first = {tuple(m["seed"].numpy()) for _, m in out}
    second = {tuple(m["seed"].numpy()) for _, m in out}
    assert len(first) == len(second) == int(out.cardinality())
    assert not first & second


def test_tf_data_seeds_feed_stateless_image_ops_and_the_iterator_checkpoints(
    tmp_path,
):
    tf = pytest.importorskip("tensorflow")
    images = np.random.default_rng(0).random((89, 8, 8, 1)).astype(np.float32)
    ds = tf.data.Dataset.from_tensor_slices({"image": images, "label": _labels()})

    def augment(element, marks):
        image = tf.image.stateless_random_flip_left_right(
            element["image"], seed=marks["seed"]
        )
        image = tf.image.stateless_random_brightness(image, 0.3, seed=marks["seed"])
        return image, element["label"]

    def pipeline():
        out = ovs.balance(ds, seed=SEED, copy_seeds=True, spread=None)
        return out.map(augment)

    iterator = iter(pipeline())
    head = [next(iterator)[0].numpy() for _ in range(37)]
    path = tf.train.Checkpoint(iterator=iterator).save(str(tmp_path / "ckpt"))
    rest = [image.numpy() for image, _ in iterator]
    again = iter(pipeline())
    tf.train.Checkpoint(iterator=again).restore(path)
    resumed = [image.numpy() for image, _ in again]
    assert len(head) + len(rest) == int(pipeline().cardinality())
    np.testing.assert_array_equal(np.stack(resumed), np.stack(rest))
    # the copies of one image are different views of it
    flat = np.stack(head + rest).reshape(len(head) + len(rest), -1)
    assert np.unique(flat, axis=0).shape[0] == flat.shape[0]


def test_tf_data_shards_seed_by_shard_and_position(tmp_path):
    pytest.importorskip("tensorflow")
    from shard_helpers import read, write_shards

    labels = _labels()
    files = write_shards(tmp_path, labels, num_shards=5)
    shards = ovs.Shards(files, read, cycle_length=3)
    counts = ovs.count_labels(shards)
    for spread in (None, 4 * 40):
        out = ovs.balance(
            shards,
            counts=counts,
            seed=SEED,
            epoch=2,
            provenance=True,
            copy_seeds=True,
            spread=spread,
        )
        _check_epoch(out.plan, 2, _tf_rows(out))


def test_tf_data_refuses_seeds_keyed_by_the_position_of_a_reshuffled_source():
    pytest.importorskip("tensorflow")
    ds = _tf_source(_labels()).shuffle(100, seed=0)
    # the copies of `duplicate` do not depend on the order, so this works ...
    assert int(ovs.duplicate(ds, copies=2, seed=0).cardinality()) == 2 * 89
    # ... but seeds keyed by the position would name other samples each time
    with pytest.raises(ValueError, match=r"copy seeds are keyed by position"):
        ovs.duplicate(ds, copies=2, seed=0, copy_seeds=True)


def test_tf_data_by_key_gives_seeds_that_follow_the_sample_not_the_order():
    pytest.importorskip("tensorflow")
    labels = _labels()
    ds = _tf_source(labels)
    shuffled = ds.shuffle(200, seed=0)

    def seeds_by_id(source):
        out = ovs.balance(source, seed=SEED, epoch=1, key="id", copy_seeds=True)
        found = Counter()
        for element, marks in out:
            found[int(element["id"]), tuple(marks["seed"].numpy())] += 1
        return found

    assert seeds_by_id(shuffled) == seeds_by_id(ds)


# Python streams -----------------------------------------------------------


def _py_source(labels):
    return [{"label": int(y), "id": i} for i, y in enumerate(labels)]


@pytest.mark.parametrize("spread", ["auto", None, 11 * 200])
@pytest.mark.parametrize("epoch", [0, 4])
def test_python_stream_seeds_are_the_copies_own(spread, epoch):
    out = ovs.balance(
        _py_source(_labels()),
        seed=SEED,
        epoch=epoch,
        spread=spread,
        provenance=True,
        copy_seeds=True,
    )
    rows = [(m["key"], m["copy"], m["seed"]) for _, m in out]
    assert all(type(seed) is int and 0 <= seed < 2**64 for _, _, seed in rows)
    _check_epoch(out.plan, epoch, rows)


def test_python_shards_seed_by_the_global_sample():
    rows = _py_source(_labels())
    cuts = [0, 17, 40, 41, 70, len(rows)]
    files = [f"part-{i}" for i in range(5)]

    def read(name):
        place = files.index(name)
        return rows[cuts[place] : cuts[place + 1]]

    out = ovs.balance(
        ovs.Shards(files, read), seed=SEED, epoch=1, provenance=True, copy_seeds=True
    )
    _check_epoch(out.plan, 1, [(m["key"], m["copy"], m["seed"]) for _, m in out])


def test_python_stream_resumes_with_the_same_seeds():
    def stream():
        return ovs.balance(_py_source(_labels()), seed=SEED, copy_seeds=True, epoch=2)

    iterator = iter(stream())
    head = [next(iterator)[1]["seed"] for _ in range(41)]
    state = json.loads(json.dumps(iterator.state_dict()))
    rest = [m["seed"] for _, m in iterator]
    again = iter(stream())
    again.load_state_dict(state)
    assert [m["seed"] for _, m in again] == rest
    assert len(set(head + rest)) == len(head) + len(rest)


def test_python_stream_refuses_a_state_saved_without_seeds():
    source = _py_source(_labels())
    plain = iter(ovs.balance(source, seed=SEED, epoch=0))
    next(plain)
    seeded = iter(ovs.balance(source, seed=SEED, epoch=0, copy_seeds=True))
    with pytest.raises(ValueError, match="another"):
        seeded.load_state_dict(plain.state_dict())


# The Sampler --------------------------------------------------------------


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("replicas", [1, 3])
def test_sampler_pairs_are_the_plans_copies_with_their_seeds(shuffle, replicas):
    plan = ovs.plan(_labels(), seed=SEED, rounding="stochastic")
    union = []
    for rank in range(replicas):
        sampler = ovs.Sampler(
            plan, shuffle=shuffle, num_replicas=replicas, rank=rank, copy_seeds=True
        )
        sampler.set_epoch(5)
        pairs = list(sampler)
        assert pairs == [sampler[i] for i in range(len(sampler))]
        assert pairs == sampler._getitems(list(range(len(sampler))))
        assert [i for i, _ in pairs] == sampler.indices().tolist()
        assert [s for _, s in pairs] == sampler.seeds().tolist()
        union += pairs
    seeds = np.array([s for _, s in union], np.uint64)
    assert np.unique(seeds).size == seeds.size
    if replicas == 1:  # no padding: the pairs are exactly the plan's
        counted = Counter(i for i, _ in union)
        assert counted == {i: c for i, c in enumerate(plan.copies(5)) if c}


def test_sampler_copy_numbers_run_from_zero_per_sample():
    plan = ovs.plan(_labels(), seed=SEED)
    for shuffle in (True, False):
        sampler = ovs.Sampler(plan, shuffle=shuffle, copy_seeds=True)
        order = sampler._order_now()
        slots = np.arange(len(sampler), dtype=np.int64)
        numbers = order.copy_numbers(slots)
        sources = order.take(slots)
        for sample in np.unique(sources):
            mine = np.sort(numbers[sources == sample])
            np.testing.assert_array_equal(mine, np.arange(mine.size))
        want = copy_seeds(plan.seed, 0, sources, numbers)
        np.testing.assert_array_equal(sampler.seeds(), want)


def test_batch_sampler_yields_pairs_and_resumes():
    plan = ovs.plan(_labels(), seed=SEED)
    sampler = ovs.Sampler(plan, copy_seeds=True)
    batches = ovs.BatchSampler(sampler, batch_size=16)
    iterator = iter(batches)
    head = [next(iterator) for _ in range(3)]
    state = json.loads(json.dumps(batches.state_dict()))
    rest = list(iterator)
    flat = [pair for batch in head + rest for pair in batch]
    assert flat == list(ovs.Sampler(plan, copy_seeds=True))
    again = ovs.BatchSampler(ovs.Sampler(plan, copy_seeds=True), batch_size=16)
    again.load_state_dict(state)
    assert list(again) == rest


def test_global_rng_transforms_forked_around_the_call_follow_the_copy_seed():
    """The guide's torchvision recipe, with a transform that draws from the
    global torch RNG as v2 transforms do (torchvision's PyPI wheels need CUDA
    torch, so it is not installed here)."""
    torch = pytest.importorskip("torch")

    def transform(image):  # a random 4x4 crop, flipped half of the time
        top, left = torch.randint(0, 5, (2,)).tolist()
        image = image[:, top : top + 4, left : left + 4]
        return image.flip(-1) if torch.rand(()) < 0.5 else image

    def view(image, seed):  # as on the augmentation page
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return transform(image)

    images = torch.arange(64, dtype=torch.float32).reshape(1, 1, 8, 8)
    pairs = list(ovs.Sampler(ovs.plan([0] + [1] * 40, seed=SEED), copy_seeds=True))
    torch.manual_seed(0)
    before = torch.get_rng_state()
    views = [view(images[0], seed) for index, seed in pairs if index == 0]
    assert torch.equal(torch.get_rng_state(), before)  # the global RNG untouched
    torch.manual_seed(99)  # another global state: the same views
    again = [view(images[0], seed) for index, seed in pairs if index == 0]
    assert all(torch.equal(a, b) for a, b in zip(views, again, strict=True))
    assert len(views) == 40 and len({tuple(v.flatten().tolist()) for v in views}) > 20


def test_sampler_states_check_copy_seeds_and_read_older_states():
    plan = ovs.plan(_labels(), seed=SEED)
    plain = ovs.Sampler(plan)
    iterator = iter(plain)
    [next(iterator) for _ in range(5)]
    state = plain.state_dict()
    with pytest.raises(ValueError, match=r"copy_seeds: saved False, here True"):
        ovs.Sampler(plan, copy_seeds=True).load_state_dict(state)
    older = {k: v for k, v in state.items() if k != "copy_seeds"}
    again = ovs.Sampler(plan)
    again.load_state_dict(older)
    assert again.position == 5


def test_seeds_are_equal_in_another_process():
    code = (
        "import json, numpy as np, oversample as ovs\n"
        "rng = np.random.default_rng(1)\n"
        f"labels = rng.permutation(np.repeat(np.arange(6), {SIZES}))\n"
        "source = [{'label': int(y)} for y in labels]\n"
        f"stream = ovs.balance(source, seed={SEED}, epoch=3, copy_seeds=True)\n"
        f"sampler = ovs.Sampler(ovs.plan(labels, seed={SEED}), copy_seeds=True)\n"
        "sampler.set_epoch(3)\n"
        "print(json.dumps([[m['seed'] for _, m in stream], list(sampler)]))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "7"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    streamed, pairs = json.loads(done.stdout)
    labels = _labels()
    source = [{"label": int(y)} for y in labels]
    here = ovs.balance(source, seed=SEED, epoch=3, copy_seeds=True)
    assert streamed == [m["seed"] for _, m in here]
    sampler = ovs.Sampler(ovs.plan(labels, seed=SEED), copy_seeds=True)
    sampler.set_epoch(3)
    assert [tuple(p) for p in pairs] == list(sampler)


def test_tf_data_seeds_are_equal_in_another_process():
    pytest.importorskip("tensorflow")
    code = (
        "import json, numpy as np, tensorflow as tf, oversample as ovs\n"
        "rng = np.random.default_rng(1)\n"
        f"labels = rng.permutation(np.repeat(np.arange(6), {SIZES}))\n"
        "ds = tf.data.Dataset.from_tensor_slices({'label': labels})\n"
        f"out = ovs.balance(ds, seed={SEED}, epoch=2, copy_seeds=True)\n"
        "print(json.dumps([m['seed'].numpy().tolist() for _, m in out]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    there = json.loads(done.stdout.strip().splitlines()[-1])
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices({"label": _labels()})
    out = ovs.balance(ds, seed=SEED, epoch=2, copy_seeds=True)
    assert there == [m["seed"].numpy().tolist() for _, m in out]
    assert len({tuple(pair) for pair in there}) == len(there)


# Mixtures -----------------------------------------------------------------

MIX_SIZES = {"wiki": 23, "code": 4, "books": 11}
MIX_RATES = {"wiki": 0.6, "code": 3.5, "books": 1.0}


def _mix_sources(kind: str) -> dict:
    """Each source's samples numbered from its place in the concatenation."""
    starts = np.cumsum([0, *MIX_SIZES.values()])[:-1]
    numbers = {
        n: np.arange(s, s + k)
        for (n, k), s in zip(MIX_SIZES.items(), starts, strict=True)
    }
    if kind == "python":
        return {n: [{"x": int(i)} for i in ids] for n, ids in numbers.items()}
    tf = pytest.importorskip("tensorflow")
    out = {
        n: tf.data.Dataset.from_tensor_slices({"x": ids}) for n, ids in numbers.items()
    }
    if kind == "tf ragged":  # no static shape: decided element by element
        out = {
            n: ds.map(lambda e: {"x": tf.fill([e["x"] % 3 + 1], e["x"])})
            for n, ds in out.items()
        }
    return out


def _mix_seeds(out) -> list[tuple[int, int]]:
    """(sample, seed as uint64) of every element of a mixture."""
    rows = []
    for element, marks in out:
        seed = marks["seed"]
        if hasattr(seed, "numpy"):
            seed = int(seed.numpy()[:1].view(np.uint64)[0])
            element = {"x": int(np.ravel(element["x"].numpy())[0])}
        rows.append((element["x"], seed))
    return rows


@pytest.mark.parametrize("kind", ["python", "tf", "tf ragged"])
@pytest.mark.parametrize("stratified", [None, 8])
@pytest.mark.parametrize("epoch", [0, 5])
def test_mixture_seeds_are_the_copies_own_as_over_mix_plan(kind, stratified, epoch):
    out = ovs.mix(
        _mix_sources(kind),
        MIX_RATES,
        seed=SEED,
        epoch=epoch,
        stratified=stratified,
        copy_seeds=True,
    )
    plan = ovs.mix_plan(MIX_SIZES, MIX_RATES, seed=SEED)
    copies = plan.copies(epoch)
    want = [
        (i, int(copy_seeds(SEED, epoch, i, c)))
        for i in range(copies.size)
        for c in range(copies[i])
    ]
    got = _mix_seeds(out)
    assert sorted(got) == sorted(want)
    assert len({seed for _, seed in got}) == len(got)
    sampler = ovs.Sampler(plan, copy_seeds=True)
    sampler.set_epoch(epoch)
    assert sorted(got) == sorted(map(tuple, sampler))


def test_a_source_balanced_inside_the_mixture_takes_its_class_plans_seeds():
    labelled = {
        "rare": [{"x": i, "label": int(i < 3)} for i in range(12)],
        "common": [{"x": 100 + i, "label": 0} for i in range(9)],
    }
    rates = {"rare": 1.0, "common": 2.0}

    def mixed():
        return ovs.mix(
            labelled,
            rates,
            seed=SEED,
            epoch=2,
            balance={"rare": "label"},
            copy_seeds=True,
        )

    got = [(e["x"], m["seed"]) for e, m in mixed()]
    assert got == [(e["x"], m["seed"]) for e, m in mixed()]
    assert len({seed for _, seed in got}) == len(got)
    rare = Counter(x for x, _ in got if x < 100)
    assert sum(rare.values()) == 18 and rare[0] == 3  # 9 + 9: each class at 9


def test_mixture_seeds_resume_in_python_and_checkpoint_in_tf_data(tmp_path):
    tf = pytest.importorskip("tensorflow")
    sources = _mix_sources("python")
    stream = ovs.mix(sources, MIX_RATES, seed=SEED, epoch=1, copy_seeds=True)
    iterator = iter(stream)
    head = [next(iterator)[1]["seed"] for _ in range(17)]
    state = json.loads(json.dumps(stream.state_dict()))
    rest = [m["seed"] for _, m in iterator]
    again = ovs.mix(sources, MIX_RATES, seed=SEED, epoch=1, copy_seeds=True)
    again.load_state_dict(state)
    assert [m["seed"] for _, m in again] == rest
    assert len(set(head + rest)) == len(head) + len(rest)

    def mixed():  # fresh epochs: a new epoch's seeds on every iteration
        return ovs.mix(_mix_sources("tf"), MIX_RATES, seed=SEED, copy_seeds=True)

    iterator = iter(mixed())
    for _ in range(13):
        next(iterator)
    path = tf.train.Checkpoint(iterator=iterator).save(str(tmp_path / "ckpt"))
    rest = [m["seed"].numpy().tolist() for _, m in iterator]
    restored = iter(mixed())
    tf.train.Checkpoint(iterator=restored).restore(path)
    assert [m["seed"].numpy().tolist() for _, m in restored] == rest
    twice = mixed()
    first, second = ([m["seed"].numpy().tolist() for _, m in twice] for _ in range(2))
    assert first[13:] == rest and second != first


# Bad input ----------------------------------------------------------------


def test_a_mixture_refuses_seeds_keyed_by_the_position_of_a_reshuffled_source():
    sources = _mix_sources("tf")
    sources["code"] = sources["code"].shuffle(4)
    with pytest.raises(ValueError, match=r"`sources\['code'\]` does not keep its"):
        ovs.mix(sources, MIX_RATES, seed=SEED, epoch=0, copy_seeds=True)
    assert len(ovs.mix(sources, MIX_RATES, seed=SEED, epoch=0)) > 0  # without seeds


@pytest.mark.parametrize("value", [1, "yes", None])
def test_copy_seeds_must_be_a_bool(value):
    with pytest.raises(TypeError, match=r"`copy_seeds` must be a bool"):
        ovs.balance(_py_source(_labels()), copy_seeds=value)
    with pytest.raises(TypeError, match=r"`copy_seeds` must be a bool"):
        ovs.Sampler(ovs.plan(_labels()), copy_seeds=value)
    with pytest.raises(TypeError, match=r"`copy_seeds` must be a bool"):
        ovs.mix(_mix_sources("python"), MIX_RATES, copy_seeds=value)
