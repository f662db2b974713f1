"""Batches by class: one epoch of `ovs.BatchSampler` stratified by class and m
per class against plain batches of the same Sampler, in alternating rounds.

Run: python benchmarks/bench_class_batches.py [--samples 1000000]
     [--classes 10 1000] [--batch 256] [--rounds 5]
Writes benchmarks/results/class_batches.{json,md}. Each number of classes runs
in its own process; inside it the three methods take turns, each round timing
one epoch of each, and the ratio to plain batches is the median of the
rounds' ratios. The memory rise is measured after the rounds, one method at a
time.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np
from _common import out_folder, reset_peak, run_in_child, status_mib, write_results
from bench_sampler import labels_for


def per_class_m(batch: int, classes: int, wanted: int) -> int:
    """`wanted`, or the smallest divisor of `batch` above it that asks for no
    more classes in a batch than there are."""
    return next(
        m for m in range(wanted, batch + 1) if batch % m == 0 and batch // m <= classes
    )


def measure(
    samples: int, classes: int, batch: int, rounds: int, m: int
) -> dict[str, Any]:
    import oversample as ovs

    warm = ovs.Sampler(ovs.plan(np.arange(64) % 4, seed=0))
    warm.indices()  # loads the compiled loops outside the timing
    labels = labels_for(samples, classes)
    plan = ovs.plan(labels, seed=0)
    plan.copies(0)
    settings = {
        "plain": {},
        "stratified": {"stratified": True},
        f"samples_per_class={m}": {"samples_per_class": m},
    }

    def epoch(kwargs: dict[str, Any]) -> int:
        return sum(1 for _ in ovs.BatchSampler(ovs.Sampler(plan), batch, **kwargs))

    times: dict[str, list[float]] = {name: [] for name in settings}
    batches = epoch({})
    for _ in range(rounds):
        for name, kwargs in settings.items():
            start = time.perf_counter()
            epoch(kwargs)
            times[name].append(time.perf_counter() - start)
    rises = {}
    for name, kwargs in settings.items():
        reset_peak()
        before = status_mib("VmRSS")
        epoch(kwargs)
        rises[name] = status_mib("VmHWM") - before
    return {
        "indices": plan.total,
        "batches": batches,
        "times": times,
        "rise_mib": rises,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--classes", type=int, nargs="*", default=[10, 1000])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--per-class", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--out", default=None, help="results folder (default: results/)"
    )
    args = parser.parse_args()
    rows = []
    for classes in args.classes:
        m = per_class_m(args.batch, classes, args.per_class)
        found = run_in_child(
            "bench_class_batches",
            "measure",
            samples=args.samples,
            classes=classes,
            batch=args.batch,
            rounds=args.rounds,
            m=m,
        )
        plain = found["times"]["plain"]
        for method, times in found["times"].items():
            ratios = [t / p for t, p in zip(times, plain, strict=True)]
            seconds = statistics.median(times)
            rows.append(
                {
                    "classes": classes,
                    "method": method,
                    "indices": found["indices"],
                    "epoch_s": seconds,
                    "batches_per_s": found["batches"] / seconds,
                    "x_plain": statistics.median(ratios),
                    "rise_mib": found["rise_mib"][method],
                    "bytes_per_index": found["rise_mib"][method]
                    * 2**20
                    / found["indices"],
                }
            )
            print(f"{classes} {method}: {seconds:.3f} s", flush=True)
    meta = {
        "samples": args.samples,
        "batch": args.batch,
        "rounds": args.rounds,
        "note": "x_plain: median over rounds of (this method's epoch) / (plain"
        " batches' epoch in the same round); rise_mib: peak RSS during one epoch"
        " minus the RSS before it",
    }
    path = write_results("class_batches", rows, meta, out_folder(args.out))
    print(path.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
