"""Streaming job: balance the 100-class long-tailed TFRecord dataset to its
largest class, by every method people use, each in its own process.

Run: python benchmarks/bench_stream.py [--budget 20] [--repeats 3] [--classes 100]
Writes benchmarks/results/stream.{json,md}.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from typing import Any

import numpy as np
from _common import out_folder, run_in_child, write_results

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

BATCH = 256
METHODS = [
    "plain pass",
    "ds.repeat() to the same size",
    "hand-written flat_map + StaticHashTable, ceil",
    "list(ds) + duplicate in Python",
    "imbalanced-learn RandomOverSampler",
    "TF tutorial: filter per class + sample_from_datasets",
    "rejection_resample",
    "oversample.balance exact, counts given",
    "oversample.balance exact, counting pass",
    "oversample.balance stochastic, counts given",
    "oversample.balance exact, counts given, spread=None",
    "oversample.balance exact, counts given, spread=64MiB",
    "oversample.balance exact, counts given, spread=32MiB",
    "oversample.balance exact, counts given, spread=16MiB",
]
SLOW = {METHODS[5], METHODS[6]}
BUDGETS = {"None": None, "64MiB": "64MiB", "32MiB": "32MiB", "16MiB": "16MiB"}


def _handwritten(ds: Any, counts: dict[int, int]) -> Any:
    """The common recipe: ceil(max / count) copies per sample, shuffle(10000)."""
    import tensorflow as tf

    largest = max(counts.values())
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(list(counts), tf.int64),
            tf.constant([math.ceil(largest / n) for n in counts.values()], tf.int64),
        ),
        default_value=1,
    )
    repeated = ds.flat_map(
        lambda e: tf.data.Dataset.from_tensors(e).repeat(table.lookup(e["label"]))
    )
    return repeated.shuffle(10_000)


def _materialised(ds: Any, counts: dict[int, int], use_imblearn: bool) -> Any:
    import tensorflow as tf

    rows = list(ds.as_numpy_iterator())
    images = np.stack([r["image"] for r in rows])
    labels = np.array([r["label"] for r in rows])
    ids = np.array([r["id"] for r in rows])
    if use_imblearn:
        from imblearn.over_sampling import RandomOverSampler

        sampler = RandomOverSampler(random_state=0)
        flat, labels = sampler.fit_resample(images.reshape(len(rows), -1), labels)
        images = flat.reshape(-1, 32, 32, 3)
        ids = ids[sampler.sample_indices_]
    else:
        largest = max(counts.values())
        factor = np.array([math.ceil(largest / counts[int(y)]) for y in labels])
        chosen = np.repeat(np.arange(len(rows)), factor)
        images, labels, ids = images[chosen], labels[chosen], ids[chosen]
    features = {"image": images, "label": labels, "id": ids}
    return tf.data.Dataset.from_tensor_slices(features).shuffle(10_000)


def _pipeline(method: str, paths: list[str], counts: dict[int, int]) -> Any:
    import tensorflow as tf
    from longtail import dataset

    import oversample as ovs

    ds = dataset(paths)
    total = len(counts) * max(counts.values())
    if method == "plain pass":
        return ds
    if method == "ds.repeat() to the same size":
        return ds.repeat().take(total)
    if method.startswith("hand-written"):
        return _handwritten(ds, counts)
    if method.startswith("list(ds)"):
        return _materialised(ds, counts, use_imblearn=False)
    if method.startswith("imbalanced-learn"):
        return _materialised(ds, counts, use_imblearn=True)
    if method.startswith("TF tutorial"):
        per_class = [ds.filter(lambda e, c=c: e["label"] == c).repeat() for c in counts]
        weights = [1 / len(counts)] * len(counts)
        return tf.data.Dataset.sample_from_datasets(per_class, weights, seed=0).take(
            total
        )
    if method == "rejection_resample":
        size = sum(counts.values())
        initial = [counts[c] / size for c in sorted(counts)]
        target = [1 / len(counts)] * len(counts)
        resampled = ds.repeat().rejection_resample(
            lambda e: tf.cast(e["label"], tf.int32), target, initial, seed=0
        )
        return resampled.map(lambda _, e: e).take(total)
    if method.startswith("oversample.balance exact, counts given, spread="):
        budget = BUDGETS[method.rpartition("=")[2]]
        return ovs.balance(ds, counts=counts, seed=0, spread=budget)
    if method == "oversample.balance exact, counts given":
        return ovs.balance(ds, counts=counts, seed=0)
    if method == "oversample.balance exact, counting pass":
        return ovs.balance(ds, seed=0)
    if method == "oversample.balance stochastic, counts given":
        return ovs.balance(ds, counts=counts, seed=0, rounding="stochastic")
    raise ValueError(method)


def measure(
    method: str, classes: int, largest: int, repeats: int, budget: float
) -> dict[str, Any]:
    """Runs one method (in a child process); returns its figures."""
    from longtail import labels_for, write

    paths = write(classes=classes, largest=largest)
    labels = labels_for(classes=classes, largest=largest)
    values, sizes = np.unique(labels, return_counts=True)
    counts = {int(v): int(n) for v, n in zip(values, sizes, strict=True)}
    runs = []
    for _ in range(1 if method in SLOW else repeats):
        started = time.perf_counter()
        pipeline = _pipeline(method, paths, counts)
        produced = np.zeros(classes, np.int64)
        batches = duplicates = repeats = elements = 0
        first = None
        for batch in pipeline.batch(BATCH):
            ids, got = batch["id"].numpy(), batch["label"].numpy()
            first = first or time.perf_counter() - started
            produced += np.bincount(got, minlength=classes)
            elements += ids.size
            if ids.size == BATCH:
                batches += 1
                unique = np.unique(ids).size
                duplicates += unique < ids.size
                repeats += ids.size - unique
            if method in SLOW and time.perf_counter() - started > budget:
                break
        seconds = time.perf_counter() - started
        batches = max(batches, 1)
        report = getattr(pipeline, "spread", None)
        runs.append(
            (
                seconds,
                first,
                elements,
                produced,
                duplicates / batches,
                repeats / batches,
            )
        )
    seconds = statistics.median(r[0] for r in runs)
    _, first, elements, produced, shared, repeated = runs[-1]
    target = classes * max(counts.values())
    complete = elements >= target or method in {"plain pass"}
    return {
        "seconds": seconds,
        "elements": int(elements),
        "elements_per_s": elements / seconds,
        "setup_s": first,
        "min_class": int(produced.min()),
        "max_class": int(produced.max()),
        "overshoot": (elements - target) / target if complete else None,
        "dup_batches": shared,
        "repeats_per_batch": repeated,
        "complete": bool(complete),
        "held_mib": report.held_bytes / 2**20 if report else None,
        "held_share": report.held_share if report else None,
    }


def global_shuffle_reference(classes: int, largest: int) -> tuple[float, float]:
    """The same multiset as oversample's epoch, globally shuffled: the floor
    for a bounded-memory stream. Returns (share of batches, repeats per batch)."""
    from longtail import labels_for

    import oversample as ovs

    order = ovs.plan(labels_for(classes=classes, largest=largest), seed=0).indices(0)
    batches = order[: order.size // BATCH * BATCH].reshape(-1, BATCH)
    unique = np.array([np.unique(b).size for b in batches])
    return float(np.mean(unique < BATCH)), float(np.mean(BATCH - unique))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--budget", type=float, default=20.0, help="seconds for slow methods"
    )
    parser.add_argument("--methods", nargs="*", default=METHODS)
    parser.add_argument("--largest", type=int, default=2000)
    parser.add_argument(
        "--out", default=None, help="results folder (default: results/)"
    )
    args = parser.parse_args()
    results = {}
    for method in args.methods:
        # NOTE: one run per process, so that peak RSS is one run's and repeats
        # do not inherit each other's memory; times are the median over runs.
        runs = [
            run_in_child(
                "bench_stream",
                "measure",
                method=method,
                classes=args.classes,
                largest=args.largest,
                repeats=1,
                budget=args.budget,
            )
            for _ in range(1 if method in SLOW else args.repeats)
        ]
        results[method] = {
            **runs[-1],
            "seconds": statistics.median(r["seconds"] for r in runs),
            "elements_per_s": statistics.median(r["elements_per_s"] for r in runs),
            "peak_rss_mib": statistics.median(r["peak_rss_mib"] for r in runs),
        }
        print(
            f"{method}: {results[method]['elements_per_s']:,.0f} elements/s", flush=True
        )
    handwritten = results.get(METHODS[2])
    plain = results.get(METHODS[0])
    rows = []
    for method, r in results.items():
        rows.append(
            {
                "method": method,
                "elements_per_s": r["elements_per_s"],
                "time_s": r["seconds"] if r["complete"] else None,
                "time_vs_handwritten": (
                    r["seconds"] / handwritten["seconds"]
                    if handwritten and r["complete"]
                    else None
                ),
                "setup_s": r["setup_s"],
                "peak_rss_mib": r["peak_rss_mib"],
                "rss_vs_plain": r["peak_rss_mib"] / plain["peak_rss_mib"]
                if plain
                else None,
                "min_class": r["min_class"],
                "max_class": r["max_class"],
                "overshoot": r["overshoot"],
                "dup_batches": r["dup_batches"],
                "repeats_per_batch": r["repeats_per_batch"],
                "held_mib": r["held_mib"],
                "held_share": r["held_share"],
                "peak_over_plain_and_held_mib": (
                    r["peak_rss_mib"] - plain["peak_rss_mib"] - (r["held_mib"] or 0)
                    if plain
                    else None
                ),
            }
        )
    share, repeats = global_shuffle_reference(args.classes, args.largest)
    rows.append(
        {
            **{k: None for k in rows[0]},
            "method": "global shuffle of oversample's epoch (reference)",
            "dup_batches": share,
            "repeats_per_batch": repeats,
        }
    )
    meta = {
        "classes": args.classes,
        "target_per_class": args.largest,
        "batch": BATCH,
        "repeats": args.repeats,
        "budget_s_for_slow_methods": args.budget,
        "note": "one run per process; time and peak RSS are medians over runs of"
        " one full epoch incl. setup; slow methods run once under the budget and"
        " report their rate",
    }
    path = write_results("stream", rows, meta, out_folder(args.out))
    print(path.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
