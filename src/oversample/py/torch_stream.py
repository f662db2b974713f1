"""The balanced stream and the mixture as `torch.utils.data.IterableDataset`s,
so that a DataLoader reads them in iterable mode (imported only where torch
is)."""

from __future__ import annotations

import torch.utils.data

from oversample.py.mixture import Mixed
from oversample.py.stream import Balanced


class TorchBalanced(Balanced, torch.utils.data.IterableDataset):
    """`oversample.py.stream.Balanced`, for a PyTorch DataLoader."""


class TorchMixed(Mixed, torch.utils.data.IterableDataset):
    """`oversample.py.mixture.Mixed`, for a PyTorch DataLoader."""
