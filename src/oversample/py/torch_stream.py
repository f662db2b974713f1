"""The balanced stream as a `torch.utils.data.IterableDataset`, so that a
DataLoader reads it in iterable mode (imported only where torch is)."""

from __future__ import annotations

import torch.utils.data

from oversample.py.stream import Balanced


class TorchBalanced(Balanced, torch.utils.data.IterableDataset):
    """`oversample.py.stream.Balanced`, for a PyTorch DataLoader."""
