"""Runs every benchmark with its default sizes, then draws the plots.

Run: python benchmarks/run_all.py   (about 35 minutes on 2 cores)
Results: benchmarks/results/*.json, *.md and *.png.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
SCRIPTS = [
    "bench_plan.py",
    "bench_counting.py",
    "bench_stream.py",
    "bench_sampler.py",
    "bench_class_batches.py",
    "bench_scaling.py",
    "bench_shards.py",
    "bench_iterables.py",
    "bench_endurance.py",
    "bench_copy_seeds.py",
]


def plot(folder: Path) -> None:
    """Throughput of the streaming methods and epoch times of the samplers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stream = json.loads((folder / "stream.json").read_text())["rows"]
    rows = [r for r in stream if r["elements_per_s"]]
    figure, axis = plt.subplots(figsize=(9, 4.5))
    names = [r["method"] for r in rows]
    colours = [
        "tab:orange" if n.startswith("oversample") else "tab:gray" for n in names
    ]
    axis.barh(names, [r["elements_per_s"] for r in rows], color=colours)
    axis.set_xscale("log")
    axis.set_xlabel("elements per second (log)")
    axis.invert_yaxis()
    axis.set_title("balancing 100 long-tailed classes with tf.data (2 CPU cores)")
    figure.tight_layout()
    figure.savefig(folder / "stream.png", dpi=110)
    plt.close(figure)

    sampler = json.loads((folder / "sampler.json").read_text())["rows"]
    sampler = [r for r in sampler if r["epoch_s"] is not None]  # not per call
    sizes = sorted({r["samples"] for r in sampler})
    methods = list(dict.fromkeys(r["method"] for r in sampler))
    figure, axis = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / len(sizes)
    for i, size in enumerate(sizes):
        times = {r["method"]: r["epoch_s"] for r in sampler if r["samples"] == size}
        axis.barh(
            [m + i * width for m in range(len(methods))],
            [times.get(m, 0) for m in methods],
            height=width,
            label=f"{size:,} samples",
        )
    axis.set_yticks([m + width / 2 for m in range(len(methods))], methods)
    axis.set_xscale("log")
    axis.set_xlabel("seconds per epoch (log)")
    axis.invert_yaxis()
    axis.legend()
    axis.set_title("one balanced epoch of indices, 1,000 classes")
    figure.tight_layout()
    figure.savefig(folder / "sampler.png", dpi=110)
    plt.close(figure)


def main() -> None:
    for script in SCRIPTS:
        print(f"== {script}", flush=True)
        subprocess.run([sys.executable, str(HERE / script)], check=True, cwd=HERE)
    plot(HERE / "results")
    print("plots: benchmarks/results/stream.png, benchmarks/results/sampler.png")


if __name__ == "__main__":
    main()
