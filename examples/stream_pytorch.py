"""Exact oversampling of a PyTorch IterableDataset read by DataLoader workers,
and a mid-epoch resume with torchdata's StatefulDataLoader.

Requires: torch, torchdata. Run: python examples/stream_pytorch.py
"""

from __future__ import annotations

import numpy as np
import torch
from torchdata.stateful_dataloader import StatefulDataLoader

import oversample as ovs


class Records(torch.utils.data.IterableDataset):
    """A stream that cannot be indexed (think of records read from a socket
    or a database cursor); it starts over on every iter()."""

    def __init__(self, labels: np.ndarray) -> None:
        self.labels = labels

    def __iter__(self):
        for i, label in enumerate(self.labels):
            yield {"x": torch.full((4,), float(i)), "label": int(label), "id": i}


def main() -> None:
    rng = np.random.default_rng(0)
    labels = rng.permutation(np.repeat(np.arange(4), [600, 150, 30, 6]))
    balanced = ovs.balance(Records(labels), label="label", seed=0, epoch=0)
    print(balanced.spread)

    # Two workers: each reads the stream and keeps every second position, so
    # together they yield the plan's epoch exactly.
    loader = torch.utils.data.DataLoader(balanced, batch_size=64, num_workers=2)
    ids = torch.cat([batch["id"] for batch in loader]).numpy()
    expected = ovs.plan(labels, seed=0).copies(0)
    assert np.bincount(ids, minlength=labels.size).tolist() == expected.tolist()
    print(f"{ids.size} elements, per class {np.bincount(labels[ids]).tolist()}")

    # Save the loader's state after 10 batches, restore it into a new loader.
    stateful = StatefulDataLoader(balanced, batch_size=64, num_workers=2)
    iterator = iter(stateful)
    head = [next(iterator)["id"] for _ in range(10)]
    state = stateful.state_dict()
    rest = torch.cat([batch["id"] for batch in iterator])
    resumed = StatefulDataLoader(balanced, batch_size=64, num_workers=2)
    resumed.load_state_dict(state)
    again = torch.cat([batch["id"] for batch in resumed])
    assert again.tolist() == rest.tolist()
    print(
        f"resumed after {sum(len(h) for h in head)} elements: the same {len(rest)} rest"
    )


if __name__ == "__main__":
    main()
