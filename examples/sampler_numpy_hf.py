"""Balanced index arrays for NumPy arrays and Hugging Face datasets.

Requires: datasets. Run: python examples/sampler_numpy_hf.py
"""

from __future__ import annotations

import datasets
import numpy as np

import oversample as ovs


def main() -> None:
    rng = np.random.default_rng(0)
    labels = rng.permutation(np.repeat(["cat", "dog", "axolotl"], [300, 90, 9]))
    features = rng.normal(size=(labels.size, 4))

    plan = ovs.plan(labels, seed=0)
    chosen = ovs.Sampler(plan).indices()
    x, y = features[chosen], labels[chosen]
    print("NumPy:", dict(zip(*np.unique(y, return_counts=True), strict=True)), x.shape)

    table = datasets.Dataset.from_dict(
        {"x": features.tolist(), "label": labels.tolist()}
    )
    balanced = table.select(chosen)
    counts = dict(zip(*np.unique(balanced["label"], return_counts=True), strict=True))
    print("Hugging Face select:", counts)
    assert set(counts.values()) == {300}


if __name__ == "__main__":
    main()
