"""Random-access job: one epoch of indices at 10^6 and 10^7 labels, 1,000
classes, balanced to the largest class, by the Sampler and by its peers.

Run: python benchmarks/bench_sampler.py [--sizes 1000000 10000000] [--repeats 3]
Writes benchmarks/results/sampler.{json,md}. Each method runs in its own process.
`--construction 10000000 100000000` measures only planning, building the Sampler
and its first index (seconds; bytes per sample beyond the labels, peak and kept)
into benchmarks/results/sampler_construction.{json,md}.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
from _common import (
    median_seconds,
    out_folder,
    reset_peak,
    run_in_child,
    status_mib,
    write_results,
)

METHODS = [
    "oversample.Sampler (iterate)",
    "oversample.BatchSampler 256 (iterate)",
    "oversample.Sampler.indices (array)",
    "oversample.Sampler.indices, NumPy only",
    "oversample.Sampler[i] (per call)",
    "Grain MapDataset.source(sampler)",
    "Grain MapDataset.source(array)",
    "ready Python list (iterate)",
    "np.repeat + shuffle (copies given)",
    "np.repeat + rng.permutation (copies given)",
    "torch WeightedRandomSampler (iterate)",
    "imbalanced-learn RandomOverSampler",
]
CALLS = 200_000  # sampler[i] calls timed
GRAIN_READS = 20_000  # Grain elements read per run


def labels_for(samples: int, classes: int) -> np.ndarray:
    profile = 100.0 ** (-np.arange(classes) / max(classes - 1, 1))
    sizes = np.maximum(1, np.floor(profile / profile.sum() * samples)).astype(np.int64)
    sizes[0] += samples - sizes.sum()
    labels = np.repeat(np.arange(classes, dtype=np.int64), sizes)
    return np.random.default_rng(0).permutation(labels)


def measure(method: str, samples: int, classes: int, repeats: int) -> dict[str, Any]:
    import oversample as ovs

    if method.startswith(("oversample", "Grain")):
        # NOTE: a process pays once for loading the compiled loops; a tiny
        # plan loads them here, outside the timing and the memory figures.
        warm = ovs.Sampler(ovs.plan(np.arange(64) % 4, seed=0))
        warm.indices(), warm[0], warm._getitems([0, 1])
    labels = labels_for(samples, classes)
    plan = ovs.plan(labels, seed=0)
    plan.copies(0)  # builds the per-sample order that every method shares
    counts = np.bincount(labels)
    produced: list[np.ndarray] = []
    totals = np.zeros(classes, np.int64)
    calls = None

    if method == "oversample.Sampler (iterate)":

        def run() -> None:
            sampler = ovs.Sampler(plan)
            # NOTE: what a DataLoader does: take Python ints one at a time.
            for _ in sampler:
                pass

    elif method.startswith("oversample.BatchSampler"):

        def run() -> None:
            for _ in ovs.BatchSampler(ovs.Sampler(plan), 256):
                pass

    elif method.startswith("oversample.Sampler.indices"):
        if "NumPy" in method:
            from oversample.index import order as _order

            _order.use_kernels = False

        def run() -> None:
            produced[:] = [ovs.Sampler(plan).indices()]

    elif method.startswith("oversample.Sampler[i]"):
        sampler = ovs.Sampler(plan)
        sampler[0]
        steps = range(0, len(sampler), max(1, len(sampler) // CALLS))
        calls = len(steps)

        def run() -> None:
            for i in steps:
                sampler[i]

    elif method.startswith("Grain"):
        import grain

        sampler = ovs.Sampler(plan)
        source = sampler if method.endswith("(sampler)") else sampler.indices()
        calls = min(GRAIN_READS, len(sampler))

        def run() -> None:
            dataset = grain.MapDataset.source(source)
            for i in range(min(GRAIN_READS, len(dataset))):
                dataset[i]

    elif method.startswith("ready Python list"):
        ready = ovs.Sampler(plan).indices().tolist()

        def run() -> None:
            for _ in ready:
                pass

    elif method.startswith("np.repeat"):
        copies = plan.copies(0)

        def run() -> None:
            order = np.repeat(np.arange(labels.size), copies)
            rng = np.random.default_rng(0)
            if "permutation" in method:
                order = rng.permutation(order)
            else:
                rng.shuffle(order)
            produced[:] = [order]

    elif method.startswith("torch"):
        import torch
        from torch.utils.data import WeightedRandomSampler

        weights = torch.as_tensor(1.0 / counts[labels], dtype=torch.double)

        def run() -> None:
            sampler = WeightedRandomSampler(weights, num_samples=plan.total)
            produced[:] = [np.fromiter(sampler, np.int64, count=plan.total)]

    else:
        from imblearn.over_sampling import RandomOverSampler

        def run() -> None:
            sampler = RandomOverSampler(random_state=0)
            sampler.fit_resample(np.arange(labels.size).reshape(-1, 1), labels)
            produced[:] = [sampler.sample_indices_]

    def timed() -> None:
        produced.clear()  # one epoch alive at a time, as in a training loop
        run()

    reset_peak()
    before = status_mib("VmRSS")
    seconds, _ = median_seconds(timed, repeats)
    peak = status_mib("VmHWM")
    if method == "oversample.Sampler (iterate)":  # exactness, after the timing
        for _, piece in ovs.Sampler(plan)._pieces(0, 1 << 20):
            totals += np.bincount(labels[piece], minlength=classes)
    if produced:
        totals = np.bincount(labels[produced[-1]], minlength=classes)
    target = counts.max()
    return {
        "seconds": seconds,
        "us_per_call": seconds / calls * 1e6 if calls else None,
        "rss_before_mib": before,
        "rise_mib": peak - before,
        "total": int(totals.sum()),
        "max_class_error": float(np.abs(totals - target).max() / target),
        "exact": bool((totals == target).all()),
    }


def construction(samples: int, classes: int) -> dict[str, Any]:
    """Planning and building a Sampler over `samples` long-tailed labels
    (int64), then its first index: seconds, and bytes per source sample
    beyond the labels (peak and kept RSS, in this one process)."""
    import time

    import oversample as ovs

    warm = ovs.Sampler(ovs.plan(np.arange(64) % 4, seed=0))
    warm[0]  # the compiled loops load outside the timing
    labels = labels_for(samples, classes)
    reset_peak()
    before = status_mib("VmRSS")
    start = time.perf_counter()
    plan = ovs.plan(labels, strategy="sqrt", seed=0)
    planned = time.perf_counter() - start
    sampler = ovs.Sampler(plan)
    built = time.perf_counter() - start
    start = time.perf_counter()
    sampler[samples // 3]
    first = time.perf_counter() - start
    per_sample = 2**20 / samples
    return {
        "samples": samples,
        "classes": classes,
        "plan_s": planned,
        "construction_s": built,
        "first_index_ms": first * 1e3,
        "peak_bytes_per_sample": (status_mib("VmHWM") - before) * per_sample,
        "kept_bytes_per_sample": (status_mib("VmRSS") - before) * per_sample,
    }


def _best(results: dict[str, dict[str, Any]], prefix: str) -> float | None:
    found = [r["seconds"] for m, r in results.items() if m.startswith(prefix)]
    return min(found) if found else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000_000, 10_000_000])
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--methods", nargs="*", default=METHODS)
    parser.add_argument(
        "--construction",
        type=int,
        nargs="*",
        default=None,
        help="only plan + Sampler + first index at these sizes, each in its own"
        " process (results/sampler_construction.{json,md})",
    )
    parser.add_argument(
        "--out", default=None, help="results folder (default: results/)"
    )
    args = parser.parse_args()
    if args.construction:
        built = [
            run_in_child(
                "bench_sampler", "construction", samples=n, classes=args.classes
            )
            for n in args.construction
        ]
        meta = {"note": "bytes per source sample beyond the labels, RSS in one child"}
        path = write_results("sampler_construction", built, meta, out_folder(args.out))
        print(path.with_suffix(".md").read_text())
        return
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

        repeat = _best(results, "np.repeat")
        ready = _best(results, "ready Python list")
        for method, r in results.items():
            iterates = "(iterate)" in method and method.startswith("oversample")
            rows.append(
                {
                    "samples": size,
                    "method": method,
                    "epoch_s": None if r["us_per_call"] else r["seconds"],
                    "us_per_call": r["us_per_call"],
                    "vs_np_repeat": r["seconds"] / repeat
                    if repeat and not r["us_per_call"]
                    else None,
                    "vs_ready_list": r["seconds"] / ready
                    if ready and iterates
                    else None,
                    "peak_rss_mib": r["peak_rss_mib"],
                    "rise_mib": r["rise_mib"],
                    "indices": r["total"] or None,
                    "exact_class_totals": r["exact"] if r["total"] else None,
                    "max_class_error": r["max_class_error"] if r["total"] else None,
                }
            )
    meta = {
        "classes": args.classes,
        "repeats": args.repeats,
        "note": "peak_rss_mib: the child's whole life (labels, plan, imports);"
        " rise_mib: the peak during the timed runs minus the RSS before them",
        "grain_reads": GRAIN_READS,
        "calls": CALLS,
    }
    path = write_results("sampler", rows, meta, out_folder(args.out))
    print(path.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
