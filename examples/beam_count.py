"""Counting labels per shard with Apache Beam, then balancing from the counts.

The count is the one pass that reads every record; on a big dataset run it on
a cluster (Dataflow, Flink, Spark: pass their PipelineOptions), save the counts
as JSON, and every training job loads them. Here: the DirectRunner with two
worker processes, checked against the tf.data count.

Requires: apache_beam. Run: python examples/beam_count.py
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
import tensorflow as tf
from apache_beam.options.pipeline_options import PipelineOptions

import oversample as ovs
from oversample import beam as ovs_beam


def write(folder: str, labels: np.ndarray, num_files: int) -> list[str]:
    files = []
    for part, chunk in enumerate(np.array_split(labels, num_files)):
        name = os.path.join(folder, f"train-{part:05d}.tfrecord")
        with tf.io.TFRecordWriter(name) as writer:
            for label in chunk:
                value = tf.train.Int64List(value=[int(label)])
                feature = {"label": tf.train.Feature(int64_list=value)}
                example = tf.train.Example(features=tf.train.Features(feature=feature))
                writer.write(example.SerializeToString())
        files.append(name)
    return files


def main() -> None:
    folder = tempfile.mkdtemp()
    labels = np.random.default_rng(0).zipf(1.6, 5_000) % 20
    files = write(folder, labels, num_files=6)

    options = PipelineOptions(
        runner="DirectRunner",
        direct_num_workers=2,
        direct_running_mode="multi_processing",
    )
    counts = ovs_beam.count_shards(
        files, "label", output=os.path.join(folder, "counts"), options=options
    )
    path = os.path.join(folder, "shard_counts.json")
    counts.save(path)  # atomic, with a checksum
    print(f"Beam counted {counts.num_samples} records in {len(files)} shards")

    def read(name: tf.Tensor) -> tf.data.Dataset:
        spec = {"label": tf.io.FixedLenFeature([], tf.int64)}
        records = tf.data.TFRecordDataset(name)
        return records.map(lambda r: tf.io.parse_single_example(r, spec))

    shards = ovs.Shards(files, read)
    assert counts == ovs.count_labels(shards)  # the same count, exactly

    loaded = ovs.ShardCounts.load(path)  # in the training job
    balanced = ovs.balance(shards, counts=loaded, strategy="sqrt", seed=0, epoch=0)
    got = np.bincount([int(e["label"]) for e in balanced], minlength=20)
    assert got.tolist() == [balanced.plan.targets.get(c, 0) for c in range(20)]
    print(balanced.plan.summary())


if __name__ == "__main__":
    main()
