"""Planning speed: ovs.plan + plan.indices against np.repeat + shuffle.

Run: python benchmarks/bench_plan.py [--samples 10000000] [--classes 1000]
Writes benchmarks/results/plan.{json,md}. Each method runs in its own process.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
from _common import median_seconds, out_folder, run_in_child, write_results


def long_tail_labels(samples: int, classes: int, seed: int = 0) -> np.ndarray:
    """Shuffled labels, exponential profile with imbalance 100."""
    profile = 100.0 ** (-np.arange(classes) / max(classes - 1, 1))
    sizes = np.maximum(1, np.floor(profile / profile.sum() * samples)).astype(np.int64)
    sizes[0] += samples - sizes.sum()
    labels = np.repeat(np.arange(classes, dtype=np.int64), sizes)
    return np.random.default_rng(seed).permutation(labels)


def measure(method: str, samples: int, classes: int, repeats: int) -> dict[str, Any]:
    import oversample as ovs

    labels = long_tail_labels(samples, classes)
    ready = ovs.plan(labels, seed=0)
    copies = ready.copies(0)

    def numpy_repeat_shuffle() -> None:
        out = np.repeat(np.arange(labels.size), copies)
        np.random.default_rng(0).shuffle(out)

    methods = {
        "np.repeat + shuffle (copies given)": numpy_repeat_shuffle,
        "ovs.plan + plan.indices": lambda: ovs.plan(labels, seed=0).indices(0),
        "plan.indices (plan ready)": lambda: ready.indices(1),
        "ovs.plan only": lambda: ovs.plan(labels, seed=0),
    }
    seconds, times = median_seconds(methods[method], repeats)
    return {"median_s": seconds, "times_s": times, "total_after": ready.total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=10_000_000)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--out", default=None, help="results folder (default: results/)"
    )
    args = parser.parse_args()
    names = [
        "np.repeat + shuffle (copies given)",
        "ovs.plan + plan.indices",
        "plan.indices (plan ready)",
        "ovs.plan only",
    ]
    results = {
        name: run_in_child(
            "bench_plan",
            "measure",
            method=name,
            samples=args.samples,
            classes=args.classes,
            repeats=args.repeats,
        )
        for name in names
    }
    baseline = results[names[0]]["median_s"]
    rows = [
        {
            "method": name,
            "median_s": r["median_s"],
            "vs_np_repeat": r["median_s"] / baseline,
            "peak_rss_mib": r["peak_rss_mib"],
        }
        for name, r in results.items()
    ]
    meta = {
        "samples": args.samples,
        "classes": args.classes,
        "total_after": results[names[1]]["total_after"],
        "repeats": args.repeats,
        "note": "peak RSS includes the labels and the ready plan built in each child",
    }
    path = write_results("plan", rows, meta, out_folder(args.out))
    print(path.with_suffix(".md").read_text())
    print(meta)


if __name__ == "__main__":
    main()
