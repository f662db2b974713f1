"""Mixtures: several named sources at exact rates, one plan over the sources
(its classes), carried out by the tf.data and Python-stream executors and by
the Sampler over the concatenation; every source's copies equal the plan's,
sample by sample, in every epoch."""

from __future__ import annotations

import importlib.util
import json
import math

import numpy as np
import pytest

import oversample as ovs
from oversample.core.mixture import batch_counts, mixture

SIZES = {"wiki": 300, "code": 100, "books": 200}
RATES = {"wiki": 2.5, "code": 1, "books": 0.3}
BASE = {"wiki": 0, "code": 10_000, "books": 20_000}  # element = BASE[source] + position
HAS_TF = importlib.util.find_spec("tensorflow") is not None
needs_tf = pytest.mark.skipif(not HAS_TF, reason="TensorFlow is not installed")


def _rows() -> dict[str, list[int]]:
    return {name: list(range(BASE[name], BASE[name] + n)) for name, n in SIZES.items()}


def _datasets():
    import tensorflow as tf

    return {name: tf.data.Dataset.from_tensor_slices(v) for name, v in _rows().items()}


def _per_source(elements) -> list[np.ndarray]:
    values = np.asarray([int(x) for x in elements])
    return [
        np.bincount(
            values[(values >= BASE[n]) & (values < BASE[n] + size)] - BASE[n],
            minlength=size,
        )
        for n, size in SIZES.items()
    ]


def _source_of(elements) -> np.ndarray:
    values = np.asarray([int(x) for x in elements])
    return (values >= BASE["code"]).astype(int) + (values >= BASE["books"])


def _expected(epoch: int, seed: int) -> list[np.ndarray]:
    return mixture(SIZES, RATES, seed=seed).copies(epoch)


def _assert_exact(elements, epoch: int, seed: int) -> None:
    got = _per_source(elements)
    for name, a, b in zip(SIZES, got, _expected(epoch, seed), strict=True):
        assert a.tolist() == b.tolist(), name


def test_the_plan_of_a_mixture_has_the_sources_as_classes():
    found = mixture(SIZES, RATES, seed=0)
    assert found.plan.targets == {"books": 60, "code": 100, "wiki": 750}
    assert found.targets == (750, 100, 60)
    for epoch in range(3):
        copies = found.copies(epoch)
        assert [int(c.sum()) for c in copies] == [750, 100, 60]
        assert [int(c.min()) for c in copies[:2]] == [2, 1]
        assert int(copies[2].max()) == 1
    by_samples = mixture(SIZES, samples={"wiki": 10, "code": 100, "books": 450}, seed=0)
    assert by_samples.targets == (10, 100, 450)


def test_a_thinned_source_uses_every_sample_within_ceil_one_over_rate_epochs():
    found = mixture(SIZES, RATES, seed=3)
    window = math.ceil(200 / 60)
    for first in range(0, 12):
        used = sum(found.copies(e)[2] for e in range(first, first + window))
        assert used.min() >= 1


@pytest.mark.parametrize("seed", range(6))
def test_stratified_batches_hold_each_share_to_within_one_sample(seed):
    rng = np.random.default_rng(seed)
    count = int(rng.integers(2, 6))
    sizes = {f"s{i}": int(rng.integers(1, 4000)) for i in range(count)}
    rates = {name: float(rng.uniform(0.2, 5)) for name in sizes}
    found = mixture(sizes, rates, seed=0)
    shares = np.asarray(found.targets) / found.plan.total
    for batch in (16, 100, 256):
        table = batch_counts(found.targets, batch)
        assert table.sum(axis=0).tolist() == list(found.targets)
        whole = table[: found.plan.total // batch]
        assert (whole.sum(axis=1) == batch).all()
        assert np.abs(whole - batch * shares).max() < 1
        schedule = found.schedule(batch)
        assert np.bincount(schedule, minlength=count).tolist() == list(found.targets)


def test_the_default_schedule_keeps_every_run_near_the_rates():
    found = mixture(SIZES, RATES, seed=0)
    schedule = found.schedule()
    assert np.bincount(schedule).tolist() == [750, 100, 60]
    shares = np.asarray(found.targets) / found.plan.total
    for start in range(0, schedule.size - 64, 37):
        counts = np.bincount(schedule[start : start + 64], minlength=3)
        assert np.abs(counts - 64 * shares).max() < 2


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda s: ovs.mix(s, {"wiki": 1, "code": 1}),
            ValueError,
            r"no value for \['books'\]",
        ),
        (
            lambda s: ovs.mix(s, {**RATES, "news": 1}),
            ValueError,
            r"unknown sources \['news'\]",
        ),
        (
            lambda s: ovs.mix(s, {**RATES, "code": -1}),
            ValueError,
            r"rates\['code'\]=-1",
        ),
        (
            lambda s: ovs.mix(s, {**RATES, "code": float("nan")}),
            ValueError,
            r"rates\['code'\]=nan",
        ),
        (
            lambda s: ovs.mix(s, {**RATES, "wiki": float("inf")}),
            ValueError,
            r"rates\['wiki'\]=inf",
        ),
        (
            lambda s: ovs.mix(s, dict.fromkeys(RATES, 0)),
            ValueError,
            r"> 0; got rates\['wiki'\]=0",
        ),
        (
            lambda s: ovs.mix(s, {**RATES, "code": "1"}),
            TypeError,
            r"rates\['code'\]='1'",
        ),
        (lambda s: ovs.mix(s, {**RATES, "code": 1e-4}), ValueError, "rounds to 0"),
        (lambda s: ovs.mix(s), TypeError, "give exactly one of `rates`"),
        (lambda s: ovs.mix(s, RATES, samples={"wiki": 1}), TypeError, "got both"),
        (lambda s: ovs.mix(s, RATES, stratified=0), ValueError, "`stratified`"),
        (
            lambda s: ovs.mix({**s, "books": []}, RATES),
            ValueError,
            r"sources\['books'\]` is empty",
        ),
        (
            lambda s: ovs.mix({**s, "books": 7}, RATES),
            TypeError,
            r"sources\['books'\]|source must be",
        ),
        (lambda s: ovs.mix({**s, "books": iter([1, 2])}, RATES), TypeError, "one-shot"),
        (lambda s: ovs.mix({}, RATES), TypeError, "non-empty dict"),
        (lambda s: ovs.mix([1, 2], RATES), TypeError, "non-empty dict"),
    ],
)
def test_bad_mixtures_are_refused_before_any_data_flows(call, error, match):
    with pytest.raises(error, match=match):
        call(_rows())


@pytest.mark.parametrize(
    ("sizes", "error", "match"),
    [
        (
            {"wiki": 5.5, "books": 3},
            TypeError,
            r"^`sizes\['wiki'\]` must be a number of samples, an int >= 1; got"
            r" sizes\['wiki'\]=5\.5\.$",
        ),
        (
            {"wiki": 0, "books": 3},
            ValueError,
            r"^`sizes\['wiki'\]` is empty \(sizes\['wiki'\]=0\); every source",
        ),
        ([300, 200], TypeError, r"^`sizes` must be a non-empty dict \{name: size\}"),
    ],
)
def test_mix_plan_names_its_sizes_argument(sizes, error, match):
    rates = {"wiki": 2.5, "books": 0.3}
    with pytest.raises(error, match=match):
        ovs.mix_plan(sizes, rates, seed=0)


@needs_tf
def test_mixed_kinds_of_source_are_refused():
    sources = {**_rows(), "books": _datasets()["books"]}
    with pytest.raises(
        TypeError, match=r"all be of one kind.*'books': a tf.data.Dataset"
    ):
        ovs.mix(sources, RATES)


@needs_tf
def test_tf_sources_of_other_structures_are_refused():
    import tensorflow as tf

    sources = {**_datasets(), "books": tf.data.Dataset.from_tensor_slices([0.5])}
    with pytest.raises(TypeError, match=r"sources\['books'\]` has elements"):
        ovs.mix(sources, RATES)


@needs_tf
@pytest.mark.parametrize("epoch", [0, 1, 4])
@pytest.mark.parametrize("stratified", [None, 32])
def test_tf_mixture_is_the_plans_epoch(epoch, stratified):
    out = ovs.mix(_datasets(), RATES, seed=5, epoch=epoch, stratified=stratified)
    assert int(out.cardinality()) == 910
    elements = list(out.as_numpy_iterator())
    _assert_exact(elements, epoch, 5)
    if stratified:
        assert _source_of(elements).tolist() == out.mixture.schedule(32).tolist()


@needs_tf
def test_tf_mixture_streams_epochs_back_to_back_each_exact():
    out = ovs.mix(_datasets(), RATES, seed=2, epochs=3, stratified=50)
    assert int(out.cardinality()) == 3 * 910
    elements = list(out.as_numpy_iterator())
    for epoch in range(3):
        part = elements[epoch * 910 : (epoch + 1) * 910]
        assert np.bincount(_source_of(part)).tolist() == [750, 100, 60]
    totals = _per_source(elements)
    expected = [sum(c) for c in zip(*(_expected(e, 2) for e in range(3)), strict=True)]
    assert [t.tolist() for t in totals] == [e.tolist() for e in expected]


@needs_tf
def test_tf_mixture_draws_a_fresh_epoch_per_iteration_and_is_deterministic():
    out = ovs.mix(_datasets(), RATES, seed=7)
    first, second = list(out.as_numpy_iterator()), list(out.as_numpy_iterator())
    assert first != second
    for elements in (first, second):
        assert np.bincount(_source_of(elements)).tolist() == [750, 100, 60]
    again = ovs.mix(_datasets(), RATES, seed=7)
    assert list(again.as_numpy_iterator()) == first
    other = ovs.mix(_datasets(), RATES, seed=8)
    assert list(other.as_numpy_iterator()) != first


@needs_tf
@pytest.mark.parametrize("consumed", [1, 333, 909])
def test_tf_mixture_resumes_from_a_checkpoint_exactly(consumed, tmp_path):
    import tensorflow as tf

    out = ovs.mix(_datasets(), RATES, seed=4, epoch=2)
    iterator = iter(out)
    head = [int(next(iterator)) for _ in range(consumed)]
    path = tf.train.Checkpoint(iterator=iterator).save(str(tmp_path / "ckpt"))
    rest = [int(x) for x in iterator]
    again = iter(ovs.mix(_datasets(), RATES, seed=4, epoch=2))
    tf.train.Checkpoint(iterator=again).restore(path)
    assert [int(x) for x in again] == rest
    _assert_exact(head + rest, 2, 4)


@needs_tf
def test_tf_mixture_refuses_a_state_from_another_mixture(tmp_path):
    import tensorflow as tf

    # The guard runs once per piece of the schedule (a stratified batch here).
    iterator = iter(ovs.mix(_datasets(), RATES, seed=4, epoch=2, stratified=32))
    next(iterator)
    path = tf.train.Checkpoint(iterator=iterator).save(str(tmp_path / "ckpt"))
    rates = {**RATES, "code": 2}
    other = iter(ovs.mix(_datasets(), rates, seed=4, epoch=2, stratified=32))
    tf.train.Checkpoint(iterator=other).restore(path)
    with pytest.raises(tf.errors.InvalidArgumentError, match="another plan"):
        list(other)


@needs_tf
@pytest.mark.parametrize("before_boundary", [1, 2, 31])
def test_a_stratified_restore_into_another_mixture_is_refused_at_the_next_batch(
    before_boundary, tmp_path
):
    import tensorflow as tf

    batch = 32
    iterator = iter(ovs.mix(_datasets(), RATES, seed=4, epoch=2, stratified=batch))
    for _ in range(3 * batch - before_boundary):
        next(iterator)
    path = tf.train.Checkpoint(iterator=iterator).save(str(tmp_path / "ckpt"))
    rates = {**RATES, "code": 2}
    other = iter(ovs.mix(_datasets(), rates, seed=4, epoch=2, stratified=batch))
    tf.train.Checkpoint(iterator=other).restore(path)
    yielded = 0
    with pytest.raises(tf.errors.InvalidArgumentError, match="another plan"):
        for _ in other:
            yielded += 1
    assert yielded == before_boundary


@pytest.mark.parametrize("epoch", [0, 3])
@pytest.mark.parametrize("stratified", [None, 32])
def test_python_mixture_is_the_plans_epoch(epoch, stratified):
    out = ovs.mix(_rows(), RATES, seed=5, epoch=epoch, stratified=stratified)
    elements = list(out)
    assert len(elements) == len(out) == 910
    _assert_exact(elements, epoch, 5)
    if stratified:
        assert _source_of(elements).tolist() == out.mixture.schedule(32).tolist()


@needs_tf
def test_python_and_tf_mixtures_agree_on_the_stratified_order_of_sources():
    tf_out = ovs.mix(_datasets(), RATES, seed=1, epoch=1, stratified=40)
    py_out = ovs.mix(_rows(), RATES, seed=1, epoch=1, stratified=40)
    assert (
        _source_of(tf_out.as_numpy_iterator()).tolist() == _source_of(py_out).tolist()
    )


def test_python_mixture_set_epoch_and_resume():
    out = ovs.mix(_rows(), RATES, seed=6)
    out.set_epoch(3)
    elements = list(out)
    _assert_exact(elements, 3, 6)
    iterator = iter(out)
    head = [next(iterator) for _ in range(400)]
    state = json.loads(json.dumps(out.state_dict()))
    again = ovs.mix(_rows(), RATES, seed=6)
    again.load_state_dict(state)
    assert head + list(again) == elements
    other = ovs.mix(_rows(), {**RATES, "books": 1}, seed=6)
    with pytest.raises(ValueError, match=r"saved in epoch 3 .* from epoch 0 on"):
        other.load_state_dict(state)


def test_a_python_mixture_checkpointed_right_after_a_restore_keeps_its_place():
    out = ovs.mix(_rows(), RATES, seed=6, epoch=2)
    elements = list(out)
    iterator = iter(out)
    head = [next(iterator) for _ in range(300)]
    restored = ovs.mix(_rows(), RATES, seed=6, epoch=2)
    restored.load_state_dict(out.state_dict())
    again = ovs.mix(_rows(), RATES, seed=6, epoch=2)
    again.load_state_dict(restored.state_dict())  # saved before reading on
    assert head + list(again) == elements


def test_python_mixture_over_ranks_is_exact_in_union():
    seen = []
    for rank in range(3):
        seen += list(ovs.mix(_rows(), RATES, seed=9, epoch=1).split(3, rank))
    _assert_exact(seen, 1, 9)


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch absent")
def test_python_mixture_in_a_dataloader_with_two_workers_on_two_ranks():
    import torch

    class Mixed(torch.utils.data.IterableDataset):
        def __init__(self, rank):
            self.stream = ovs.mix(_rows(), RATES, seed=3, epoch=2).split(2, rank)

        def __iter__(self):
            return iter(self.stream)

    seen = []
    for rank in range(2):
        loader = torch.utils.data.DataLoader(Mixed(rank), batch_size=16, num_workers=2)
        seen += [int(x) for batch in loader for x in batch]
    _assert_exact(seen, 2, 3)


@pytest.mark.skipif(
    importlib.util.find_spec("datasets") is None, reason="datasets absent"
)
def test_hugging_face_datasets_mix_and_sample_from_their_concatenation():
    import datasets

    tables = {
        name: datasets.Dataset.from_dict({"value": values})
        for name, values in _rows().items()
    }
    out = ovs.mix(tables, RATES, seed=2, epoch=1)
    _assert_exact([row["value"] for row in out], 1, 2)
    joined = datasets.concatenate_datasets(list(tables.values()))
    plan = ovs.mix_plan({n: len(t) for n, t in tables.items()}, RATES, seed=2)
    sampler = ovs.Sampler(plan)
    sampler.set_epoch(1)
    picked = joined.select(list(sampler))["value"]
    _assert_exact(picked, 1, 2)


@pytest.mark.skipif(importlib.util.find_spec("webdataset") is None, reason="absent")
def test_webdataset_shards_per_source(tmp_path):
    import webdataset as wds

    sources = {}
    for name, values in _rows().items():
        urls = []
        half = len(values) // 2
        for part, piece in enumerate((values[:half], values[half:])):
            path = str(tmp_path / f"{name}-{part}.tar")
            with wds.TarWriter(path) as sink:
                for i, value in enumerate(piece):
                    sink.write({"__key__": f"{part}-{i:05d}", "value.txt": str(value)})
            urls.append(path)
        sources[name] = wds.WebDataset(urls, shardshuffle=False).decode()
    out = ovs.mix(sources, RATES, seed=1, epoch=0)
    _assert_exact([int(row["value.txt"]) for row in out], 0, 1)


def test_mix_plan_drives_the_sampler_over_ranks():
    plan = ovs.mix_plan(SIZES, RATES, seed=4)
    seen = []
    for rank in range(2):
        sampler = ovs.Sampler(plan, num_replicas=2, rank=rank)
        sampler.set_epoch(5)
        seen += list(sampler)
    offsets = np.cumsum([0, *SIZES.values()])[:-1]
    concatenated = [BASE[n] + i for n, size in SIZES.items() for i in range(size)]
    assert len(seen) == 910 and offsets.tolist() == [0, 300, 400]
    _assert_exact([concatenated[i] for i in seen], 5, 4)


def _labelled() -> dict[str, list[dict]]:
    """wiki without classes; code with three languages, long-tailed."""
    langs = np.random.default_rng(0).permutation(np.repeat([0, 1, 2], [60, 30, 10]))
    return {
        "wiki": [{"value": v, "lang": -1} for v in range(300)],
        "code": [{"value": 10_000 + i, "lang": int(y)} for i, y in enumerate(langs)],
    }


def _check_within(elements, out) -> None:
    inner = out.mixture.within["code"]
    assert inner.targets == {0: 90, 1: 90, 2: 90}  # 1.5 x the largest class, 60
    langs = [e["lang"] for e in elements if e["value"] >= 10_000]
    assert np.bincount(langs).tolist() == [90, 90, 90]
    assert sum(e["value"] < 10_000 for e in elements) == 300


def test_python_mixture_balances_classes_inside_a_source():
    rates = {"wiki": 1, "code": 1.5}
    out = ovs.mix(_labelled(), rates, seed=1, epoch=2, balance={"code": "lang"})
    elements = list(out)
    _check_within(elements, out)
    seen = []
    for rank in range(2):
        split = ovs.mix(_labelled(), rates, seed=1, epoch=2, balance={"code": "lang"})
        seen += list(split.split(2, rank))
    assert sorted(e["value"] for e in seen) == sorted(e["value"] for e in elements)


@needs_tf
def test_tf_mixture_balances_classes_inside_a_source():
    import tensorflow as tf

    tables = {
        name: tf.data.Dataset.from_tensor_slices(
            {k: np.asarray([row[k] for row in rows]) for k in ("value", "lang")}
        )
        for name, rows in _labelled().items()
    }
    out = ovs.mix(
        tables, {"wiki": 1, "code": 1.5}, seed=1, epoch=2, balance={"code": "lang"}
    )
    assert int(out.cardinality()) == 300 + 270
    _check_within(list(out.as_numpy_iterator()), out)


def test_balance_inside_a_mixture_is_checked_before_reading():
    with pytest.raises(ValueError, match=r"unknown sources \['news'\]"):
        ovs.mix(_labelled(), {"wiki": 1, "code": 1}, balance={"news": "lang"})
    with pytest.raises(ValueError, match="give `rates`, not `samples`"):
        ovs.mix(_labelled(), samples={"wiki": 1, "code": 1}, balance={"code": "lang"})


@pytest.mark.skipif(
    importlib.util.find_spec("torch") is None
    or importlib.util.find_spec("datasets") is None,
    reason="torch or datasets absent",
)
def test_a_source_that_splits_itself_among_workers_is_refused_not_lost():
    import datasets
    import torch

    tables = {
        name: datasets.Dataset.from_dict({"value": values}).to_iterable_dataset(2)
        for name, values in _rows().items()
    }

    stream = ovs.mix(tables, RATES, seed=0, epoch=0)  # planned in the main process
    assert isinstance(stream, torch.utils.data.IterableDataset)
    loader = torch.utils.data.DataLoader(stream, batch_size=16, num_workers=2)
    with pytest.raises(
        ValueError, match=r"yielded 150 samples in this pass, not the 300"
    ):
        list(loader)
    whole = ovs.mix(tables, RATES, seed=0, epoch=0)
    _assert_exact([row["value"] for row in whole], 0, 0)


def test_a_python_mixture_state_is_refused_by_another_reader():
    out = ovs.mix(_rows(), RATES, seed=5, epoch=0)
    first = out.split(2, 0)
    iterator = iter(first)
    next(iterator)
    state = first.state_dict()
    with pytest.raises(ValueError, match=r"reader: saved \[0, 2\], here \[1, 2\]"):
        out.split(2, 1).load_state_dict(state)
