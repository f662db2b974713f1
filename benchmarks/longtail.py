"""The long-tailed dataset the streaming benchmarks share, written as TFRecords.

100 classes, largest 2,000, imbalance 100 (exponential profile, about 43,500
samples), 32x32x3 uint8 images, in 8 shards; every example carries its id.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

DATA = Path(__file__).parent / ".data"


def profile(
    classes: int = 100, largest: int = 2000, imbalance: float = 100.0
) -> np.ndarray:
    steps = np.arange(classes) / max(classes - 1, 1)
    return np.maximum(1, np.round(largest * imbalance ** (-steps))).astype(np.int64)


def labels_for(classes: int = 100, largest: int = 2000, seed: int = 0) -> np.ndarray:
    sizes = profile(classes, largest)
    return np.random.default_rng(seed).permutation(np.repeat(np.arange(classes), sizes))


def write(classes: int = 100, largest: int = 2000, shards: int = 8) -> list[str]:
    """Writes the shards once (cached under benchmarks/.data); returns their paths."""
    import tensorflow as tf

    folder = DATA / f"longtail-{classes}-{largest}-{shards}"
    paths = [
        str(folder / f"train.tfrecord-{i:05d}-of-{shards:05d}") for i in range(shards)
    ]
    if all(Path(p).exists() for p in paths):
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    labels = labels_for(classes, largest)
    rng = np.random.default_rng(1)
    bounds = np.linspace(0, labels.size, shards + 1).astype(int)
    for shard, path in enumerate(paths):
        with tf.io.TFRecordWriter(path + ".tmp") as writer:
            for i in range(bounds[shard], bounds[shard + 1]):
                image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                feature = {
                    "image": _bytes(image.tobytes()),
                    "label": _int(int(labels[i])),
                    "id": _int(i),
                }
                example = tf.train.Example(features=tf.train.Features(feature=feature))
                writer.write(example.SerializeToString())
        Path(path + ".tmp").rename(path)
    return paths


def _bytes(value: bytes):
    import tensorflow as tf

    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _int(value: int):
    import tensorflow as tf

    return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))


def dataset(paths: list[str]):
    """Reads the shards in a fixed order and decodes every example."""
    import tensorflow as tf

    spec = {
        "image": tf.io.FixedLenFeature([], tf.string),
        "label": tf.io.FixedLenFeature([], tf.int64),
        "id": tf.io.FixedLenFeature([], tf.int64),
    }

    def parse(record):
        example = tf.io.parse_single_example(record, spec)
        image = tf.reshape(tf.io.decode_raw(example["image"], tf.uint8), [32, 32, 3])
        return {"image": image, "label": example["label"], "id": example["id"]}

    return tf.data.TFRecordDataset(paths).map(
        parse, num_parallel_calls=tf.data.AUTOTUNE
    )
