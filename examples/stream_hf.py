"""A Hugging Face IterableDataset with several shards, balanced exactly for
DataLoader workers on two (simulated) ranks.

Requires: torch, datasets. Run: python examples/stream_hf.py
"""

from __future__ import annotations

import datasets
import numpy as np
import torch

import oversample as ovs


def main() -> None:
    rng = np.random.default_rng(2)
    labels = rng.permutation(np.repeat(np.arange(3), [900, 90, 9]))
    table = datasets.Dataset.from_dict({"label": labels, "id": np.arange(labels.size)})
    streaming = table.to_iterable_dataset(
        num_shards=8
    )  # as load_dataset(..., streaming=True)

    shards = ovs.Shards.from_hf(streaming)
    counts = ovs.count_labels(shards)
    balanced = ovs.balance(shards, counts=counts, strategy="sqrt", seed=0, epoch=0)
    parts = []
    for rank in range(2):
        mine = balanced.split(2, rank)
        loader = torch.utils.data.DataLoader(mine, batch_size=32, num_workers=2)
        parts.append(torch.cat([batch["id"] for batch in loader]).numpy())
    ids = np.concatenate(parts)
    expected = ovs.plan(labels, "sqrt", seed=0).copies(0)
    assert np.bincount(ids, minlength=labels.size).tolist() == expected.tolist()
    print(f"per class {np.bincount(labels[ids]).tolist()} (sqrt of the imbalance)")
    print(f"ranks got {[len(p) for p in parts]}: uneven shares, nothing padded")


if __name__ == "__main__":
    main()
