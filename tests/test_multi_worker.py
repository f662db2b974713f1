"""MultiWorkerMirroredStrategy, for real: `examples/multi_worker.py` starts two
worker processes on localhost (TF_CONFIG). Each worker reports what it
received; the launcher asserts that the union equals the plan's epoch and that
each worker's count equals `ShardCounts.shares`. Here: those lines, and the
Keras fit on both workers."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.heavy  # the second tier (README, Testing)

pytest.importorskip("tensorflow_datasets")
SCRIPT = Path(__file__).parent.parent / "examples" / "multi_worker.py"


@pytest.fixture(scope="module")
def run():
    done = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_union_over_two_workers_is_the_plans_epoch(run):
    for mode, epoch in (("file_autoshard", 0), ("from_function", 1)):
        assert f"{mode}: union of both workers = the plan's epoch {epoch}" in run


def test_a_keras_fit_runs_on_both_workers(run):
    if importlib.util.find_spec("tf_keras") is None:
        pytest.skip("tf_keras (Keras 2) is not installed; see README, Testing")
    assert run.count("fit ran") == 2, run
