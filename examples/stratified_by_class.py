"""Stratified duplication: balance a long-tailed TFDS split by class label.

The counting pass reads only labels: `decoders=` skips image decoding there.
Runs offline on `tfds.testing.mock_data`; with real data drop the `with` line.
Run: python examples/stratified_by_class.py
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

import oversample as ovs


def long_tailed(ds: tf.data.Dataset) -> tf.data.Dataset:
    """Keeps fewer samples of higher labels: class c keeps 1 in 2**c."""
    return (
        ds.enumerate()
        .filter(
            lambda i, e: (
                i % tf.bitwise.left_shift(tf.constant(1, tf.int64), e["label"] // 2)
                == 0
            )
        )
        .map(lambda i, e: e)
    )


def main() -> None:
    with tfds.testing.mock_data(num_examples=4000):
        skip = {"image": tfds.decode.SkipDecoding()}
        labels_only = long_tailed(
            tfds.load("mnist", split="train", shuffle_files=False, decoders=skip)
        )
        counts = ovs.count_labels(labels_only)
        print("before:", counts)

        ds = long_tailed(tfds.load("mnist", split="train", shuffle_files=False))
        balanced = ovs.balance(ds, counts=counts, seed=0)
        print(balanced.plan.summary())

        after = np.zeros(10, np.int64)
        for batch in balanced.batch(256):
            after += np.bincount(batch["label"].numpy(), minlength=10)
        targets = balanced.plan.targets
        assert after.tolist() == [targets[c] for c in range(10)]
        assert int(balanced.cardinality()) == balanced.plan.total
        print("after: ", dict(enumerate(after.tolist())), "- exact, one pass")


if __name__ == "__main__":
    main()
