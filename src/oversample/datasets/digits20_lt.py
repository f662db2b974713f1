"""`digits20_lt`: a larger long-tailed image dataset for TFDS, built offline.

No registry package ships a real image dataset of this size inside it (the
MNIST-like packages download at run time), so this one is generated from
scikit-learn's bundled 8x8 handwritten digits (1,797 real images, no
download): 20 classes, each a digit upright (classes 0-9) or turned a quarter
turn (classes 10-19). Every image is a base digit scaled to 16x16, placed at a
random offset on a 20x20 canvas, with random contrast, Gaussian noise and a
random erased square; the base images of the train and test splits are
disjoint. Train keeps an exponential long tail over a seeded order of the
classes, 2,000 images of the largest class down to 40 of the smallest
(imbalance 50, 10,572 images); test holds 100 images of every class.

Example:
    >>> import tensorflow_datasets as tfds
    >>> import oversample.datasets  # registers digits20_lt
    >>> tfds.builder("digits20_lt").info.features["label"].num_classes
    20
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import tensorflow_datasets as tfds

from oversample.datasets._rows import RowsBuilder

NUM_CLASSES = 20
N_MAX = 2000
IMBALANCE = 50.0
TEST_PER_CLASS = 100
SIZE = 20
_SEED = 20261125


def profile(imbalance: float = IMBALANCE) -> dict[int, int]:
    """Train images per class: an exponential long tail over a seeded order."""
    order = np.random.default_rng(_SEED).permutation(NUM_CLASSES)
    return {
        int(label): round(N_MAX * imbalance ** (-rank / (NUM_CLASSES - 1)))
        for rank, label in enumerate(order)
    }


def _render(base: np.ndarray, quarter: bool, rng: np.random.Generator) -> np.ndarray:
    """One 20x20 uint8 image of an 8x8 base digit (0..16)."""
    digit = np.kron(base, np.ones((2, 2))) / 16.0
    if quarter:
        digit = np.rot90(digit)
    canvas = np.zeros((SIZE, SIZE))
    top, left = rng.integers(0, SIZE - 16 + 1, 2)
    canvas[top : top + 16, left : left + 16] = digit * rng.uniform(0.5, 1.0)
    canvas += rng.normal(0.0, 0.25, canvas.shape)
    row, column = rng.integers(0, SIZE - 6, 2)
    canvas[row : row + 6, column : column + 6] = rng.uniform(0.0, 0.5)
    return (np.clip(canvas, 0.0, 1.0) * 255).astype(np.uint8)[..., None]


def _splits() -> dict[str, list[tuple[np.ndarray, int]]]:
    return splits(profile())


def splits(train: dict[int, int]) -> dict[str, list[tuple[np.ndarray, int]]]:
    """The rows of both splits for `train` images per class (a longer or
    shorter tail than the builder's); test holds 100 images of every class, of
    base images disjoint from train's."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError(
            "digits20_lt is built from scikit-learn's bundled digits: pip install"
            " 'oversample[demo]'."
        ) from None
    digits = load_digits()
    rng = np.random.default_rng(_SEED)
    pools: dict[str, dict[int, np.ndarray]] = {"train": {}, "test": {}}
    for digit in range(10):
        mine = rng.permutation(np.flatnonzero(digits.target == digit))
        cut = int(len(mine) * 0.7)
        pools["train"][digit], pools["test"][digit] = mine[:cut], mine[cut:]
    wanted = {"train": train, "test": dict.fromkeys(range(20), TEST_PER_CLASS)}
    splits: dict[str, list[tuple[np.ndarray, int]]] = {}
    for split, counts in wanted.items():
        rows: list[tuple[np.ndarray, int]] = []
        for label, count in counts.items():
            bases = rng.choice(pools[split][label % 10], size=count)
            rows.extend(
                (_render(digits.images[b], label >= 10, rng), label) for b in bases
            )
        splits[split] = [rows[i] for i in rng.permutation(len(rows))]
    return splits


class Digits20Lt(RowsBuilder, tfds.core.GeneratorBasedBuilder):
    """Long-tailed 20x20 digits in 20 classes: train imbalance 50, balanced test."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES: ClassVar[dict[str, str]] = {"1.0.0": "First release."}
    make_splits = staticmethod(_splits)
    image_shape = (SIZE, SIZE, 1)
    num_classes = NUM_CLASSES
