"""Scaling of oversample.balance: time and peak memory at 10^4, 10^5 and 10^6
source elements (100 classes) and at 10, 1,000 and 100,000 classes (10^5
elements), next to a plain pass over the same source.

Run: python benchmarks/bench_scaling.py [--sizes ...] [--class-counts ...]
Writes benchmarks/results/scaling.{json,md}. Each run is its own process.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np
from _common import out_folder, run_in_child, write_results

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def labels_for(samples: int, classes: int) -> np.ndarray:
    """An exponential long tail (imbalance 100 where the sizes allow it)."""
    profile = 100.0 ** (-np.arange(classes) / max(classes - 1, 1))
    sizes = np.maximum(1, np.floor(profile / profile.sum() * samples)).astype(np.int64)
    sizes[0] += max(samples - int(sizes.sum()), 0)
    labels = np.repeat(np.arange(classes, dtype=np.int64), sizes)[:samples]
    return np.random.default_rng(0).permutation(labels)


def measure(method: str, samples: int, classes: int) -> dict[str, Any]:
    import tensorflow as tf

    import oversample as ovs

    labels = labels_for(samples, classes)
    values, sizes = np.unique(labels, return_counts=True)
    counts = {int(v): int(n) for v, n in zip(values, sizes, strict=True)}
    source = tf.data.Dataset.from_tensor_slices(labels).map(
        lambda y: {"image": tf.fill([8, 8, 3], tf.cast(y % 251, tf.uint8)), "label": y}
    )
    started = time.perf_counter()
    ds = (
        source if method == "plain pass" else ovs.balance(source, counts=counts, seed=0)
    )
    elements = 0
    for batch in ds.batch(1024):
        elements += int(batch["label"].shape[0])
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "elements": elements}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000]
    )
    parser.add_argument(
        "--class-counts", type=int, nargs="*", default=[10, 1000, 100_000]
    )
    parser.add_argument(
        "--out", default=None, help="results folder (default: results/)"
    )
    args = parser.parse_args()
    cases = [(n, 100) for n in args.sizes]
    middle = args.sizes[len(args.sizes) // 2]
    cases += [(middle, c) for c in args.class_counts if c != 100]
    rows = []
    for samples, classes in cases:
        plain = run_in_child(
            "bench_scaling",
            "measure",
            method="plain pass",
            samples=samples,
            classes=classes,
        )
        ours = run_in_child(
            "bench_scaling",
            "measure",
            method="balance",
            samples=samples,
            classes=classes,
        )
        print(f"{samples} x {classes}: {ours['seconds']:.1f} s", flush=True)
        rows.append(
            {
                "source_elements": samples,
                "classes": classes,
                "balanced_elements": ours["elements"],
                "balance_s": ours["seconds"],
                "elements_per_s": ours["elements"] / ours["seconds"],
                "plain_pass_s": plain["seconds"],
                "balance_rss_mib": ours["peak_rss_mib"],
                "plain_rss_mib": plain["peak_rss_mib"],
                "rss_ratio": ours["peak_rss_mib"] / plain["peak_rss_mib"],
            }
        )
    path = write_results(
        "scaling", rows, {"image": "8x8x3 uint8, generated"}, out_folder(args.out)
    )
    print(path.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
