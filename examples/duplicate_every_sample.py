"""Duplicate every sample k times in a stream, without holding the dataset in memory.

`list(ds)` followed by Python duplication needs the whole dataset in memory;
`ovs.duplicate` streams it with a bounded shuffle buffer, so memory stays flat
whatever the dataset size. Run: python examples/duplicate_every_sample.py
"""

from __future__ import annotations

import resource

import tensorflow as tf

import oversample as ovs


def images(n: int) -> tf.data.Dataset:
    """n synthetic 64x64x3 images, generated on the fly (~12 KB each)."""
    return tf.data.Dataset.range(n).map(
        lambda i: {
            "image": tf.fill([64, 64, 3], tf.cast(i % 251, tf.uint8)),
            "id": i,
        }
    )


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    for _ in ovs.duplicate(images(1000), copies=2, seed=0).batch(256):
        pass  # warm-up: TensorFlow's own memory, before the measured run
    baseline = peak_mib()
    n, k = 20_000, 3
    tripled = ovs.duplicate(images(n), copies=k, seed=0).batch(256)
    seen = 0
    ids_sum = 0
    for batch in tripled:
        seen += int(batch["id"].shape[0])
        ids_sum += int(tf.reduce_sum(batch["id"]))
    assert seen == n * k
    assert ids_sum == k * n * (n - 1) // 2, "every sample exactly k times"
    data_mib = n * k * 64 * 64 * 3 / 2**20
    grown = peak_mib() - baseline
    print(
        f"{n:,} samples x {k} = {seen:,} elements ({data_mib:,.0f} MiB of images)"
        f" streamed; peak RSS grew {grown:,.0f} MiB over the warmed-up process"
    )


if __name__ == "__main__":
    main()
