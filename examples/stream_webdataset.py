"""WebDataset tar shards balanced exactly, in two ways: shards this executor
splits over ranks and workers, and a WebDataset pipeline that splits them
itself (split_by_node, split_by_worker).

Requires: torch, webdataset. Run: python examples/stream_webdataset.py
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import torch
import webdataset as wds

import oversample as ovs

RANKS = 2  # simulated: one loop turn per rank, as RANK and WORLD_SIZE say


def write(folder: Path, labels: np.ndarray, shards: int = 8) -> list[str]:
    cuts = np.linspace(0, labels.size, shards + 1).astype(int)
    urls = []
    for shard in range(shards):
        url = str(folder / f"train-{shard:05d}.tar")
        with wds.TarWriter(url) as sink:
            for i in range(cuts[shard], cuts[shard + 1]):
                sink.write({"__key__": f"{i:07d}", "cls": int(labels[i]), "id.cls": i})
        urls.append(url)
    return urls


def read(url: str):
    """One shard, whole and in order."""
    return wds.DataPipeline(
        wds.SimpleShardList([url]), wds.tarfile_to_samples(), wds.decode()
    )


def ids_of(loader) -> list[int]:
    return [int(sample["id.cls"]) for sample in loader]


def main() -> None:
    rng = np.random.default_rng(1)
    labels = rng.permutation(np.repeat(np.arange(5), [800, 200, 60, 20, 5]))
    folder = Path(tempfile.mkdtemp())
    urls = write(folder, labels)
    expected = ovs.plan(labels, seed=0).copies(0).tolist()

    # 1. Shards read by oversample: count once, save the counts, balance.
    shards = ovs.Shards(urls, read)
    counts = ovs.count_labels(shards, label="cls")
    counts.save(folder / "counts.json")  # atomic, with a checksum
    balanced = ovs.balance(shards, label="cls", counts=counts, seed=0, epoch=0)
    parts = []
    for rank in range(RANKS):
        mine = balanced.split(RANKS, rank)
        loader = torch.utils.data.DataLoader(mine, batch_size=None, num_workers=2)
        parts.append(ids_of(loader))
    union = np.bincount(np.concatenate(parts), minlength=labels.size).tolist()
    assert union == expected
    shares = [len(p) for p in parts]
    print(f"oversample splits the shards: ranks got {shares}; {balanced.spread}")

    # 2. WebDataset splits the shards itself; every example names its shard.
    def pipeline():
        return wds.WebDataset(
            urls,
            shardshuffle=False,
            nodesplitter=wds.split_by_node,
            workersplitter=wds.split_by_worker,
        ).decode()

    saved = ovs.ShardCounts.load(folder / "counts.json")
    parts = []
    for rank in range(RANKS):
        os.environ.update(RANK=str(rank), WORLD_SIZE=str(RANKS))
        tagged = ovs.Shards.tagged(pipeline(), urls, tag="__url__")
        stream = ovs.balance(tagged, label="cls", counts=saved, seed=0, epoch=0)
        loader = torch.utils.data.DataLoader(stream, batch_size=None, num_workers=2)
        parts.append(ids_of(loader))
    del os.environ["RANK"], os.environ["WORLD_SIZE"]
    union = np.bincount(np.concatenate(parts), minlength=labels.size).tolist()
    assert union == expected
    print(f"WebDataset splits the shards: ranks got {[len(p) for p in parts]}")


if __name__ == "__main__":
    main()
