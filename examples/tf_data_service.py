"""Exact balancing through the tf.data service: a dispatcher, two workers and
two consumers, all on localhost in this process.

Writes a long-tailed dataset as 8 TFRecord shards, counts each shard once, and
distributes one balanced epoch with DYNAMIC sharding (`distributed_epoch`):
the dispatcher hands whole files to the workers, each worker decides the copies
of its files alone, and the union over both consumers is exactly the plan's
epoch, sample by sample.

Run: python examples/tf_data_service.py
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
import tensorflow as tf

import oversample as ovs

service = tf.data.experimental.service
FEATURES = {
    "label": tf.io.FixedLenFeature([], tf.int64),
    "id": tf.io.FixedLenFeature([], tf.int64),
}


def write(folder: str, labels: np.ndarray, num_files: int) -> list[str]:
    files = []
    for part, ids in enumerate(np.array_split(np.arange(labels.size), num_files)):
        name = os.path.join(folder, f"train-{part:05d}-of-{num_files:05d}.tfrecord")
        with tf.io.TFRecordWriter(name) as writer:
            for i in ids:
                feature = {
                    "label": _int(int(labels[i])),
                    "id": _int(int(i)),
                }
                example = tf.train.Example(features=tf.train.Features(feature=feature))
                writer.write(example.SerializeToString())
        files.append(name)
    return files


def _int(value: int) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))


def read(name: tf.Tensor) -> tf.data.Dataset:
    records = tf.data.TFRecordDataset(name)
    return records.map(lambda r: tf.io.parse_single_example(r, FEATURES))


def main() -> None:
    sizes = [1200, 600, 300, 120, 40, 12]
    labels = np.random.default_rng(0).permutation(np.repeat(np.arange(6), sizes))
    files = write(tempfile.mkdtemp(), labels, num_files=8)

    shards = ovs.Shards(files, read)
    counts = ovs.count_labels(shards)  # per shard; save with counts.save(path)
    balanced = ovs.balance(shards, counts=counts, seed=0, epoch=0)

    dispatcher = service.DispatchServer(service.DispatcherConfig(port=0))
    address = dispatcher.target.split("://")[1]
    workers = [
        service.WorkerServer(service.WorkerConfig(dispatcher_address=address))
        for _ in range(2)
    ]
    try:
        consumers = [
            iter(
                balanced.apply(
                    service.distribute(
                        processing_mode="distributed_epoch",
                        service=dispatcher.target,
                        job_name="balanced",  # both consumers share one job
                    )
                )
            )
            for _ in range(2)
        ]
        received: list[list[int]] = [[], []]
        live = {0, 1}
        for _ in range(100_000):  # bounded: the epoch has 7,200 elements
            if not live:
                break
            for index in sorted(live):
                element = next(consumers[index], None)
                if element is None:
                    live.discard(index)
                else:
                    received[index].append(int(element["id"]))
    finally:
        for worker in workers:
            worker._stop()
        dispatcher._stop()

    plan = ovs.plan(labels, seed=0)  # the same plan, knowing every sample
    union = np.bincount(np.concatenate(received), minlength=labels.size)
    assert union.tolist() == plan.copies(0).tolist()
    print(f"consumers received {[len(r) for r in received]} elements;")
    print(
        f"their union is the plan's epoch: {plan.total} elements, per class"
        f" {np.bincount(labels, weights=union).astype(int).tolist()}"
    )


if __name__ == "__main__":
    main()
