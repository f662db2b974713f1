"""Class-balanced epochs for a PyTorch DataLoader, exact and resumable.

Requires: torch. Run: python examples/sampler_pytorch.py
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

import oversample as ovs


def main() -> None:
    rng = np.random.default_rng(0)
    labels = rng.permutation(np.repeat(np.arange(5), [400, 120, 40, 12, 4]))
    images = rng.normal(size=(labels.size, 3, 8, 8)).astype(np.float32)
    data = TensorDataset(torch.from_numpy(images), torch.from_numpy(labels))

    plan = ovs.plan(labels, strategy="not majority", seed=0)
    sampler = ovs.Sampler(plan)
    loader = DataLoader(data, batch_size=64, sampler=sampler, num_workers=2)

    for epoch in range(2):
        sampler.set_epoch(epoch)
        seen = torch.cat([y for _, y in loader]).numpy()
        print(f"epoch {epoch}: {len(seen)} samples, per class {np.bincount(seen)}")
        assert np.bincount(seen).tolist() == [400] * 5

    # A batch of indices per call: the DataLoader asks once per batch.
    batches = ovs.BatchSampler(sampler, batch_size=64)
    loader = DataLoader(data, batch_sampler=batches, num_workers=2)
    seen = torch.cat([y for _, y in loader]).numpy()
    assert np.bincount(seen).tolist() == [400] * 5
    print(f"{len(batches)} batches of up to 64 indices, per class {np.bincount(seen)}")

    # Resume mid-epoch: the state is a small JSON-able dict.
    iterator = iter(sampler)
    head = [next(iterator) for _ in range(500)]
    state = sampler.state_dict()
    rest = list(iterator)
    resumed = ovs.Sampler(plan)
    resumed.load_state_dict(state)
    assert list(resumed) == rest
    print(f"resumed after {len(head)} indices from {state}")


if __name__ == "__main__":
    main()
