"""The benchmark scripts run, on tiny sizes, and write their results as data.
No timing is asserted here: speed is measured in benchmarks/, not in tests."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"
TINY = {
    "bench_counting.py": ["--config", "tiny", "--repeats", "1"],
    "bench_endurance.py": ["--samples", "3000", "--epochs", "2"],
    "bench_iterables.py": ["--samples", "5000", "--repeats", "1"],
    "bench_plan.py": ["--samples", "20000", "--classes", "50", "--repeats", "1"],
    "bench_sampler.py": ["--sizes", "5000", "--classes", "20", "--repeats", "1"],
    "bench_scaling.py": ["--sizes", "2000", "--class-counts", "10"],
    "bench_shards.py": [
        *("--records", "3000", "--files", "4", "--repeats", "1"),
        *("--scale-shards", "40", "--scale-classes", "10"),
        *("--sizes", "1000", "20000", "--take", "3000"),
    ],
    "bench_stream.py": [
        "--classes",
        "10",
        "--largest",
        "60",
        "--repeats",
        "1",
        "--budget",
        "2",
    ],
}


@pytest.mark.parametrize("script", sorted(TINY))
def test_benchmark_script_runs_and_writes_results(script, tmp_path):
    pytest.importorskip("torch" if script == "bench_endurance.py" else "tensorflow")
    done = subprocess.run(
        [sys.executable, script, *TINY[script], "--out", str(tmp_path)],
        cwd=BENCHMARKS,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    name = script.removeprefix("bench_").removesuffix(".py")
    results = json.loads((tmp_path / f"{name}.json").read_text())
    assert results["rows"], "no rows written"
    assert (tmp_path / f"{name}.md").read_text().startswith("| ")


def test_the_training_study_runs_and_writes_results(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    methods = ["no balancing", "class_weight", "oversample Progressive"]
    if importlib.util.find_spec("torch") is not None:
        methods += ["torch: no balancing", "torch: Progressive"]
    done = subprocess.run(
        [
            sys.executable,
            "study_training.py",
            *("--seeds", "2", "--steps", "3", "--data-dir", str(tmp_path / "tfds")),
            *("--out", str(tmp_path), "--methods", *methods),
        ],
        cwd=BENCHMARKS,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "study.json").read_text())
    assert [row["method"] for row in results["rows"]] == methods
    assert all(len(runs) == 2 for runs in results["meta"]["runs"].values())
    assert (tmp_path / "study.png").read_bytes()[:4] == b"\x89PNG"


def test_the_spread_study_runs_and_writes_results(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    methods = ["buffer only", "global order"]
    done = subprocess.run(
        [
            sys.executable,
            "study_spread.py",
            *("--seeds", "1", "--steps", "3", "--out", str(tmp_path)),
            *("--methods", *methods),
        ],
        cwd=BENCHMARKS,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "study_spread.json").read_text())
    assert [row["method"] for row in results["rows"]] == methods


def test_every_benchmark_script_is_smoke_tested():
    scripts = {p.name for p in BENCHMARKS.glob("bench_*.py")}
    assert scripts == set(TINY)
