"""`ovs.balance(iterable, stratified=B)`: a Python stream whose spread holds
every class lays each epoch out in batches of B that hold every class's share
to within one, the epoch still the plan's sample by sample, resumable; where
the held samples do not allow it (a class streamed, shards, tf.data, weights)
it is refused before any element is read for the epoch, naming what gives it."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import oversample as ovs

LABELS = np.random.default_rng(0).permutation(
    np.repeat(np.arange(5), [600, 230, 57, 9, 3])
)
EXAMPLES = [{"id": i, "label": int(label)} for i, label in enumerate(LABELS)]


def epoch_of(plan, epoch):
    return sorted(i for i, c in enumerate(plan.copies(epoch)) for _ in range(c))


def check_batches(ids, labels, batch):
    """Every whole batch holds each class's share of `ids` to within one."""
    totals = np.bincount(labels[ids], minlength=5)
    for low in range(0, len(ids) - batch + 1, batch):
        got = np.bincount(labels[ids[low : low + batch]], minlength=5)
        assert np.abs(got - batch * totals / totals.sum()).max() < 1, (low, got)


@pytest.mark.parametrize("strategy", ["sqrt", "not majority", ovs.Progressive(3)])
@pytest.mark.parametrize("batch", [16, 50])
def test_each_batch_holds_every_class_share_and_the_epoch_is_the_plans(strategy, batch):
    plan = ovs.plan(LABELS, strategy, seed=4)
    for epoch in range(4):  # a stream per epoch (and set_epoch on one stream)
        fixed = ovs.balance(
            EXAMPLES, strategy=strategy, seed=4, epoch=epoch, stratified=batch
        )
        assert plan.targets == fixed.plan.targets
        ids = np.array([e["id"] for e in fixed])
        assert sorted(ids.tolist()) == epoch_of(plan, epoch)
        check_batches(ids, LABELS, batch)
        if not isinstance(strategy, ovs.Progressive):  # needs epoch= or epochs=
            stream = ovs.balance(EXAMPLES, strategy=strategy, seed=4, stratified=batch)
            stream.set_epoch(epoch)
            assert [e["id"] for e in stream] == ids.tolist()
        again = ovs.balance(EXAMPLES, strategy=strategy, seed=4, epoch=epoch)
        plain = [e["id"] for e in again]
        assert sorted(plain) == sorted(ids.tolist()) and plain != ids.tolist()


def test_a_reader_with_no_copies_yields_nothing():
    """More readers than copies of a thinned tail: some parts are empty."""
    examples = [{"id": i, "label": int(i >= 1000)} for i in range(1010)]
    kwargs = {"strategy": {0: 10, 1: 10}, "thin": True, "seed": 0, "epoch": 0}
    stream = ovs.balance(examples, stratified=4, **kwargs)
    parts = [[e["id"] for e in stream.split(32, rank)] for rank in range(32)]
    assert sum(not part for part in parts) > 0
    whole = sorted(i for part in parts for i in part)
    assert whole == sorted(e["id"] for e in ovs.balance(examples, **kwargs))


def test_the_rare_classes_are_in_every_batch_not_by_chance():
    """Without stratified batches a class of 9 samples at sqrt targets misses
    many batches of 32; with them every batch holds its share."""

    def missing(stream):
        ids = np.array([e["id"] for e in stream])
        batches = ids[: ids.size // 32 * 32].reshape(-1, 32)
        return sum(3 not in LABELS[b] for b in batches)

    assert missing(ovs.balance(EXAMPLES, strategy="sqrt", seed=1, epoch=0)) > 0
    assert (
        missing(ovs.balance(EXAMPLES, strategy="sqrt", seed=1, epoch=0, stratified=32))
        == 0
    )


@pytest.mark.parametrize("taken", [0, 1, 31, 500])
def test_a_resume_yields_exactly_the_rest(taken):
    def stream():
        return ovs.balance(EXAMPLES, strategy="sqrt", seed=2, epoch=1, stratified=32)

    whole = [e["id"] for e in stream()]
    iterator = iter(stream())
    head = [e["id"] for e in itertools.islice(iterator, taken)]
    state = iterator.state_dict()
    resumed = iter(stream())
    resumed.load_state_dict(state)
    assert head + [e["id"] for e in resumed] == whole


def test_a_state_of_plain_batches_is_refused_and_the_other_way():
    def state(**kwargs):
        iterator = iter(
            ovs.balance(EXAMPLES, strategy="sqrt", seed=2, epoch=1, **kwargs)
        )
        next(iterator)
        return iterator.state_dict()

    for saved, into in (({}, {"stratified": 32}), ({"stratified": 32}, {}),
                        ({"stratified": 32}, {"stratified": 16})):  # fmt: skip
        iterator = iter(ovs.balance(EXAMPLES, strategy="sqrt", seed=2, epoch=1, **into))
        with pytest.raises(ValueError, match="another configuration"):
            iterator.load_state_dict(state(**saved))


def test_readers_each_stratify_their_part_and_their_union_is_the_epoch():
    """Two ranks (or DataLoader workers): each lays out its own part by class,
    whose batches a DataLoader takes whole from one worker."""
    stream = ovs.balance(EXAMPLES, strategy="sqrt", seed=5, epoch=0, stratified=16)
    parts = [[e["id"] for e in stream.split(2, rank)] for rank in range(2)]
    assert sorted(parts[0] + parts[1]) == epoch_of(ovs.plan(LABELS, "sqrt", seed=5), 0)
    for part in parts:
        check_batches(np.array(part), LABELS, 16)


def test_copy_seeds_are_those_of_plain_batches():
    def pairs(**kwargs):
        stream = ovs.balance(
            EXAMPLES, strategy="sqrt", seed=6, epoch=0, copy_seeds=True, **kwargs
        )
        return Counter((e["id"], marks["seed"]) for e, marks in stream)

    stratified = pairs(stratified=32)
    assert stratified == pairs() and len(stratified) == sum(stratified.values())


@pytest.mark.parametrize(
    "source, kwargs, error, words",
    [
        (EXAMPLES, {"stratified": 0}, ValueError, r"must be an int >= 1"),
        (EXAMPLES, {"stratified": 2.0}, TypeError, r"stratified=2\.0 of type float"),
        (EXAMPLES, {"stratified": True}, TypeError, r"stratified=True of type bool"),
        (EXAMPLES, {"stratified": 32, "spread": None}, ValueError,
         r"every class must be held; this stream's spread: nothing held.*BatchSampler"),
        (EXAMPLES, {"stratified": 32, "spread": "2KiB"}, ValueError,
         r"every class must be held; this stream's spread: .*held .*spread='4GiB'"),
        (EXAMPLES, {"stratified": 32, "epochs": 3}, ValueError,
         r"`epochs`=3 streams the epochs back to back.*`epoch=k`"),
        (EXAMPLES, {"stratified": 32, "epochs": None}, ValueError,
         r"`epochs`='endless' streams the epochs back to back"),
        (iter(EXAMPLES), {"stratified": 32, "epoch": 0,
                          "counts": dict(Counter(LABELS.tolist()))},
         ValueError, r"nothing held \(the source can be read only once.*\)\. Or read"),
        ([{"id": 0, "label": 0}] * 3,
         {"stratified": 2, "plan": ovs.plan(weights=[1.0, 2.0, 1.0], seed=0)},
         ValueError, r"per-sample weights, which have no classes\.$"),
        (EXAMPLES, {"stratified": 5000}, ValueError,
         r"`stratified`=5000 is more than the 3000 elements of epoch 0: use"
         r" stratified <= 3000\."),
    ],
)  # fmt: skip
def test_what_the_held_samples_do_not_allow_is_refused(source, kwargs, error, words):
    kwargs = kwargs if "plan" in kwargs else {"seed": 0, **kwargs}
    with pytest.raises(error, match=words):
        ovs.balance(source, **kwargs)


def test_tf_data_and_shards_are_refused_naming_the_batch_sampler(tmp_path):
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices({"label": LABELS[:100]})
    with pytest.raises(ValueError, match=r"on a tf.data.Dataset: .*ovs.BatchSampler"):
        ovs.balance(ds, seed=0, stratified=8)
    files = []
    for place in range(2):
        path = tmp_path / f"part-{place}.txt"
        path.write_text("\n".join(str(int(v)) for v in LABELS[place::2]))
        files.append(str(path))

    def read(path):
        return [{"label": int(v)} for v in Path(path).read_text().split()]

    shards = ovs.Shards(files, read=read)
    with pytest.raises(
        ValueError, match=r"on ovs.Shards read as Python: .*BatchSampler"
    ):
        ovs.balance(shards, seed=0, stratified=8)
