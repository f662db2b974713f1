"""The spread: which classes are held within the budget, the collector that
gathers them, and the copies of held samples placed over the whole epoch."""

from __future__ import annotations

import numpy as np
import pytest

import oversample as ovs
from oversample.core import spread


@pytest.mark.parametrize(
    ("value", "budget"),
    [
        ("auto", spread.DEFAULT_BUDGET),
        (None, 0),
        (0, 0),
        (4096, 4096),
        ("64MiB", 64 << 20),
        ("1.5 GiB", int(1.5 * 2**30)),
        ("500MB", 500 * 10**6),
        ("12kb", 12_000),
    ],
)
def test_a_budget_is_read_as_bytes(value, budget):
    assert spread.check_spread(value) == budget


@pytest.mark.parametrize(
    ("value", "error", "shown"),
    [
        (-1, ValueError, "spread=-1"),
        (True, ValueError, "spread=True"),
        (1.5, ValueError, "spread=1.5"),
        ("lots", ValueError, "spread='lots'"),
        ("12 parsecs", ValueError, "spread='12 parsecs'"),
        ([1], TypeError, "spread=[1]"),
    ],
)
def test_a_bad_budget_is_refused_naming_it(value, error, shown):
    with pytest.raises(error, match=r"`spread` must be") as caught:
        spread.check_spread(value)
    assert shown in str(caught.value)


def test_classes_with_the_most_copies_per_sample_are_held_first():
    factors = np.array([1.0, 8.0, 4.0, 2.0, 1.5])
    sizes = np.array([100, 10, 20, 40, 60])
    held = spread.choose_classes(factors, sizes, budget=70)
    # 8x (10) and 4x (20) fit, 2x (40) fits, 1.5x (60) does not: 70 in all.
    assert held.tolist() == [False, True, True, True, False]


def test_a_class_that_does_not_fit_is_skipped_not_cut():
    held = spread.choose_classes(np.array([9.0, 3.0]), np.array([50, 5]), budget=20)
    assert held.tolist() == [False, True]


def test_every_class_is_held_when_all_fit():
    held = spread.choose_classes(np.array([1.0, 3.0]), np.array([50, 5]), budget=55)
    assert held.tolist() == [True, True]


def _leaves(rows: int, first: int = 0) -> list[np.ndarray]:
    positions = np.arange(first, first + rows, dtype=np.int64)
    return [positions, np.full((rows, 4), 7, np.uint8)]


SPEC = [((), np.dtype(np.int64)), ((4,), np.dtype(np.uint8))]  # 12 bytes a row


def test_the_collector_drops_the_class_counted_most_when_over_budget():
    collector = spread.RowCollector(SPEC, budget=12 * 10)
    collector.add(np.array([5, 5, 5, 5, 5, 5, 1, 1, 2, 2]), _leaves(10))
    collector.add(np.array([5, 5, 3]), _leaves(3, first=10))
    labels, leaves = collector.rows()
    assert sorted(set(labels.tolist())) == [1, 2, 3]
    assert collector.held_bytes == 5 * 12 <= collector.budget
    assert leaves[0].tolist() == [6, 7, 8, 9, 12]  # order of arrival kept
    assert collector.label_counts() == {5: 8, 1: 2, 2: 2, 3: 1}


def test_a_dropped_class_is_not_collected_again():
    collector = spread.RowCollector(SPEC, budget=12 * 3)
    collector.add(np.array([4, 4, 4, 4]), _leaves(4))
    collector.add(np.array([4, 9]), _leaves(2, first=4))
    labels, _ = collector.rows()
    assert labels.tolist() == [9]


def test_with_priorities_only_wanted_classes_are_collected():
    collector = spread.RowCollector(
        SPEC, budget=1000, priority=np.array([0.0, 3.0, 2.0])
    )
    collector.add(np.array([0, 1, 2, 0, 1]), _leaves(5))
    labels, leaves = collector.rows()
    assert labels.tolist() == [1, 2, 1]
    assert leaves[0].tolist() == [1, 2, 4]


def test_string_leaves_count_their_bytes():
    spec = [((), np.dtype(np.int64)), ((), np.dtype(object))]
    collector = spread.RowCollector(spec, budget=1000)
    words = np.array([b"a" * 100, b"b" * 300], dtype=object)
    collector.add(np.array([0, 1]), [np.arange(2), words])
    assert collector.held_bytes == 2 * 8 + 400
    collector.drop(1)
    assert collector.rows()[1][1].tolist() == [b"a" * 100]


def test_the_numeric_buffers_start_on_64_byte_boundaries():
    collector = spread.RowCollector(SPEC, budget=4096)
    assert all(b.ctypes.data % 64 == 0 for b in collector.buffers)


def test_the_report_says_what_is_held():
    report = spread.Spread(1 << 20, (3, 4), 10, 3200, 50, 100)
    assert str(report) == (
        "spread: 10 samples of 2 classes held (3.1 KiB of 1.0 MiB); 50% of the"
        " epoch's elements placed over the whole epoch, the rest mixed in the"
        " shuffle buffer"
    )
    assert "nothing held (spread=None)" in str(spread.nothing(0, "spread=None"))


# The stream.


def _long_tail():
    tf = pytest.importorskip("tensorflow")
    sizes = np.array([400, 100, 20, 4])
    labels = np.random.default_rng(0).permutation(np.repeat(np.arange(4), sizes))
    # NOTE: 8 KiB elements make blocks of 32 source elements, so that the
    # copies laid out without the spread stay near their sample.
    image = np.zeros((labels.size, 8192), np.uint8)
    features = {"label": labels, "id": np.arange(labels.size), "image": image}
    return tf.data.Dataset.from_tensor_slices(features), labels


def _spans(out, labels) -> np.ndarray:
    """For each sample of the smallest class: (last - first position) of its
    copies, as a share of the epoch."""
    ids = np.array([int(e["id"]) for e in out])
    tail = np.flatnonzero(labels == 3)
    spans = [np.ptp(np.flatnonzero(ids == i)) / ids.size for i in tail]
    return np.array(spans)


def test_held_copies_spread_over_the_epoch_and_buffered_ones_do_not():
    ds, labels = _long_tail()
    spread_out = ovs.balance(ds, seed=1, epoch=0, shuffle_buffer=64)
    buffered = ovs.balance(ds, seed=1, epoch=0, shuffle_buffer=64, spread=None)
    assert _spans(spread_out, labels).min() > 0.8
    assert _spans(buffered, labels).max() < 0.5


def test_the_held_bytes_stay_within_the_budget_and_are_reported():
    ds, _ = _long_tail()
    row = 8 + 8 + 8 + 8192  # position, label, id and image while collected
    out = ovs.balance(ds, seed=1, epoch=0, spread=25 * row)
    report = out.spread
    assert report.held_classes == (2, 3)
    assert report.held_samples == 24
    assert report.held_bytes <= report.budget
    assert report.held_copies == 800  # two classes of 400 copies each
    assert report.total == 1600


def test_nothing_is_held_where_elements_have_no_static_shape():
    tf = pytest.importorskip("tensorflow")
    ragged = tf.ragged.constant([[1] * (i % 3) for i in range(6)])
    ds = tf.data.Dataset.from_tensor_slices({"label": [0, 0, 0, 0, 1, 1], "r": ragged})
    out = ovs.balance(ds, seed=0)
    assert "no static dense shape" in str(out.spread)
    assert sorted(int(e["label"]) for e in out) == [0] * 4 + [1] * 4


def test_a_bad_budget_is_refused_before_data_flows():
    ds, _ = _long_tail()
    with pytest.raises(ValueError, match=r"`spread` must be .*got spread=-3"):
        ovs.balance(ds, seed=0, spread=-3)


def test_per_class_copies_are_spread_through_a_plan_of_the_same_copies():
    ds, labels = _long_tail()
    out = ovs.duplicate(ds, copies={3: 50}, label="label", seed=0, epoch=0)
    ids = np.array([int(e["id"]) for e in out])
    expected = np.where(labels == 3, 50, 1)
    assert np.bincount(ids, minlength=labels.size).tolist() == expected.tolist()
    assert out.spread.held_classes == (3,) or out.spread.held_share == 1
