"""Random-access job: one epoch of indices at 10^6 and 10^7 labels, 1,000
classes, balanced to the largest class, by the Sampler and by its peers.

Run: python benchmarks/bench_sampler.py [--sizes 1000000 10000000] [--repeats 3]
Writes benchmarks/results/sampler.{json,md}. Each method runs in its own process.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
from _common import median_seconds, out_folder, run_in_child, write_results

METHODS = [
    "oversample.Sampler (iterate)",
    "oversample.Sampler.indices (array)",
    "np.repeat + shuffle (copies given)",
    "torch WeightedRandomSampler (iterate)",
    "imbalanced-learn RandomOverSampler",
]


def labels_for(samples: int, classes: int) -> np.ndarray:
    profile = 100.0 ** (-np.arange(classes) / max(classes - 1, 1))
    sizes = np.maximum(1, np.floor(profile / profile.sum() * samples)).astype(np.int64)
    sizes[0] += samples - sizes.sum()
    labels = np.repeat(np.arange(classes, dtype=np.int64), sizes)
    return np.random.default_rng(0).permutation(labels)


def measure(method: str, samples: int, classes: int, repeats: int) -> dict[str, Any]:
    import oversample as ovs

    labels = labels_for(samples, classes)
    plan = ovs.plan(labels, seed=0)
    counts = np.bincount(labels)
    produced: list[np.ndarray] = []
    totals = np.zeros(classes, np.int64)

    if method == "oversample.Sampler (iterate)":

        def run() -> None:
            sampler = ovs.Sampler(plan)
            # NOTE: what a DataLoader does: take Python ints one at a time.
            for _ in sampler:
                pass
            if not totals.any():  # exactness, one chunk at a time (no epoch array)
                for chunk in sampler._chunks(0):
                    totals[:] += np.bincount(labels[chunk], minlength=classes)

    elif method == "oversample.Sampler.indices (array)":

        def run() -> None:
            produced.append(ovs.Sampler(plan).indices())

    elif method.startswith("np.repeat"):
        copies = plan.copies(0)

        def run() -> None:
            order = np.repeat(np.arange(labels.size), copies)
            np.random.default_rng(0).shuffle(order)
            produced.append(order)

    elif method.startswith("torch"):
        import torch
        from torch.utils.data import WeightedRandomSampler

        weights = torch.as_tensor(1.0 / counts[labels], dtype=torch.double)

        def run() -> None:
            sampler = WeightedRandomSampler(weights, num_samples=plan.total)
            produced.append(np.fromiter(sampler, np.int64, count=plan.total))

    else:
        from imblearn.over_sampling import RandomOverSampler

        def run() -> None:
            sampler = RandomOverSampler(random_state=0)
            sampler.fit_resample(np.arange(labels.size).reshape(-1, 1), labels)
            produced.append(sampler.sample_indices_)

    seconds, _ = median_seconds(run, repeats)
    if produced:
        totals = np.bincount(labels[produced[-1]], minlength=classes)
    target = counts.max()
    return {
        "seconds": seconds,
        "total": int(totals.sum()),
        "max_class_error": float(np.abs(totals - target).max() / target),
        "exact": bool((totals == target).all()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000_000, 10_000_000])
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--methods", nargs="*", default=METHODS)
    parser.add_argument(
        "--out", default=None, help="results folder (default: results/)"
    )
    args = parser.parse_args()
    rows = []
    for size in args.sizes:
        results = {}
        for method in args.methods:
            try:
                results[method] = run_in_child(
                    "bench_sampler",
                    "measure",
                    method=method,
                    samples=size,
                    classes=args.classes,
                    repeats=args.repeats,
                )
            except RuntimeError as error:
                print(f"{method} at {size}: failed: {str(error)[-300:]}")
                continue
            print(f"{size} {method}: {results[method]['seconds']:.2f} s", flush=True)
        fastest_peer = min(
            (
                r["seconds"]
                for m, r in results.items()
                if not m.startswith("oversample")
            ),
            default=None,
        )
        for method, r in results.items():
            rows.append(
                {
                    "samples": size,
                    "method": method,
                    "epoch_s": r["seconds"],
                    "vs_fastest_peer": r["seconds"] / fastest_peer
                    if fastest_peer
                    else None,
                    "peak_rss_mib": r["peak_rss_mib"],
                    "indices": r["total"],
                    "exact_class_totals": r["exact"],
                    "max_class_error": r["max_class_error"],
                }
            )
    meta = {
        "classes": args.classes,
        "repeats": args.repeats,
        "note": "peak RSS includes the labels and the plan built in each child",
    }
    path = write_results("sampler", rows, meta, out_folder(args.out))
    print(path.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
