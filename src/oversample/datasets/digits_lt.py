"""`digits_lt`: a long-tailed digits dataset for TFDS, built offline.

The images are scikit-learn's bundled 8x8 handwritten digits (1,797 images,
about 180 per class; no download). The test split holds 40 images of every
class; the train split keeps, of the rest, an exponential long tail: class c
keeps round(N_MAX * IMBALANCE ** (-c / 9)) images, 130 of digit 0 down to 6 of
digit 9 (imbalance ratio 20).

Example:
    >>> import tensorflow_datasets as tfds
    >>> import oversample.datasets  # registers digits_lt
    >>> builder = tfds.builder("digits_lt")
    >>> builder.info.features["label"].num_classes
    10
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import tensorflow_datasets as tfds

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


class DigitsLt(tfds.core.GeneratorBasedBuilder):
    """Long-tailed 8x8 digits: train imbalance 20, balanced test."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES: ClassVar[dict[str, str]] = {"1.0.0": "First release."}

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=__doc__,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(8, 8, 1)),
                    "label": tfds.features.ClassLabel(num_classes=10),
                }
            ),
            supervised_keys=("image", "label"),
            homepage="https://scikit-learn.org/stable/datasets/toy_dataset.html",
        )

    def _split_generators(self, dl_manager: Any) -> dict[str, Any]:
        splits = _splits()
        return {name: self._generate_examples(rows) for name, rows in splits.items()}

    def _generate_examples(
        self, rows: list[tuple[np.ndarray, int]]
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        for index, (image, label) in enumerate(rows):
            yield index, {"image": image, "label": label}
