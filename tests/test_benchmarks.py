"""The benchmark scripts run, on tiny sizes, and write their results as data.
No timing is asserted here: speed is measured in benchmarks/, not in tests."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.heavy  # the second tier (README, Testing)

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"
TINY = {
    "bench_class_batches.py": ["--samples", "5000", "--classes", "20", "--rounds", "1"],
    "bench_copy_seeds.py": ["--largest", "60", "--repeats", "1"],
    "bench_counting.py": ["--config", "tiny", "--repeats", "1"],
    "bench_endurance.py": ["--samples", "3000", "--epochs", "2"],
    "bench_iterables.py": ["--samples", "5000", "--repeats", "1"],
    "bench_mixture.py": ["--scale", "0.05", "--repeats", "1"],
    "bench_ray.py": ["--scale", "0.02", "--classes", "8", "--repeats", "1"],
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


def _script(name: str, *args: str) -> dict:
    """Runs benchmarks/`name` with `args`; the JSON it wrote (under --out)."""
    done = subprocess.run(
        [sys.executable, name, *args],
        cwd=BENCHMARKS,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = Path(args[args.index("--out") + 1])
    return json.loads((out / RESULT_NAME.get(name, _result(name))).read_text())


def _result(name: str) -> str:
    return name.removeprefix("bench_").removesuffix(".py") + ".json"


RESULT_NAME = {
    "study_training.py": "study.json",
    "study_spread.py": "study_spread.json",
}


@pytest.mark.parametrize("script", sorted(TINY))
def test_benchmark_script_runs_and_writes_results(script, tmp_path):
    needs = {"bench_endurance.py": "torch", "bench_ray.py": "ray"}
    pytest.importorskip(needs.get(script, "tensorflow"))
    results = _script(script, *TINY[script], "--out", str(tmp_path))
    assert results["rows"], "no rows written"
    name = script.removeprefix("bench_").removesuffix(".py")
    assert (tmp_path / f"{name}.md").read_text().startswith("| ")


def test_the_samplers_construction_is_measured(tmp_path):
    script = str(BENCHMARKS / "bench_sampler.py")
    sizes = ["--construction", "20000", "--classes", "20"]
    command = [sys.executable, script, *sizes, "--out", str(tmp_path)]
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    (row,) = json.loads((tmp_path / "sampler_construction.json").read_text())["rows"]
    assert row["samples"] == 20000 and row["construction_s"] >= row["plan_s"] > 0
    assert row["first_index_ms"] > 0 and row["kept_bytes_per_sample"] >= 0


def test_the_random_access_targets_are_measured_beside_the_comparison(tmp_path):
    script = str(BENCHMARKS / "bench_sampler.py")
    compared = [
        *TINY["bench_sampler.py"],
        "--methods",
        "np.repeat + shuffle (copies given)",
    ]
    subprocess.run(
        [sys.executable, script, *compared, "--out", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    sizes = ["--targets", "20000", "200000", "--repeats", "1"]
    command = [sys.executable, script, *sizes, "--out", str(tmp_path)]
    subprocess.run(command, check=True, capture_output=True, timeout=900)
    results = json.loads((tmp_path / "sampler.json").read_text())
    assert results["rows"], "the comparison is kept"
    found = {(row["case"], row["figure"]): row for row in results["targets"]}
    cases = {case for case, _ in found}
    assert any(
        case.startswith("Sampler over 200,000 labels (NumPy only)") for case in cases
    )
    added = [
        row
        for (_, f), row in found.items()
        if f.startswith("peak bytes per sample added")
    ]
    assert len(added) == 1 and math.isfinite(added[0]["value"]), "from a tenth"
    exact = [row for (_, figure), row in found.items() if figure.startswith("every")]
    assert [row["value"] for row in exact] == [True]
    mixed = [row for row in results["targets"] if "exact" in row]
    assert len(mixed) == 3 and all(row["exact"] for row in mixed)
    over = [row for row in results["targets"] if row["case"].startswith("16,777,217")]
    assert isinstance(over[1]["value"], float), "the Sampler goes past 2^24"
    if importlib.util.find_spec("torch") is not None:
        assert "2^24" in over[0]["value"]
    text = (tmp_path / "sampler.md").read_text()
    assert text.startswith("| ") and "## Random access: the targets" in text


def test_the_stream_benchmark_pairs_each_ratio_within_its_round(tmp_path):
    spread, plain = (
        "oversample.balance, counts given (iterate only)",
        "oversample.balance, counts given, spread=None (iterate only)",
    )
    found = _script(
        "bench_iterables.py",
        *["--samples", "3000", "--repeats", "3", "--methods", spread, plain],
        *["--out", str(tmp_path)],
    )
    rounds = found["meta"]["round_seconds"]
    assert [len(rounds[spread]), len(rounds[plain])] == [3, 3]
    ratios = sorted(a / b for a, b in zip(rounds[spread], rounds[plain], strict=True))
    rows = {row["method"]: row for row in found["rows"]}
    assert rows[spread]["median_of_round_ratios"] == pytest.approx(ratios[1])
    assert rows[plain]["median_of_round_ratios"] == pytest.approx(1.0)
    assert rows[spread]["seconds"] == pytest.approx(sorted(rounds[spread])[1])


def test_the_training_study_runs_and_writes_results(tmp_path):
    pytest.importorskip("tensorflow")
    methods = ["class_weight", "balance", "deferred", "decoupled (cRT)"]
    results = _script(
        "study_training.py",
        *("--seeds", "2", "--steps", "6", "--datasets", "digits20_lt"),
        *("--out", str(tmp_path), "--methods", *methods),
    )
    assert [row["method"] for row in results["rows"]] == methods
    runs = results["meta"]["runs"]["digits20_lt"]
    assert all(len(seeds) == 2 for seeds in runs.values())
    reference = results["rows"][0]
    assert reference["balanced_vs_class_weight"] == "+0.000 ± 0.000"
    assert (tmp_path / "study.png").read_bytes()[:4] == b"\x89PNG"
    # more arms merged in: the others' runs kept, the re-run one set apart
    added = ["balance", "logit-adjusted loss", "Progressive by epoch, old rotation"]
    merged = _script(
        "study_training.py",
        *("--seeds", "2", "--steps", "6", "--datasets", "digits20_lt"),
        *("--out", str(tmp_path), "--merge", "--methods", *added),
    )
    rows = [row["method"] for row in merged["rows"]]
    assert rows == [*methods, *added[1:]]
    meta = merged["meta"]
    assert meta["runs"]["digits20_lt"]["deferred"] == runs["deferred"]
    assert meta["superseded"]["digits20_lt"]["balance"] == runs["balance"]
    assert [entry["methods"] for entry in meta["history"]] == [methods, added]
    assert set(meta["fairness"]["digits20_lt"]) == {"ledger", "old"}
    text = (tmp_path / "study.md").read_text()
    assert "- digits20_lt, balance vs logit-adjusted loss: balanced " in text


def test_the_spread_study_runs_and_writes_results(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    methods = ["buffer only", "global order"]
    results = _script(
        "study_spread.py",
        *("--seeds", "1", "--steps", "3", "--out", str(tmp_path)),
        *("--methods", *methods),
    )
    assert [row["method"] for row in results["rows"]] == methods


def test_every_benchmark_script_is_smoke_tested():
    scripts = {p.name for p in BENCHMARKS.glob("bench_*.py")}
    assert scripts == set(TINY)


def test_compare_runs_one_method_in_two_checkouts():
    root = str(BENCHMARKS.parent)
    done = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / "compare.py"),
            root,
            root,
            "bench_iterables",
            "bare iterable",
            "seconds",
            "--rounds",
            "2",
            "--kwargs",
            json.dumps({"samples": 2000}),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 3 and lines[-1].startswith("median after/before: ")
    assert float(lines[-1].split(": ")[1]) > 0
