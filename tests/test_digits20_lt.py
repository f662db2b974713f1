"""digits20_lt: the larger long-tailed dataset, built offline."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")
tfds = pytest.importorskip("tensorflow_datasets")
# importing the module registers every embedded dataset with TFDS
digits20_lt = pytest.importorskip("oversample.datasets.digits20_lt")


def test_the_profile_is_long_tailed_and_large_enough():
    counts = np.array(sorted(digits20_lt.profile().values()))
    assert len(counts) == 20
    assert counts.sum() >= 10_000
    assert counts.max() / counts.min() >= 50
    assert set(digits20_lt.profile()) == set(range(20))


def test_the_splits_follow_the_profile_and_the_test_split_is_balanced():
    splits = digits20_lt._splits()
    train = np.bincount([label for _, label in splits["train"]], minlength=20)
    test = np.bincount([label for _, label in splits["test"]], minlength=20)
    assert train.tolist() == [digits20_lt.profile()[c] for c in range(20)]
    assert test.tolist() == [100] * 20
    image = splits["train"][0][0]
    assert image.shape == (20, 20, 1) and image.dtype == np.uint8
    again = digits20_lt._splits()
    assert all(
        np.array_equal(a[0], b[0])
        for a, b in zip(splits["test"], again["test"], strict=True)
    )


def test_the_builder_prepares_offline(tmp_path):
    builder = tfds.builder("digits20_lt", data_dir=str(tmp_path))
    builder.download_and_prepare()
    assert builder.info.splits["train"].num_examples == sum(
        digits20_lt.profile().values()
    )
    assert builder.info.splits["test"].num_examples == 2000
