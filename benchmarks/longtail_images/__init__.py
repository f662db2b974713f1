"""The long-tailed benchmark data as a TFDS dataset with PNG-encoded images,
to measure what decoding costs the counting pass."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import tensorflow_datasets as tfds
from longtail import DATA, labels_for

CLASSES = 100


class LongtailImages(tfds.core.GeneratorBasedBuilder):
    """Long-tailed classes of random 32x32x3 PNG images: `full` (100 classes,
    largest 2,000) and `tiny` (10 classes, largest 40) for smoke tests."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES: ClassVar[dict[str, str]] = {"1.0.0": "Benchmark data."}
    BUILDER_CONFIGS: ClassVar[list[tfds.core.BuilderConfig]] = [
        tfds.core.BuilderConfig(name="full"),
        tfds.core.BuilderConfig(name="tiny"),
    ]

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(32, 32, 3)),
                    "label": tfds.features.ClassLabel(num_classes=CLASSES),
                }
            ),
        )

    def _split_generators(self, dl_manager: Any) -> dict[str, Any]:
        return {"train": self._generate_examples()}

    def _generate_examples(self) -> Iterator[tuple[int, dict[str, Any]]]:
        rng = np.random.default_rng(2)
        tiny = self.builder_config.name == "tiny"
        labels = labels_for(classes=10, largest=40) if tiny else labels_for(CLASSES)
        for index, label in enumerate(labels.tolist()):
            image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            yield index, {"image": image, "label": label}


def prepared(config: str = "full") -> str:
    """Prepares the dataset once under benchmarks/.data; returns the data_dir."""
    data_dir = str(DATA / "tfds")
    builder = tfds.builder(f"longtail_images/{config}", data_dir=data_dir)
    builder.download_and_prepare()
    return data_dir
