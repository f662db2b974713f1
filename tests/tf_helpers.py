"""Helpers shared by the TensorFlow tests."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")


def labelled(labels, **extra) -> tf.data.Dataset:
    """A dict dataset with a label, the source position and a small image."""
    labels = np.asarray(labels)
    n = labels.size
    features = {
        "label": labels,
        "position": np.arange(n, dtype=np.int64),
        "image": np.random.default_rng(n).integers(0, 255, (n, 4, 4, 3), np.uint8),
        **extra,
    }
    return tf.data.Dataset.from_tensor_slices(features)


def copies_per_position(ds, size: int) -> np.ndarray:
    positions = [int(e["position"]) for e in ds]
    return np.bincount(np.asarray(positions, dtype=np.int64), minlength=size)


def tail(seed: int = 0) -> np.ndarray:
    sizes = [40, 25, 13, 7, 3, 1]
    labels = np.repeat(np.arange(len(sizes)), sizes)
    return np.random.default_rng(seed).permutation(labels)
