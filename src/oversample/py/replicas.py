"""Which reader this process is: its rank among replicas and its worker among
a DataLoader's workers, as one index among all readers."""

from __future__ import annotations

import os
import sys


def replicas() -> tuple[int, int]:
    """(num_replicas, rank): the RANK and WORLD_SIZE variables when set (as
    WebDataset reads them), else torch.distributed when initialised, else
    (1, 0)."""
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        return int(os.environ["WORLD_SIZE"]), int(os.environ["RANK"])
    torch = sys.modules.get("torch")
    if torch is not None:
        distributed = torch.distributed
        if distributed.is_available() and distributed.is_initialized():
            return distributed.get_world_size(), distributed.get_rank()
    return 1, 0


def workers() -> tuple[int, int]:
    """(num_workers, worker id) of the DataLoader worker this runs in, or (1, 0)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        info = torch.utils.data.get_worker_info()
        if info is not None:
            return info.num_workers, info.id
    return 1, 0


def reader(split: tuple[int, int] | None) -> tuple[int, int]:
    """(this reader's index, the number of readers) over ranks and workers;
    `split` (num_replicas, rank) overrides the rank."""
    world, rank = replicas() if split is None else split
    count, worker = workers()
    return rank * count + worker, world * count
