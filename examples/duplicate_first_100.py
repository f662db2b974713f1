"""Duplicate the first 100 samples of a TFDS split, graph-safe, no list(ds).

Runs offline on `tfds.testing.mock_data`; with real data drop the `with` line.
Run: python examples/duplicate_first_100.py
"""

from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds

import oversample as ovs


def main() -> None:
    with tfds.testing.mock_data(num_examples=500):
        ds = tfds.load("mnist", split="train", shuffle_files=False)
        doubled = ovs.duplicate(
            ds, copies=2, indices=range(100), seed=0, provenance=True
        )
        print(
            f"{int(ds.cardinality())} samples -> {int(doubled.cardinality())} elements"
        )

        copies = np.zeros(int(ds.cardinality()), np.int64)
        for _, provenance in doubled:
            copies[int(provenance["key"])] += 1
        assert copies[:100].tolist() == [2] * 100
        assert copies[100:].tolist() == [1] * 400
        print("the first 100 samples appear twice, every other sample once")


if __name__ == "__main__":
    main()
