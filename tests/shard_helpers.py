"""Sharded sources for the tests: labels written to TFRecord files."""

from __future__ import annotations

import os

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

FEATURES = {
    "label": tf.io.FixedLenFeature([], tf.int64),
    "id": tf.io.FixedLenFeature([], tf.int64),
}


def split_points(size: int, num_shards: int, seed: int = 0) -> np.ndarray:
    """Uneven cut points: shard sizes differ, one shard may be small."""
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.choice(np.arange(1, size), num_shards - 1, replace=False))
    return np.concatenate([[0], cuts, [size]])


def write_shards(directory, labels, num_shards: int = 5, seed: int = 0) -> list[str]:
    """Writes `labels` in order over `num_shards` files; element i has id i."""
    labels = np.asarray(labels)
    points = split_points(labels.size, num_shards, seed)
    files = []
    for shard in range(num_shards):
        name = os.path.join(str(directory), f"part-{shard:05d}.tfrecord")
        with tf.io.TFRecordWriter(name) as writer:
            for i in range(points[shard], points[shard + 1]):
                feature = {
                    "label": _int(int(labels[i])),
                    "id": _int(i),
                }
                example = tf.train.Example(features=tf.train.Features(feature=feature))
                writer.write(example.SerializeToString())
        files.append(name)
    return files


def _int(value: int) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))


def read(name):
    """One shard's elements: {"label", "id"}."""
    return tf.data.TFRecordDataset(name).map(
        lambda record: tf.io.parse_single_example(record, FEATURES)
    )


def ids_of(ds) -> list[int]:
    return [int(e["id"]) for e in ds]


def service_data(folder) -> tuple[np.ndarray, object, object]:
    """The tf.data service tests' data: 1,290 long-tailed labels over 8
    shards; (labels, ovs.Shards, its ShardCounts)."""
    import oversample as ovs

    sizes = [400, 250, 130, 70, 30, 10]
    labels = np.random.default_rng(2).permutation(np.repeat(np.arange(6), sizes))
    shards = ovs.Shards(write_shards(folder, labels, num_shards=8), read)
    return labels, shards, ovs.count_labels(shards)
