"""Sources of the Python-stream tests, built the same way by the tests and by
the fresh process that restores a saved state (`stream_child.py`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import oversample as ovs

SIZES = [300, 120, 50, 20, 8, 2]


def labels(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).permutation(
        np.repeat(np.arange(len(SIZES)), SIZES)
    )


def examples(seed: int = 0) -> list[dict[str, int]]:
    return [{"label": int(y), "id": i} for i, y in enumerate(labels(seed))]


class Examples:
    """A plain `torch.utils.data.IterableDataset`-like source (no torch needed):
    it starts over on every iter()."""

    def __init__(self, seed: int = 0) -> None:
        self.rows = examples(seed)

    def __iter__(self) -> Any:
        yield from self.rows


def write_tars(folder: Path, shards: int = 6) -> list[str]:
    """The examples in `shards` WebDataset tar files (cls and id per sample)."""
    import webdataset as wds

    rows = examples()
    cuts = np.linspace(0, len(rows), shards + 1).astype(int)
    urls = []
    for shard in range(shards):
        url = str(folder / f"part-{shard:03d}.tar")
        with wds.TarWriter(url) as writer:
            for row in rows[cuts[shard] : cuts[shard + 1]]:
                writer.write(
                    {
                        "__key__": f"{row['id']:06d}",
                        "cls": row["label"],
                        "id.cls": row["id"],
                    }
                )
        urls.append(url)
    return urls


def read_tar(url: str) -> Any:
    """One tar shard, read whole and in order (no splitting of its own)."""
    import webdataset as wds

    return wds.DataPipeline(
        wds.SimpleShardList([url]), wds.tarfile_to_samples(), wds.decode()
    )


def stream(kind: str, seed: int = 4, **options: Any) -> Any:
    """A balanced stream of `kind` for the resume tests."""
    if kind == "list":
        return ovs.balance(examples(), seed=seed, **options)
    raise ValueError(kind)
