"""The plan's members and codes are built a chunk at a time (no sort of every
sample, no int64 copy of the labels): they equal what a stable argsort and a
np.unique encoding give, across chunk boundaries and label dtypes."""

import numpy as np
import pytest

import oversample as ovs
from oversample.core import labels as _labels
from oversample.core import rule as _rule


@pytest.mark.parametrize("chunk", [1, 7, 64, 1 << 18])
@pytest.mark.parametrize("classes", [1, 3, 300])
def test_members_group_the_samples_as_a_stable_sort_does(monkeypatch, chunk, classes):
    monkeypatch.setattr(_rule, "GROUP_CHUNK", chunk)
    rng = np.random.default_rng(classes)
    codes = rng.integers(0, classes, 1000).astype(np.uint16)
    counts = np.bincount(codes, minlength=classes)
    members = _rule.Members.of(codes, counts)
    assert members.order.dtype == np.uint32
    np.testing.assert_array_equal(members.order, np.argsort(codes, kind="stable"))
    occurrence = members.occurrences
    for c in range(classes):
        np.testing.assert_array_equal(occurrence[codes == c], np.arange(int(counts[c])))


@pytest.mark.parametrize("chunk", [1, 5, 1 << 20])
@pytest.mark.parametrize(
    "labels",
    [
        np.array([7, -3, 7, 7, 0, -3, 12], np.int64),
        np.array([2**64 - 1, 2**64 - 5, 2**64 - 1], np.uint64),
        np.array([3, 1, 3, 3, 2], np.int8),
        np.repeat(np.arange(40, dtype=np.int32), np.arange(1, 41))[::-1].copy(),
    ],
)
def test_labels_are_encoded_a_chunk_at_a_time_as_unique_would(
    monkeypatch, chunk, labels
):
    monkeypatch.setattr(_labels, "_CHUNK", chunk)
    found = _labels.encode_labels(labels)
    values, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    assert list(found.classes) == values.tolist()
    np.testing.assert_array_equal(found.codes, inverse.reshape(-1))
    np.testing.assert_array_equal(found.counts, counts)
    assert found.codes.dtype == _labels.code_dtype(values.size)


def test_a_sampler_built_over_chunks_is_the_one_built_whole(monkeypatch):
    labels = np.random.default_rng(3).integers(0, 50, 5000)
    whole = ovs.Sampler(ovs.plan(labels, "sqrt", seed=1)).indices()
    monkeypatch.setattr(_rule, "GROUP_CHUNK", 97)
    monkeypatch.setattr(_labels, "_CHUNK", 101)
    chunked = ovs.Sampler(ovs.plan(labels, "sqrt", seed=1))
    np.testing.assert_array_equal(chunked.indices(), whole)
