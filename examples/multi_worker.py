"""Exact balancing across two MultiWorkerMirroredStrategy workers.

The launcher prepares `digits_lt` in 4 TFRecord shards, counts each shard once
and starts two worker processes on localhost (TF_CONFIG). Each worker balances
only the files it reads; no worker talks to another about copies, yet the
union is exactly the plan's epoch. Both ways of feeding tf.distribute are
shown: FILE auto-sharding of one dataset, and `distribute_datasets_from_function`
with `Shards.shard`. Then one short Keras `fit` runs on both workers, when
`tf_keras` (Keras 2) is installed: Keras 3's `fit` does not run under
MultiWorkerMirroredStrategy (keras-team/keras#20585).

Run: python examples/multi_worker.py
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

import oversample as ovs
import oversample.datasets

WORKERS = 2
GLOBAL_BATCH = 32


def launch() -> None:
    folder = Path(tempfile.mkdtemp())
    builder = tfds.builder("digits_lt", data_dir=str(folder))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(num_shards=4)
    )
    shards = ovs.Shards.from_tfds(builder, "train")
    counts = ovs.count_labels(shards)  # once, before training; saved as JSON
    counts.save(folder / "counts.json")  # atomic, with a checksum

    ports = []
    for _ in range(WORKERS):
        with socket.socket() as probe:
            probe.bind(("localhost", 0))
            ports.append(probe.getsockname()[1])
    cluster = {"worker": [f"localhost:{port}" for port in ports]}
    children = []
    for index in range(WORKERS):
        config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        env = {**os.environ, "TF_CONFIG": json.dumps(config)}
        command = [sys.executable, __file__, "--worker", str(folder)]
        children.append(subprocess.Popen(command, env=env))
    for child in children:
        if child.wait(timeout=600) != 0:
            raise SystemExit(f"a worker failed with exit code {child.returncode}")

    plan = ovs.plan(counts=counts.counts, seed=0)
    in_file_order = np.concatenate(
        [[e["label"] for e in tfds.as_numpy(shards.read(f))] for f in shards.files]
    )
    exact = ovs.plan(in_file_order, seed=0)  # the same plan, knowing each sample
    assert exact.targets == plan.targets
    reports = [json.loads((folder / f"worker-{i}.json").read_text()) for i in range(2)]
    for mode, epoch in (("file_autoshard", 0), ("from_function", 1)):
        keys = np.concatenate([r[mode] for r in reports]).astype(np.int64)
        union = np.bincount(keys, minlength=exact.num_samples)
        assert union.tolist() == exact.copies(epoch).tolist(), mode
        shares = [len(r[mode]) for r in reports]
        # NOTE: held copies are emitted by the shards that own their slots, so
        # the shares depend on what the pipeline holds (its `.spread`).
        spread = ovs.balance(shards, counts=counts, seed=0, epoch=epoch).spread
        assert shares == counts.shares(plan, WORKERS, epoch, spread), mode
        print(
            f"{mode}: union of both workers = the plan's epoch {epoch};"
            f" shares {shares} of {plan.total_at(epoch)}"
        )
    for index, report in enumerate(reports):
        if "steps" not in report:
            print(f"worker {index}: Keras fit skipped (tf_keras is not installed)")
            continue
        print(
            f"worker {index}: fit ran {report['steps']} steps, loss"
            f" {report['loss']:.3f}; {report['left_out']} balanced samples of"
            " its share did not fill a step (reported, not padded)"
        )


def work(folder: Path) -> None:
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    counts = ovs.ShardCounts.load(folder / "counts.json")
    builder = tfds.builder("digits_lt", data_dir=str(folder))
    shards = ovs.Shards.from_tfds(builder, "train")
    report: dict[str, object] = {}

    # 1. One dataset; tf.distribute gives each worker whole files (FILE policy).
    options = tf.data.Options()
    policy = tf.data.experimental.AutoShardPolicy.FILE
    options.experimental_distribute.auto_shard_policy = policy
    balanced = ovs.balance(shards, counts=counts, seed=0, epoch=0, provenance=True)
    per_worker = balanced.map(lambda e, marks: marks["key"]).batch(GLOBAL_BATCH)
    distributed = strategy.experimental_distribute_dataset(
        per_worker.with_options(options)
    )
    report["file_autoshard"] = _local_keys(strategy, distributed)

    # 2. distribute_datasets_from_function: each input pipeline reads its files.
    def keys_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
        mine = shards.shard(context.num_input_pipelines, context.input_pipeline_id)
        out = ovs.balance(mine, counts=counts, seed=0, epoch=1, provenance=True)
        size = context.get_per_replica_batch_size(GLOBAL_BATCH)
        return out.map(lambda e, marks: marks["key"]).batch(size)

    distributed = strategy.distribute_datasets_from_function(keys_fn)
    report["from_function"] = _local_keys(strategy, distributed)

    if importlib.util.find_spec("tf_keras") is not None:
        report.update(fit(strategy, shards, counts, options, index))
    (folder / f"worker-{index}.json").write_text(json.dumps(report))


def fit(strategy, shards, counts, options, index: int) -> dict[str, object]:
    """A short Keras fit (FILE auto-sharding); steps fit the smaller share."""
    import tf_keras

    plan = ovs.plan(counts=counts.counts, seed=0)
    balanced = ovs.balance(shards, counts=counts, seed=0, epoch=2)
    workers = strategy.num_replicas_in_sync
    shares = counts.shares(plan, workers, epoch=2, spread=balanced.spread)
    per_replica = GLOBAL_BATCH // strategy.num_replicas_in_sync
    steps = min(shares) // per_replica

    pairs = balanced.map(lambda e: (tf.cast(e["image"], tf.float32) / 255, e["label"]))
    train = pairs.batch(GLOBAL_BATCH).with_options(options)  # Keras distributes it
    with strategy.scope():
        model = tf_keras.Sequential(
            [
                tf_keras.Input((8, 8, 1)),
                tf_keras.layers.Flatten(),
                tf_keras.layers.Dense(32, activation="relu"),
                tf_keras.layers.Dense(10),
            ]
        )
        model.compile(
            "adam", tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        )
    history = model.fit(train, epochs=1, steps_per_epoch=steps, verbose=0)
    return {
        "steps": steps,
        "loss": float(history.history["loss"][-1]),
        "left_out": shares[index] - steps * per_replica,
    }


def _local_keys(strategy, distributed) -> list[int]:
    """The keys this worker's replicas received (uneven shares end with empty
    batches on the worker that runs out first)."""
    keys: list[int] = []
    for batch in distributed:
        for part in strategy.experimental_local_results(batch):
            keys.extend(int(k) for k in part.numpy())
    return keys


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        work(Path(sys.argv[2]))
    else:
        launch()
