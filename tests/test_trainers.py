"""The Sampler inside the trainers people use, two processes over gloo on
127.0.0.1: Accelerate's `prepare`, the Hugging Face Trainer, Lightning with
its default `use_distributed_sampler=True`, plain DDP. Each documented setup
trains on exactly `plan.copies(e)` in epochs 0 and 1, the same number of
batches on every rank, and resumes mid-epoch exactly through the framework's
own checkpointing; the natural wrong setup is refused or warned of."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.heavy  # the second tier (README, Testing)

HERE = Path(__file__).parent
LABELS = np.repeat(np.arange(5), [3000, 1200, 500, 220, 81])
NEEDS = {
    "accelerate": ["accelerate"],
    "hf": ["transformers", "accelerate"],
    "lightning": ["lightning", "torchdata"],
    "ddp": [],
}


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run(framework: str, setup: str, tmp_path: Path) -> list[dict]:
    """Runs trainer_child.py on two ranks; returns each rank's record."""
    pytest.importorskip("torch")
    for package in NEEDS[framework]:
        pytest.importorskip(package, reason=f"{package} is in oversample[trainers]")
    out = tmp_path / setup
    out.mkdir()
    (tmp_path / "checkpoints").mkdir(exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_addr=127.0.0.1",
        f"--master_port={_port()}",
        str(HERE / "trainer_child.py"),
        framework,
        setup,
        str(out),
        str(tmp_path / "checkpoints"),
    ]
    root = str(HERE.parent / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, str(HERE)])}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]


def _union(runs: list[list[dict]], epoch: int) -> np.ndarray:
    batches = [b for run in runs for rank in run for b in rank["seen"].get(epoch, [])]
    return np.bincount(np.concatenate(batches).astype(np.int64), minlength=LABELS.size)


def _check_exact_and_resumed(first: list[dict], resumed: list[dict]) -> None:
    import oversample as ovs

    plan = ovs.plan(LABELS, seed=0)
    for run in (first, resumed):
        assert [rank["error"] for rank in run] == [None, None]
        assert [rank["warnings"] for rank in run] == [[], []]
        for epoch in {e for rank in run for e in rank["seen"]}:
            assert len({len(rank["seen"][epoch]) for rank in run}) == 1, epoch
    assert set(first[0]["seen"]) == {"0", "1"} and set(resumed[0]["seen"]) == {"1"}
    assert _union([first], "0").tolist() == plan.copies(0).tolist()
    assert _union([first, resumed], "1").tolist() == plan.copies(1).tolist()
    heads = [first[0]["seen"][e][0] for e in ("0", "1")]
    assert heads[0] != heads[1]  # a new order in epoch 1


@pytest.mark.timeout(600)
@pytest.mark.parametrize("framework", ["accelerate", "hf", "lightning", "ddp"])
def test_the_documented_setup_is_exact_and_resumes_mid_epoch(framework, tmp_path):
    first = _run(framework, "first", tmp_path)
    resumed = _run(framework, "resumed", tmp_path)
    _check_exact_and_resumed(first, resumed)


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("framework", "message"),
    [
        ("accelerate", r"already split by rank.*Accelerate's `prepare`"),
        ("hf", r"already split by rank.*ovs.PlanTrainer"),
        ("lightning", r"already split by rank.*ovs.DistributedSampler"),
    ],
)
def test_a_rank_split_dealt_out_again_is_refused(framework, message, tmp_path):
    ranks = _run(framework, "wrong", tmp_path)
    for rank in ranks:
        assert rank["seen"] == {}
        assert re.search(message, rank["error"] or ""), rank["error"]


@pytest.mark.timeout(300)
def test_a_whole_epoch_on_every_ddp_rank_is_warned_of(tmp_path):
    ranks = _run("ddp", "wrong", tmp_path)
    for rank in ranks:
        assert any(
            "Every rank of this process group of 2" in w for w in rank["warnings"]
        )
