"""The balanced stream as a `torch.utils.data.IterableDataset`, so that a
DataLoader reads it in iterable mode (imported only where torch is)."""

from __future__ import annotations

import torch.utils.data

from oversample._py.stream import Balanced


class TorchBalanced(Balanced, torch.utils.data.IterableDataset):
    """`oversample._py.stream.Balanced`, for a PyTorch DataLoader."""
