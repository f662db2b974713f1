"""A killed training process resumes exactly. A child training loop (tf.data
with a CheckpointManager saving the iterator; PyTorch with the Sampler's
state) is SIGKILLed at random steps and started again from its last
checkpoint until it finishes the epoch. Over all runs it must consume the
plan's epoch, in the order of an uninterrupted run, plus exactly the elements
between each kill and the checkpoint before it: nothing else lost or
repeated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import kill_child
import oversample as ovs

pytestmark = pytest.mark.heavy  # the second tier (README, Testing)

HERE = Path(__file__).parent
KILLS = 10  # per loop: 20 in all
DEADLINE_S = 240


def _lines(folder: Path) -> list[str]:
    path = folder / "log"
    return path.read_text().splitlines() if path.exists() else []


def _run(kind: str, folder: Path, kill_after: int | None) -> str:
    """One child: killed (SIGKILL, by its pid) once it has logged
    `kill_after` more elements, or left to finish. Returns how it ended."""
    before = len(_lines(folder))
    child = subprocess.Popen(
        [sys.executable, str(HERE / "kill_child.py"), kind, str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    started = time.monotonic()
    try:
        while child.poll() is None:
            if time.monotonic() - started > DEADLINE_S:
                raise AssertionError("the child did not finish within the bound")
            logged = _lines(folder)[before:]
            if (
                kill_after is not None
                and sum(x.isdigit() for x in logged) >= kill_after
            ):
                os.kill(child.pid, signal.SIGKILL)
                child.wait(timeout=30)
                return "killed"
            time.sleep(0.01)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
    assert child.returncode == 0, child.stderr.read().decode()[-3000:]
    return "finished"


def _replay(lines: list[str]) -> tuple[list[int], list[int]]:
    """The committed sequence of keys over all runs, and the elements each
    killed run consumed after its last checkpoint (redone by the next run)."""
    runs: list[list[str]] = []
    for line in lines:
        if line.startswith("start"):
            runs.append([])
        runs[-1].append(line)
    committed: list[int] = []
    wasted = []
    for place, run in enumerate(runs):
        keys = [int(x) for x in run if x.isdigit()]
        if place + 1 < len(runs):
            resumed_at = int(runs[place + 1][0].split()[1])
            kept = resumed_at - len(committed)
            assert kept >= 0, "a restore went back before what was committed"
            wasted.append(len(keys) - kept)
            keys = keys[:kept]
        committed.extend(keys)
    return committed, wasted


@pytest.mark.timeout(900)
@pytest.mark.parametrize("kind", ["tf", "torch"])
def test_sigkilled_training_resumes_exactly(kind, tmp_path):
    if kind == "tf":
        pytest.importorskip("tensorflow")
    else:
        pytest.importorskip("torch")
    reference = tmp_path / "reference"
    reference.mkdir()
    assert _run(kind, reference, None) == "finished"
    expected, _ = _replay(_lines(reference))

    rng = np.random.default_rng(sum(map(ord, kind)))
    killed = tmp_path / "killed"
    killed.mkdir()
    kills = 0
    while kills < KILLS:
        if _run(kind, killed, int(rng.integers(15, 70))) == "killed":
            kills += 1
        if _lines(killed)[-1:] == ["done"]:
            break
    while _lines(killed)[-1:] != ["done"]:
        _run(kind, killed, None)
    committed, wasted = _replay(_lines(killed))
    print(f"{kind}: {kills} kills, {sum(wasted)} elements redone after them: {wasted}")

    assert kills >= KILLS - 2  # the epoch is long enough for nearly every kill
    assert committed == expected  # the same elements, in the same order
    copies = ovs.plan(kill_child.labels(), seed=3).copies(0)
    assert np.bincount(committed, minlength=copies.size).tolist() == copies.tolist()
    consumed = sum(x.isdigit() for x in _lines(killed))
    assert consumed == len(expected) + sum(wasted)  # nothing else repeated or lost
