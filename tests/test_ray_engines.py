"""The Ray executor with real engines and faults, all on this machine: Ray
Train's TorchTrainer on 2 workers, a Ray worker process killed by its own pid
while the epoch runs, and a node of a 2-node cluster removed mid-epoch. The
epoch that arrives is the plan's, sample by sample, every time; what Ray ran
again is counted (the second tier)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import numpy as np
import pytest

import oversample as ovs

pytest.importorskip("ray")
pq = pytest.importorskip("pyarrow.parquet")

from ray_helpers import (  # noqa: E402
    RUNTIME_ENV,
    LoggedRead,
    ids_of,
    quiet_data,
    start_ray,
    write_parquet,
)

pytestmark = pytest.mark.heavy

SIZES = [301, 120, 50, 20, 7]
BOUNDS = (0, 90, 200, 330, 420)


@pytest.fixture
def labels():
    return np.random.default_rng(11).permutation(np.repeat(np.arange(5), SIZES))


@pytest.fixture
def files(labels, tmp_path):
    return write_parquet(tmp_path / "parquet", labels, BOUNDS)


@pytest.fixture
def ray_four():
    """Ray with 4 logical CPUs: two trainer workers and the data tasks."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
    yield start_ray(num_cpus=4, object_store_memory=300 << 20)
    ray.shutdown()


def _wait_for(path, seconds=120.0):
    deadline = time.monotonic() + seconds
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear in {seconds} s")
        time.sleep(0.05)
    time.sleep(0.2)  # the note is written whole
    return json.load(open(path))


def _epoch_read_in_thread(out):
    got: dict[str, object] = {}

    def run():
        try:
            got["ids"] = ids_of(out)
        except Exception as error:  # reported by the test
            got["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    return thread, got


def test_torch_trainer_on_two_workers_gets_the_epoch_exactly(
    labels, files, ray_four, tmp_path
):
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from oversample.ray.train import ExactSplit

    shards = ovs.Shards(files, read=pq.read_table, engine="ray")
    out = ovs.balance(shards, seed=3, epoch=1)
    plan = ovs.plan(labels, seed=3)
    assert out.plan.total % 2 == 1  # an equal split would have to trim a row
    folder = tmp_path / "ranks"
    folder.mkdir()

    def loop(config):
        import ray.train

        shard = ray.train.get_dataset_shard("train")
        ids = []
        for batch in shard.iter_torch_batches(batch_size=64):
            ids += batch["id"].tolist()
        rank = ray.train.get_context().get_world_rank()
        with open(os.path.join(config["folder"], f"rank-{rank}.json"), "w") as f:
            json.dump(ids, f)

    def train(dataset_config):
        for old in folder.iterdir():
            old.unlink()
        trainer = TorchTrainer(
            loop,
            train_loop_config={"folder": str(folder)},
            scaling_config=ScalingConfig(num_workers=2, use_gpu=False),
            datasets={"train": out},
            dataset_config=dataset_config,
            run_config=RunConfig(storage_path=str(tmp_path / "runs")),
        )
        trainer.fit()
        return [json.load(open(folder / f"rank-{r}.json")) for r in (0, 1)]

    exact = train(ExactSplit())
    union = np.bincount(exact[0] + exact[1], minlength=labels.size)
    assert union.tolist() == plan.copies(1).tolist()
    assert exact[0] and exact[1]
    # Ray Train's own split, for contrast: equal shares, a row trimmed.
    from ray.train import DataConfig

    trimmed = train(DataConfig())
    assert len(trimmed[0]) == len(trimmed[1])
    assert len(trimmed[0]) + len(trimmed[1]) < out.plan.total


def test_a_killed_ray_worker_is_retried_and_the_epoch_stays_exact(
    labels, files, tmp_path
):
    import ray

    if ray.is_initialized():
        ray.shutdown()
    start_ray(num_cpus=2)
    try:
        notes = tmp_path / "notes"
        notes.mkdir()
        read = LoggedRead(notes, slow=files[2])
        shards = ovs.Shards(files, read=read, engine="ray")
        counts = ovs.count_labels(ovs.Shards(files, read=pq.read_table, engine="ray"))
        out = ovs.balance(shards, seed=5, counts=counts, epoch=2)
        before = len(read.reads())
        thread, got = _epoch_read_in_thread(out)
        victim = _wait_for(notes / "slowed")
        assert victim["pid"] != os.getpid()
        os.kill(victim["pid"], signal.SIGKILL)
        thread.join(timeout=240)
        assert not thread.is_alive() and "error" not in got, got.get("error")
        plan = ovs.plan(labels, seed=5)
        ids = np.bincount(got["ids"], minlength=labels.size)
        assert ids.tolist() == plan.copies(2).tolist()
        redone = len(read.reads()) - before - len(files)
        print(f"killed pid {victim['pid']}; files read again: {redone}")
        assert redone >= 1
    finally:
        ray.shutdown()


def test_a_node_removed_mid_epoch_leaves_the_epoch_exact(labels, files, tmp_path):
    import ray
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 0,  # every task runs on the worker nodes
            "object_store_memory": 150 << 20,
            "include_dashboard": False,
        },
    )
    try:
        worker = cluster.add_node(num_cpus=2, object_store_memory=150 << 20)
        ray.init(address=cluster.address, log_to_driver=False, runtime_env=RUNTIME_ENV)
        quiet_data()
        notes = tmp_path / "notes"
        notes.mkdir()
        counts = ovs.count_labels(ovs.Shards(files, read=pq.read_table, engine="ray"))
        read = LoggedRead(notes, slow=files[3], seconds=30.0)
        shards = ovs.Shards(files, read=read, engine="ray")
        out = ovs.balance(shards, seed=9, counts=counts, epoch=0)
        before = len(read.reads())
        thread, got = _epoch_read_in_thread(out)
        slowed = _wait_for(notes / "slowed", seconds=180)
        assert slowed["node"] == worker.node_id
        cluster.remove_node(worker, allow_graceful=False)
        cluster.add_node(num_cpus=2, object_store_memory=150 << 20)
        thread.join(timeout=300)
        assert not thread.is_alive() and "error" not in got, got.get("error")
        plan = ovs.plan(labels, seed=9)
        ids = np.bincount(got["ids"], minlength=labels.size)
        assert ids.tolist() == plan.copies(0).tolist()
        reads = len(read.reads()) - before
        print(f"node removed; {reads} reads for {len(files)} files")
        assert reads > len(files)
    finally:
        ray.shutdown()
        cluster.shutdown()
