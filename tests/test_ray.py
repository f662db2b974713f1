"""The Ray Data executor on a local Ray cluster started here (2 CPUs): counts
as Ray tasks, every sample's copies equal to the plan's, in every order and
table form, split over consumers without a row lost, deterministic, and bad
input refused before any epoch task runs."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import oversample as ovs
from oversample.core.seeding import copy_seeds

pytest.importorskip("ray")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from ray_helpers import ids_of, start_ray, write_parquet  # noqa: E402

BOUNDS = (0, 70, 71, 160, 240)


@pytest.fixture(scope="module")
def ray_local():
    ray = start_ray()
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def labels():
    sizes = [150, 70, 40, 25, 9, 6]
    return np.random.default_rng(3).permutation(np.repeat(np.arange(6), sizes))


@pytest.fixture(scope="module")
def files(labels, tmp_path_factory):
    return write_parquet(tmp_path_factory.mktemp("parquet"), labels, BOUNDS)


@pytest.fixture(scope="module")
def shards(files, ray_local):
    return ovs.Shards(files, read=pq.read_table, engine="ray")


@pytest.fixture(scope="module")
def counts(shards):
    return ovs.count_labels(shards)


def test_counting_runs_as_ray_tasks_and_equals_the_python_count(shards, counts, files):
    python = ovs.count_labels(
        ovs.Shards(files, read=lambda f: pq.read_table(f).to_pylist())
    )
    assert counts == python
    assert counts.table.sum(axis=1).tolist() == [70, 1, 89, 80, 60]


READS = {
    "pyarrow": pq.read_table,
    "pandas": lambda f: pq.read_table(f).to_pandas(),
    "columns": lambda f: {
        k: v.to_numpy()
        for k, v in zip(
            pq.read_table(f).column_names, pq.read_table(f).columns, strict=True
        )
    },
    "rows": lambda f: pq.read_table(f).to_pylist(),
}


@pytest.mark.parametrize("form", sorted(READS))
@pytest.mark.parametrize("order", ["auto", 64, 0])
def test_every_sample_gets_the_plans_copies(labels, files, counts, form, order):
    shards = ovs.Shards(files, read=READS[form], engine="ray")
    plan = ovs.plan(labels, seed=5)
    out = ovs.balance(shards, seed=5, counts=counts, epoch=2, shuffle_buffer=order)
    got = np.bincount(ids_of(out), minlength=labels.size)
    assert got.tolist() == plan.copies(2).tolist()
    assert out.plan.targets == plan.targets


def test_with_epoch_and_epochs_give_the_plans_epochs(labels, shards, counts):
    plan = ovs.plan(labels, "sqrt", seed=1)
    out = ovs.balance(shards, strategy="sqrt", seed=1, counts=counts, epoch=0)
    later = np.bincount(ids_of(out.with_epoch(4)), minlength=labels.size)
    assert later.tolist() == plan.copies(4).tolist()
    both = ovs.balance(shards, strategy="sqrt", seed=1, counts=counts, epochs=3)
    total = plan.copies(0) + plan.copies(1) + plan.copies(2)
    assert np.bincount(ids_of(both), minlength=labels.size).tolist() == total.tolist()


def test_thinning_rotates_on_ray_as_in_the_plan(labels, shards, counts):
    plan = ovs.plan(labels, "median", seed=2, thin=True)
    out = ovs.balance(
        shards, strategy="median", seed=2, counts=counts, epoch=1, thin=True
    )
    got = np.bincount(ids_of(out), minlength=labels.size)
    assert got.tolist() == plan.copies(1).tolist()


def test_a_streaming_split_to_two_consumers_loses_nothing(labels, shards, counts):
    import threading

    plan = ovs.plan(labels, seed=4)
    out = ovs.balance(shards, seed=4, counts=counts, epoch=0)
    parts = out.streaming_split(2, equal=False)
    got: dict[int, list[int]] = {}

    def consume(rank):
        got[rank] = [int(r["id"]) for r in parts[rank].iter_rows()]

    threads = [threading.Thread(target=consume, args=(r,)) for r in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    union = np.bincount(got[0] + got[1], minlength=labels.size)
    assert union.tolist() == plan.copies(0).tolist()
    assert got[0] and got[1]


def test_the_same_seed_gives_the_same_order_another_seed_another(shards, counts):
    a = ids_of(ovs.balance(shards, seed=7, counts=counts, epoch=0))
    assert ids_of(ovs.balance(shards, seed=7, counts=counts, epoch=0)) == a
    b = ids_of(ovs.balance(shards, seed=8, counts=counts, epoch=0))
    assert b != a


def test_the_order_is_the_same_in_another_process(shards, counts, files):
    here = ids_of(ovs.balance(shards, seed=7, counts=counts, epoch=0))
    code = (
        "import sys, json\n"
        "sys.path.insert(0, 'tests')\n"
        "import pyarrow.parquet as pq, oversample as ovs\n"
        "from ray_helpers import ids_of, start_ray\n"
        "ray = start_ray()\n"
        f"files = {list(files)!r}\n"
        "shards = ovs.Shards(files, read=pq.read_table, engine='ray')\n"
        "print(json.dumps(ids_of(ovs.balance(shards, seed=7, epoch=0))))\n"
        "ray.shutdown()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == here


def test_a_ray_dataset_is_refused_with_the_form_that_keys_rows(shards, files):
    import ray.data

    with pytest.raises(TypeError, match=r"engine='ray'.*Ray page"):
        ovs.balance(ray.data.read_parquet(files))


def test_a_missing_label_column_is_refused_naming_the_columns(files, ray_local):
    shards = ovs.Shards(files, read=pq.read_table, engine="ray")
    with pytest.raises(ValueError, match=r"'class' is not a column.*\['id', 'label'\]"):
        ovs.balance(shards, label="class", epoch=0)


def test_counts_of_other_files_are_refused(files, counts, ray_local):
    fewer = ovs.Shards(files[:-1], read=pq.read_table, engine="ray")
    with pytest.raises(ValueError, match="shard"):
        ovs.balance(fewer, counts=counts, epoch=0)


def test_a_plan_of_other_labels_is_refused(shards, counts):
    other = ovs.plan(counts={0: 3, 1: 1}, seed=0)
    with pytest.raises(ValueError, match="not made from these shard counts"):
        ovs.balance(shards, plan=other, counts=counts, epoch=0)


def test_an_epoch_is_asked_for(shards, counts):
    with pytest.raises(ValueError, match="give `epoch=k`"):
        ovs.balance(shards, counts=counts)


@pytest.mark.parametrize("form", sorted(READS))
@pytest.mark.parametrize("order", ["auto", 64, 0])
def test_marks_are_columns_with_the_python_executors_values(
    labels, files, counts, form, order
):
    shards = ovs.Shards(files, read=READS[form], engine="ray")
    plan = ovs.plan(labels, seed=6)
    out = ovs.balance(
        shards,
        seed=6,
        counts=counts,
        epoch=3,
        shuffle_buffer=order,
        provenance=True,
        copy_seeds=True,
    )
    rows = [(r["id"], r["key"], r["copy"], r["seed"]) for r in out.iter_rows()]
    ids, keys, numbers, seeds = np.array(rows, np.uint64).T
    np.testing.assert_array_equal(keys, ids)  # the key is the sample's place
    pairs = sorted(zip(keys.tolist(), numbers.tolist(), strict=True))
    copies = plan.copies(3)
    assert pairs == [(i, c) for i in range(labels.size) for c in range(copies[i])]
    np.testing.assert_array_equal(seeds, copy_seeds(6, 3, keys, numbers))
    assert np.unique(seeds).size == seeds.size
    python = ovs.Shards(files, read=READS["rows"])
    streamed = ovs.balance(
        python, seed=6, counts=counts, epoch=3, provenance=True, copy_seeds=True
    )
    same = sorted((m["key"], m["copy"], m["seed"]) for _, m in streamed)
    assert same == sorted(map(tuple, np.stack([keys, numbers, seeds], 1).tolist()))


def test_copy_seeds_alone_add_one_column_and_follow_the_epoch(shards, counts):
    first = ovs.balance(shards, seed=2, counts=counts, epoch=0, copy_seeds=True)
    assert sorted(first.columns()) == ["id", "label", "seed"]
    later = first.with_epoch(1)
    seeds = [{r["seed"] for r in d.iter_rows()} for d in (first, later)]
    assert not seeds[0] & seeds[1]


def test_a_column_named_like_a_mark_is_refused_before_any_epoch_task(files, ray_local):
    def read(name):
        table = pq.read_table(name)
        return table.append_column("seed", table.column("id"))

    shards = ovs.Shards(files, read=read, engine="ray")
    with pytest.raises(ValueError, match=r"columns \['seed'\].*`copy_seeds=True`"):
        ovs.balance(shards, epoch=0, copy_seeds=True)
    plain = ovs.balance(shards, epoch=0)  # without marks the column is the user's
    assert "seed" in plain.columns()


def test_an_unknown_engine_is_refused(files):
    with pytest.raises(ValueError, match=r"`engine` must be None.*engine='spark'"):
        ovs.Shards(files, read=pq.read_table, engine="spark")


def test_without_ray_the_error_names_the_extra(files, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    shards = ovs.Shards(files, read=pq.read_table, engine="ray")
    with pytest.raises(ImportError, match=r"oversample\[ray\]"):
        ovs.count_labels(shards)


def test_webdataset_tar_shards_read_by_ray_tasks_are_exact(tmp_path, ray_local):
    pytest.importorskip("webdataset")
    from stream_cases import examples, read_tar, write_tars

    urls = write_tars(tmp_path, shards=4)
    shards = ovs.Shards(urls, read=read_tar, engine="ray")
    label = lambda row: int(row["cls"])  # noqa: E731
    counts = ovs.count_labels(shards, label=label)
    rows = examples()
    plan = ovs.plan([r["label"] for r in rows], seed=2)
    out = ovs.balance(shards, label=label, counts=counts, seed=2, epoch=3)
    ids = [int(row["id.cls"]) for row in out.iter_rows()]
    position = {r["id"]: i for i, r in enumerate(rows)}
    got = np.bincount([position[i] for i in ids], minlength=len(rows))
    assert got.tolist() == plan.copies(3).tolist()


@pytest.mark.parametrize(
    "strategy",
    [
        ovs.Progressive(epochs=3),
        ovs.Schedule({0: "sqrt", 3: "median", 6: {c: 60 for c in range(6)}}),
    ],
    ids=["progressive", "three phases"],
)
def test_changing_targets_keep_every_epoch_exact_and_fair(
    labels, shards, counts, strategy
):
    thin = isinstance(strategy, ovs.Schedule)  # NOTE: its middle phase thins
    plan = ovs.plan(labels, strategy, seed=4, thin=thin)
    out = ovs.balance(
        shards, strategy=strategy, seed=4, counts=counts, epoch=0, thin=thin
    )
    used = np.zeros(labels.size, np.int64)
    for epoch in range(9):  # 3x the ramp, into the last phase
        got = np.bincount(ids_of(out.with_epoch(epoch)), minlength=labels.size)
        assert got.tolist() == plan.copies(epoch).tolist(), epoch
        used += got
        for c in range(6):
            assert np.ptp(used[labels == c]) <= 1, (epoch, c)
