"""Balance Parquet shards on a Ray cluster and feed two Ray Train workers.

Writes 6 Parquet files of a long-tailed label column, counts them with one
Ray task per file, balances them into a lazy `ray.data.Dataset` (each task
decides its file's copies by the plan's rule alone), and trains on it with
Ray Train's TorchTrainer on 2 workers, split by `ExactSplit` so that no row
of the epoch is trimmed. The union of what the workers saw is checked
against the plan, sample by sample. Starts a local Ray cluster (4 logical
CPUs) and shuts it down.
Requires: ray, torch, pyarrow.
Run: python examples/ray_balance.py
"""

from __future__ import annotations

import json
import logging
import os
import tempfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import ray
from ray.train import RunConfig, ScalingConfig
from ray.train.torch import TorchTrainer

import oversample as ovs
from oversample.ray.train import ExactSplit

SIZES = [3000, 900, 300, 90, 30]


def write_shards(folder: str) -> tuple[list[str], np.ndarray]:
    """Long-tailed labels in 6 Parquet files; "id" is each row's place."""
    labels = np.random.default_rng(0).permutation(np.repeat(np.arange(5), SIZES))
    features = np.random.default_rng(1).normal(size=(labels.size, 8))
    features[:, 0] += labels  # a little signal per class
    files = []
    for i, rows in enumerate(np.array_split(np.arange(labels.size), 6)):
        path = os.path.join(folder, f"train-{i:05d}.parquet")
        columns = {f"x{j}": features[rows, j].astype(np.float32) for j in range(8)}
        table = pa.table({"id": rows, "label": labels[rows], **columns})
        pq.write_table(table, path)
        files.append(path)
    return files, labels


def train_loop(config: dict) -> None:
    """One epoch of a linear classifier; each worker notes the ids it saw."""
    import ray.train
    import torch

    model = ray.train.torch.prepare_model(torch.nn.Linear(8, 5))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    shard = ray.train.get_dataset_shard("train")
    seen = []
    for batch in shard.iter_torch_batches(batch_size=128):
        x = torch.stack([batch[f"x{j}"] for j in range(8)], dim=1)
        loss = torch.nn.functional.cross_entropy(model(x), batch["label"].long())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        seen += batch["id"].tolist()
    rank = ray.train.get_context().get_world_rank()
    with open(os.path.join(config["folder"], f"rank-{rank}.json"), "w") as out:
        json.dump(seen, out)


def main() -> None:
    # "local": a new cluster of its own, even where RAY_ADDRESS names another.
    ray.init(
        address="local",
        num_cpus=4,
        include_dashboard=False,
        logging_level=logging.ERROR,
    )
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        with tempfile.TemporaryDirectory() as folder:
            files, labels = write_shards(folder)
            shards = ovs.Shards(files, read=pq.read_table, engine="ray")
            counts = ovs.count_labels(shards)  # one Ray task per file
            print(f"counted {counts.num_samples} rows in {len(files)} files:")
            print(f"  {counts.counts}")
            balanced = ovs.balance(shards, counts=counts, seed=0, epoch=0)
            print(balanced.plan.summary())
            trainer = TorchTrainer(
                train_loop,
                train_loop_config={"folder": folder},
                scaling_config=ScalingConfig(num_workers=2, use_gpu=False),
                datasets={"train": balanced},
                dataset_config=ExactSplit(),
                run_config=RunConfig(storage_path=os.path.join(folder, "runs")),
            )
            trainer.fit()
            shares = []
            seen: list[int] = []
            for rank in (0, 1):
                with open(os.path.join(folder, f"rank-{rank}.json")) as ids:
                    mine = json.load(ids)
                shares.append(len(mine))
                seen += mine
            plan = ovs.plan(labels, seed=0)  # the same plan, from the labels
            exact = np.bincount(seen, minlength=labels.size) == plan.copies(0)
            assert exact.all(), "the workers' union differs from the plan"
            print(
                f"2 workers got {shares[0]:,} + {shares[1]:,} = {sum(shares):,}"
                f" rows: exactly the plan's epoch ({plan.total:,}), sample by sample"
            )
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
