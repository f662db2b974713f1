"""`digits_lt`: a long-tailed digits dataset for TFDS, built offline.

The images are scikit-learn's bundled 8x8 handwritten digits (1,797 images,
about 180 per class; no download). The test split holds 40 images of every
class; the train split keeps, of the rest, an exponential long tail: class c
keeps round(N_MAX * IMBALANCE ** (-c / 9)) images, 130 of digit 0 down to 6 of
digit 9 (imbalance ratio 20).

Example:
    >>> import tensorflow_datasets as tfds

from oversample.datasets._rows import RowsBuilder
    >>> import oversample.datasets  # registers digits_lt
    >>> builder = tfds.builder("digits_lt")
    >>> builder.info.features["label"].num_classes
    10
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import tensorflow_datasets as tfds

from oversample.datasets._rows import RowsBuilder

N_MAX = 130
IMBALANCE = 20.0
TEST_PER_CLASS = 40
_SEED = 20261124


def profile(num_classes: int = 10) -> list[int]:
    """Train images per class: the exponential long-tailed profile."""
    return [
        round(N_MAX * IMBALANCE ** (-c / (num_classes - 1))) for c in range(num_classes)
    ]


def _splits() -> dict[str, list[tuple[np.ndarray, int]]]:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError(
            "digits_lt is built from scikit-learn's bundled digits: pip install"
            " 'oversample[demo]'."
        ) from None
    digits = load_digits()
    images = np.clip(digits.images * 16, 0, 255).astype(np.uint8)[..., None]
    labels = digits.target.astype(np.int64)
    rng = np.random.default_rng(_SEED)
    train: list[tuple[np.ndarray, int]] = []
    test: list[tuple[np.ndarray, int]] = []
    for label, keep in enumerate(profile()):
        mine = rng.permutation(np.flatnonzero(labels == label))
        test.extend((images[i], label) for i in mine[:TEST_PER_CLASS])
        train.extend((images[i], label) for i in mine[TEST_PER_CLASS:][:keep])
    order = rng.permutation(len(train))
    return {"train": [train[i] for i in order], "test": test}


class DigitsLt(RowsBuilder, tfds.core.GeneratorBasedBuilder):
    """Long-tailed 8x8 digits: train imbalance 20, balanced test."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES: ClassVar[dict[str, str]] = {"1.0.0": "First release."}
    make_splits = staticmethod(_splits)
    image_shape = (8, 8, 1)
    num_classes = 10
