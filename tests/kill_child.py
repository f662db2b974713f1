"""A training loop that the kill battery (tests/test_kills.py) SIGKILLs and
starts again: it restores its last checkpoint, logs every element it
consumes (one unbuffered line each, so a kill loses no logged line) and
checkpoints every CHECKPOINT_EVERY steps.

Run: python kill_child.py {tf,torch} WORKDIR
Log lines: "start <elements committed by the restored checkpoint>", one key
per consumed element, "saved <elements>" after each checkpoint, "done".
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

import oversample as ovs

CHECKPOINT_EVERY = 40  # elements (tf) or 5 batches of 8 (torch)
STEP_SECONDS = 0.002  # a training step, so that a kill lands mid-epoch


def labels() -> np.ndarray:
    rng = np.random.default_rng(4)
    return rng.permutation(np.repeat(np.arange(5), [300, 120, 40, 13, 5]))


class Log:
    def __init__(self, folder: Path) -> None:
        self.handle = os.open(folder / "log", os.O_WRONLY | os.O_APPEND | os.O_CREAT)

    def line(self, text: str) -> None:
        os.write(self.handle, (text + "\n").encode())


def tf_loop(folder: Path, log: Log) -> None:
    import tensorflow as tf

    source = tf.data.Dataset.from_tensor_slices({"label": labels()})
    stream = ovs.balance(source, seed=3, epoch=0, provenance=True)
    iterator = iter(stream)
    step = tf.Variable(0, dtype=tf.int64)
    checkpoint = tf.train.Checkpoint(iterator=iterator, step=step)
    manager = tf.train.CheckpointManager(checkpoint, str(folder / "ckpt"), 3)
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint).assert_consumed()
    log.line(f"start {int(step.numpy())}")
    for _, marks in iterator:
        time.sleep(STEP_SECONDS)
        log.line(str(int(marks["key"])))
        step.assign_add(1)
        if int(step.numpy()) % CHECKPOINT_EVERY == 0:
            manager.save()
            log.line(f"saved {int(step.numpy())}")


def torch_loop(folder: Path, log: Log) -> None:
    import torch

    dataset = torch.utils.data.TensorDataset(torch.arange(labels().size))
    sampler = ovs.Sampler(ovs.plan(labels(), seed=3))
    state_file = folder / "sampler.json"
    if state_file.exists():
        sampler.load_state_dict(json.loads(state_file.read_text()))
    log.line(f"start {sampler.position}")
    loader = torch.utils.data.DataLoader(dataset, sampler=sampler, batch_size=8)
    for batches, (keys,) in enumerate(loader, start=1):
        time.sleep(STEP_SECONDS * 8)
        for key in keys.tolist():
            log.line(str(key))
        if batches % (CHECKPOINT_EVERY // 8) == 0:
            state = json.dumps(sampler.state_dict())
            temporary = folder / "sampler.json.tmp"
            temporary.write_text(state)
            os.replace(temporary, state_file)  # atomic: a kill leaves one whole state
            log.line(f"saved {sampler.position}")


def main() -> None:
    kind, folder = sys.argv[1], Path(sys.argv[2])
    log = Log(folder)
    (tf_loop if kind == "tf" else torch_loop)(folder, log)
    log.line("done")


if __name__ == "__main__":
    main()
