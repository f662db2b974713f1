"""Balanced epochs from a TFDS ArrayRecord data_source with Grain.

Uses the embedded `digits_lt` dataset (prepared offline into a temporary
folder). Requires: grain. Run: python examples/sampler_grain_tfds.py
"""

from __future__ import annotations

import tempfile

import grain
import numpy as np
import tensorflow_datasets as tfds

import oversample as ovs
import oversample.datasets


def main() -> None:
    data_dir = tempfile.mkdtemp()
    tfds.builder(
        "digits_lt", data_dir=data_dir, file_format="array_record"
    ).download_and_prepare()
    source = tfds.data_source("digits_lt", split="train", data_dir=data_dir)

    labels = np.array([source[i]["label"] for i in range(len(source))])
    plan = ovs.plan(labels, strategy="sqrt", seed=0)
    print(plan.summary())

    sampler = ovs.Sampler(plan)
    dataset = (
        grain.MapDataset.source(sampler)  # a Sampler is a random-access sequence
        .map(lambda index: source[index])
        .batch(64, drop_remainder=False)
    )
    got = np.concatenate([batch["label"] for batch in dataset.to_iter_dataset()])
    assert np.bincount(got, minlength=10).tolist() == [
        plan.targets[c] for c in range(10)
    ]
    print(f"{len(got)} samples per epoch, per class {np.bincount(got).tolist()}")


if __name__ == "__main__":
    main()
