"""A TFDS builder whose splits are lists of (image, label) rows, for the
datasets generated offline here."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import numpy as np

Rows = list[tuple[np.ndarray, int]]


class RowsBuilder:
    """Mixed into a `tfds.core.GeneratorBasedBuilder` that sets `make_splits`
    (a function returning {split: rows}), `image_shape` and `num_classes`;
    the module's docstring describes the dataset."""

    make_splits: ClassVar[Callable[[], dict[str, Rows]]]
    image_shape: ClassVar[tuple[int, int, int]]
    num_classes: ClassVar[int]
    dataset_info_from_configs: Callable[..., Any]  # from the TFDS builder

    def _info(self) -> Any:
        import tensorflow_datasets as tfds

        return self.dataset_info_from_configs(
            description=sys.modules[type(self).__module__].__doc__,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=self.image_shape),
                    "label": tfds.features.ClassLabel(num_classes=self.num_classes),
                }
            ),
            supervised_keys=("image", "label"),
            homepage="https://scikit-learn.org/stable/datasets/toy_dataset.html",
        )

    def _split_generators(self, dl_manager: Any) -> dict[str, Any]:
        splits = type(self).make_splits()
        return {name: self._generate_examples(rows) for name, rows in splits.items()}

    def _generate_examples(self, rows: Rows) -> Iterator[tuple[int, dict[str, Any]]]:
        for index, (image, label) in enumerate(rows):
            yield index, {"image": image, "label": label}
