"""Sharded sources: per-shard counts, and copies decided per file that agree
with the NumPy plan of the labels in file order, however the files are split
over workers, interleaved or resumed."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest

import oversample as ovs
from shard_helpers import ids_of, read, tf, write_shards

SIZES = [40, 25, 13, 7, 3, 1]


@pytest.fixture(scope="module")
def labels():
    return np.random.default_rng(5).permutation(np.repeat(np.arange(6), SIZES))


@pytest.fixture(scope="module")
def files(labels, tmp_path_factory):
    return write_shards(tmp_path_factory.mktemp("shards"), labels, num_shards=6)


@pytest.fixture(scope="module")
def counts(files):
    return ovs.count_labels(ovs.Shards(files, read))


def _copies(ds, size):
    return np.bincount(ids_of(ds), minlength=size).tolist()


def test_counts_per_shard_add_up_to_the_labels(labels, files, counts):
    assert counts.files == tuple(files)
    assert counts.counts == dict(enumerate(np.bincount(labels).tolist()))
    for shard, name in enumerate(files):
        here = [int(e["label"]) for e in read(name)]
        assert counts.table[shard].tolist() == np.bincount(here, minlength=6).tolist()
    assert counts.starts.tolist() == [0, *np.cumsum(counts.per_shard)[:-1].tolist()]


def test_counts_round_trip_through_json(counts):
    again = ovs.ShardCounts.from_json(counts.to_json())
    assert again == counts and again.sizes == counts.sizes
    assert again.file_fingerprint == counts.file_fingerprint


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"cycle_length": 1},
        {"cycle_length": 4, "num_parallel_calls": 2, "deterministic": False},
        {"cycle_length": 2, "num_parallel_calls": 1, "deterministic": True},
    ],
    ids=["default", "one-file-at-a-time", "parallel-unordered", "serial"],
)
@pytest.mark.parametrize(
    ("strategy", "rounding"),
    [
        ("not majority", "exact"),
        ("sqrt", "stochastic"),
        (ovs.Progressive(epochs=3), "exact"),
    ],
)
@pytest.mark.parametrize("epoch", [0, 4])
def test_every_sample_gets_the_plans_copies(
    labels, files, counts, options, strategy, rounding, epoch
):
    shards = ovs.Shards(files, read, **options)
    out = ovs.balance(
        shards, strategy=strategy, counts=counts, seed=9, rounding=rounding, epoch=epoch
    )
    plan = ovs.plan(labels, strategy, seed=9, rounding=rounding)
    assert _copies(out, labels.size) == plan.copies(epoch).tolist()


@pytest.mark.parametrize("workers", [2, 3])
def test_file_auto_sharding_splits_the_epoch_exactly(labels, files, counts, workers):
    from tensorflow.python.data.experimental.ops import distribute

    out = ovs.balance(ovs.Shards(files, read), counts=counts, seed=2, epoch=1)
    spread = out.spread
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.FILE
    )
    out = out.with_options(options)
    parts = [
        ids_of(distribute._AutoShardDataset(out, workers, index))
        for index in range(workers)
    ]
    union = np.bincount(np.concatenate(parts), minlength=labels.size)
    assert union.tolist() == ovs.plan(labels, seed=2).copies(1).tolist()
    plan = ovs.plan(counts=counts.counts, seed=2)
    shares = counts.shares(plan, workers, epoch=1, spread=spread)
    assert [len(part) for part in parts] == shares


def test_readers_of_shard_split_the_epoch_exactly(labels, files, counts):
    shards = ovs.Shards(files, read)
    parts = [
        ids_of(ovs.balance(shards.shard(2, i), counts=counts, seed=4, epoch=0))
        for i in range(2)
    ]
    union = np.bincount(np.concatenate(parts), minlength=labels.size)
    assert union.tolist() == ovs.plan(labels, seed=4).copies(0).tolist()
    assert shards.shard(2, 1).selected == (1, 3, 5)


def test_epochs_stream_back_to_back_each_exact(labels, files, counts):
    out = ovs.balance(
        ovs.Shards(files, read), counts=counts, seed=3, epochs=3, provenance=True
    )
    plan = ovs.plan(labels, seed=3)
    marks = [(int(m["key"]), int(e["id"])) for e, m in out]
    assert all(key == sample for key, sample in marks)
    total = np.bincount([k for k, _ in marks], minlength=labels.size)
    expected = sum(plan.copies(epoch) for epoch in range(3))
    assert total.tolist() == expected.tolist()


def test_provenance_marks_each_copy_once(labels, files, counts):
    out = ovs.balance(
        ovs.Shards(files, read), counts=counts, seed=3, epoch=2, provenance=True
    )
    marks = sorted((int(m["key"]), int(m["copy"])) for _, m in out)
    copies = ovs.plan(labels, seed=3).copies(2)
    assert marks == [(i, c) for i in range(labels.size) for c in range(copies[i])]


def test_resumes_exactly_and_refuses_another_seed(tmp_path):
    # NOTE: the check runs where a file's next block is read, so the files hold
    # several blocks each (a block is up to 1,024 elements).
    labels = np.random.default_rng(1).integers(0, 4, 9_000) ** 2
    files = write_shards(tmp_path, labels, num_shards=3)
    counts = ovs.count_labels(ovs.Shards(files, read))

    def build(seed):
        shards = ovs.Shards(files, read, cycle_length=2)
        return ovs.balance(shards, counts=counts, seed=seed, epoch=0)

    iterator = iter(build(1))
    head = [int(next(iterator)["id"]) for _ in range(1_500)]
    path = tf.train.Checkpoint(iterator=iterator).save(str(tmp_path / "ckpt"))
    rest = ids_of(iterator)
    again = iter(build(1))
    tf.train.Checkpoint(iterator=again).restore(path)
    assert ids_of(again) == rest
    assert len(head) + len(rest) == ovs.plan(labels, seed=1).total
    other = iter(build(2))
    tf.train.Checkpoint(iterator=other).restore(path)
    with pytest.raises(tf.errors.InvalidArgumentError, match="another plan"):
        ids_of(other)


def test_tfds_shards_agree_with_the_plan(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    importlib.import_module("oversample.datasets")
    builder = tfds.builder("digits_lt", data_dir=str(tmp_path))
    config = tfds.download.DownloadConfig(num_shards=4)
    builder.download_and_prepare(download_config=config)
    shards = ovs.Shards.from_tfds(builder, "train", cycle_length=3)
    assert len(shards.files) == 4
    counts = ovs.count_labels(shards)
    whole = builder.as_dataset(split="train", shuffle_files=False)
    assert counts.counts == ovs.count_labels(whole)
    in_file_order = [
        int(e["label"]) for name in shards.files for e in shards.read(name)
    ]
    plan = ovs.plan(in_file_order, seed=0)
    out = ovs.balance(shards, counts=counts, seed=0, epoch=1, provenance=True)
    keys = [int(m["key"]) for _, m in out]
    assert np.bincount(keys, minlength=plan.num_samples).tolist() == (
        plan.copies(1).tolist()
    )
    # With TFDS's own ids, checked record by record: the same as as_dataset's.
    with_ids = ovs.Shards.from_tfds(builder, "train", add_tfds_id=True)
    out = ovs.balance(with_ids, counts=counts, seed=0, epoch=1, provenance=True)
    ids = {int(m["key"]): e["tfds_id"].numpy() for e, m in out}
    read_config = tfds.ReadConfig(add_tfds_id=True)
    theirs = builder.as_dataset(split="train", read_config=read_config)
    assert set(ids.values()) == {e["tfds_id"].numpy() for e in theirs}
    assert len(ids) == plan.num_samples


def _with_ids(make_id):
    """`read` plus a "tfds_id" made by make_id(file name, record index)."""

    def reader(name):
        base = tf.strings.regex_replace(name, ".*/", "")
        return (
            read(name).enumerate().map(lambda i, e: {**e, "tfds_id": make_id(base, i)})
        )

    return reader


@pytest.mark.parametrize(
    ("make_id", "match"),
    [
        (lambda base, i: tf.strings.join([base, "-", tf.strings.as_string(i)]),
         "does not parse as <file>__<record>"),
        (lambda base, i: tf.strings.join(["other__", tf.strings.as_string(i)]),
         "holds records of another file"),
        (lambda base, i: tf.strings.join([base, "__", tf.strings.as_string(i + 1)]),
         "yields records out of order"),
    ],
    ids=["unparsable", "other-file", "out-of-order"],
)  # fmt: skip
def test_tfds_ids_are_checked_naming_the_shard(files, counts, make_id, match):
    shards = ovs.Shards(files, _with_ids(make_id), key="tfds_id")
    out = ovs.balance(shards, counts=counts, epoch=0)
    with pytest.raises(tf.errors.InvalidArgumentError, match=rf"part-\d+.*{match}"):
        ids_of(out)


def test_right_tfds_ids_pass_and_a_missing_or_wrong_key_is_refused(
    labels, files, counts
):
    good = _with_ids(
        lambda base, i: tf.strings.join([base, "__", tf.strings.as_string(i)])
    )
    shards = ovs.Shards(files, good, key="tfds_id")
    out = ovs.balance(shards, counts=counts, seed=6, epoch=2)
    assert _copies(out, labels.size) == ovs.plan(labels, seed=6).copies(2).tolist()
    with pytest.raises(ValueError, match="'tfds_id' is not a key"):
        ovs.balance(ovs.Shards(files, read, key="tfds_id"), counts=counts, epoch=0)
    with pytest.raises(TypeError, match="must hold one tfds_id string"):
        ovs.balance(ovs.Shards(files, read, key="id"), counts=counts, epoch=0)


# Bad input: before data flows, or at the first offending element, naming the shard.


def test_other_files_are_refused_naming_the_shard(files, counts, tmp_path):
    swapped = [files[1], files[0], *files[2:]]
    with pytest.raises(ValueError, match=r"shard 0 is .*part-00001"):
        ovs.balance(ovs.Shards(swapped, read), counts=counts, epoch=0)
    with pytest.raises(ValueError, match=r"shard 5, .*part-00005.* was not counted"):
        ovs.balance(ovs.Shards(files[:5], read), counts=counts, epoch=0)
    extra = write_shards(tmp_path, [1, 2, 3], num_shards=2)
    with pytest.raises(ValueError, match=r"more: shard 6, .*was not counted"):
        ovs.balance(ovs.Shards([*files, extra[0]], read), counts=counts, epoch=0)


def test_a_changed_file_is_refused_by_its_size(labels, tmp_path):
    files = write_shards(tmp_path, labels, num_shards=3)
    counts = ovs.count_labels(ovs.Shards(files, read))
    write_shards(tmp_path, labels[:-1], num_shards=3)
    with pytest.raises(
        ValueError, match=r"shard 0 \(.*part-00000.*\) holds \d+ bytes but held"
    ):
        ovs.balance(ovs.Shards(files, read), counts=counts, epoch=0)


def _relabelled(labels, tmp_path):
    """Shards counted, then rewritten with one label changed (same bytes)."""
    files = write_shards(tmp_path, labels, num_shards=3)
    counts = ovs.count_labels(ovs.Shards(files, read))
    changed = labels.copy()
    first_zero = int(np.flatnonzero(changed == 0)[0])
    changed[first_zero] = 5  # the same bytes on disk: only the labels differ
    write_shards(tmp_path, changed, num_shards=3)
    return files, counts


def test_more_samples_of_a_class_than_counted_stops_naming_the_shard(labels, tmp_path):
    files, counts = _relabelled(labels, tmp_path)
    out = ovs.balance(ovs.Shards(files, read), counts=counts, epoch=0, spread=None)
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=r"part-0000.*more samples"
    ):
        ids_of(out)


def test_counts_the_held_pass_contradicts_are_refused_naming_the_shard(
    labels, tmp_path
):
    files, counts = _relabelled(labels, tmp_path)
    with pytest.raises(ValueError, match=r"shard 0 \(.*part-0000.*\) holds .* class"):
        ovs.balance(ovs.Shards(files, read), counts=counts, epoch=0)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({}, ValueError, "every worker must decide the same epoch"),
        ({"epochs": None}, ValueError, "every worker must decide the same epoch"),
        ({"epoch": 0, "counts": {0: 1}}, TypeError, r"counts=\{0: 1\}"),
        ({"epoch": 0, "key": "id"}, ValueError, "`key=` does not apply"),
        ({"epoch": 0, "label": "labels"}, ValueError, "'labels' is not a key"),
    ],
)
def test_bad_arguments_are_refused(files, counts, kwargs, error, match):
    kwargs = {"counts": counts, **kwargs}
    with pytest.raises(error, match=match):
        ovs.balance(ovs.Shards(files, read), **kwargs)


def test_a_plan_needs_its_shard_counts(labels, files, counts):
    plan = ovs.plan(labels, seed=0)
    with pytest.raises(ValueError, match="`plan=` needs `counts=`"):
        ovs.balance(ovs.Shards(files, read), plan=plan, epoch=0)
    other = ovs.plan(counts={0: 5, 1: 2}, seed=0)
    with pytest.raises(ValueError, match="not made from these shard counts"):
        ovs.balance(ovs.Shards(files, read), plan=other, counts=counts, epoch=0)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        (("a.tfrecord", read), {}, TypeError, "`files` must be a list"),
        (([], read), {}, ValueError, "`files` is empty"),
        ((["a", "b", "a"], read), {}, ValueError, "names 'a' twice"),
        ((["a"], "read"), {}, TypeError, "`read` must be a callable"),
        ((["a"], read), {"cycle_length": 0}, ValueError, "cycle_length"),
        ((["a"], read), {"deterministic": 1}, TypeError, "deterministic=1"),
    ],
)
def test_shards_refuse_bad_arguments(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        ovs.Shards(*args, **kwargs)


def test_shard_selection_is_checked(files):
    shards = ovs.Shards(files, read)
    with pytest.raises(ValueError, match="index=2, num_shards=2"):
        shards.shard(2, 2)
    with pytest.raises(ValueError, match="reader 7 of 8 gets no file"):
        shards.shard(8, 7)
    with pytest.raises(ValueError, match="count the whole file list"):
        ovs.count_labels(shards.shard(2, 0))


def test_read_must_return_a_dataset_or_an_iterable(files):
    with pytest.raises(TypeError, match=r"must return a tf\.data\.Dataset or an"):
        ovs.count_labels(ovs.Shards(files, lambda name: 5))


def test_counts_from_json_refuse_other_text():
    with pytest.raises(ValueError, match="not JSON"):
        ovs.ShardCounts.from_json("{")
    with pytest.raises(ValueError, match="not oversample shard counts"):
        ovs.ShardCounts.from_json('{"format": "x"}')


def test_file_names_may_be_paths(files, counts):
    paths = [Path(f) for f in files]
    assert ovs.Shards(paths, read).files == tuple(files)
    unsized = ovs.ShardCounts(counts.files, counts.classes, counts.table)
    assert unsized.file_fingerprint != counts.file_fingerprint


def test_duplicate_names_what_it_takes(files):
    with pytest.raises(TypeError, match=r"got ovs\.Shards"):
        ovs.duplicate(ovs.Shards(files, read), copies=2)
