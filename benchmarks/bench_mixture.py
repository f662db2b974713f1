"""Mixing job: four sources at rates between 0.3 and 5 epochs per epoch of the
mixture, by the tools people use, each method in its own process.

Measured per method: the largest deviation of a source's count from its target
over one epoch, the per-batch deviation (mean over batches of the largest
|count - batch * share| of any source, and its worst), and the time per
element (median of `--repeats` runs). A global shuffle of the exact epoch is
the reference for the per-batch figure. LitData and MosaicML Streaming are
not measured: installing them here pulls a CUDA build of torch (several GB)
over the CPU wheel.

Run: python benchmarks/bench_mixture.py [--scale 1] [--repeats 3]
Writes benchmarks/results/mixture.{json,md}.
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
SOURCES = {
    "web": (40_000, 0.5),
    "code": (10_000, 2.0),
    "books": (8_000, 0.3),
    "math": (2_000, 5.0),
}
METHODS = [
    "global shuffle of the exact epoch (reference)",
    "tf.data sample_from_datasets(weights)",
    "oversample.mix (tf.data)",
    "oversample.mix (tf.data), stratified=256",
    "HF interleave_datasets(probabilities, all_exhausted)",
    "Grain MapDataset.mix(weights) over repeated sources",
    "oversample.mix (Python, HF datasets)",
    "oversample.mix (Python, HF datasets), stratified=256",
]


def _sizes(scale: float) -> dict[str, tuple[int, float]]:
    return {name: (max(1, int(n * scale)), r) for name, (n, r) in SOURCES.items()}


def _targets(sizes: dict[str, tuple[int, float]]) -> np.ndarray:
    return np.asarray([math.floor(n * r + 0.5) for n, r in sizes.values()])


def _figures(sources: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    counts = np.bincount(sources, minlength=targets.size)[: targets.size]
    shares = targets / targets.sum()
    whole = sources[: sources.size // BATCH * BATCH].reshape(-1, BATCH)
    per = np.stack([(whole == s).sum(axis=1) for s in range(targets.size)], axis=1)
    deviation = np.abs(per - BATCH * shares[None]).max(axis=1)
    return {
        "epoch deviation (samples)": int(
            np.abs(counts[: targets.size] - targets).max()
        ),
        "batch deviation mean": round(float(deviation.mean()), 2),
        "batch deviation worst": round(float(deviation.max()), 2),
    }


def measure(method: str, scale: float, repeats: int) -> dict[str, Any]:
    """Runs one method (in a child process) and returns its figures."""
    sizes = _sizes(scale)
    targets = _targets(sizes)
    total = int(targets.sum())
    run = _runner(method, sizes, total)
    times, sources = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        sources = run()
        times.append(time.perf_counter() - start)
    assert sources is not None
    return {
        **_figures(sources, targets),
        "us per element": round(statistics.median(times) / sources.size * 1e6, 2),
        "elements": int(sources.size),
    }


def _runner(method: str, sizes: dict[str, tuple[int, float]], total: int) -> Any:
    rows = {
        name: (
            np.full(n, i, np.int64),
            np.random.default_rng(i).random((n, 32), np.float32),
        )
        for i, (name, (n, _)) in enumerate(sizes.items())
    }
    targets = _targets(sizes)
    shares = (targets / targets.sum()).tolist()
    rates = {name: r for name, (_, r) in sizes.items()}
    if method == METHODS[0]:
        from oversample.core.mixture import mixture

        found = mixture({n: s for n, (s, _) in sizes.items()}, rates, seed=0)
        epoch = found.schedule()
        return lambda: np.random.default_rng(0).permutation(epoch)
    if "tf.data" in method:
        import tensorflow as tf

        import oversample as ovs

        datasets = {
            name: tf.data.Dataset.from_tensor_slices({"source": s, "x": x})
            for name, (s, x) in rows.items()
        }
        if method == METHODS[1]:
            repeated = [ds.repeat() for ds in datasets.values()]
            out = tf.data.Dataset.sample_from_datasets(repeated, shares, seed=0).take(
                total
            )
        else:
            stratified = BATCH if "stratified" in method else None
            out = ovs.mix(datasets, rates, seed=0, stratified=stratified)

        def tf_run() -> np.ndarray:
            return np.concatenate(
                [b["source"] for b in out.batch(BATCH).prefetch(2).as_numpy_iterator()]
            )

        return tf_run
    import datasets as hf

    tables = {
        name: hf.Dataset.from_dict({"source": s, "x": x}).with_format("numpy")
        for name, (s, x) in rows.items()
    }
    if method == METHODS[4]:

        def hf_run() -> np.ndarray:
            mixed = hf.interleave_datasets(
                list(tables.values()),
                probabilities=shares,
                seed=0,
                stopping_strategy="all_exhausted",
            )
            return np.asarray([row["source"] for row in mixed.select_columns("source")])

        return hf_run
    if method == METHODS[5]:
        import grain

        def grain_run() -> np.ndarray:
            parts = [
                grain.MapDataset.source(list(range(n)))
                .repeat(math.ceil(r))
                .map(lambda _, i=i: i)
                for i, (n, r) in enumerate(sizes.values())
            ]
            mixed = grain.MapDataset.mix(parts, shares)
            return np.asarray([mixed[i] for i in range(min(total, len(mixed)))])

        return grain_run
    import oversample as ovs

    stratified = BATCH if "stratified" in method else None
    stream = ovs.mix(
        {n: t.select_columns("source") for n, t in tables.items()},
        rates,
        seed=0,
        stratified=stratified,
    )
    return lambda: np.asarray([int(row["source"]) for row in stream])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    rows = []
    for method in METHODS:
        result = run_in_child(
            "bench_mixture",
            "measure",
            method=method,
            scale=args.scale,
            repeats=args.repeats,
        )
        peak = round(result.pop("peak_rss_mib"))
        rows.append({"method": method, **result, "peak RSS MiB": peak})
        print(rows[-1], flush=True)
    reference = next(r for r in rows if r["method"] == METHODS[1])["us per element"]
    for row in rows:
        row["time / sample_from_datasets"] = (
            round(row["us per element"] / reference, 2)
            if "tf.data" in row["method"]
            else "-"
        )
    sizes = _sizes(args.scale)
    meta = {
        "sources": {n: {"size": s, "rate": r} for n, (s, r) in sizes.items()},
        "batch": BATCH,
        "repeats": args.repeats,
        "note": "LitData and MosaicML Streaming not measured: they pull a CUDA torch.",
    }
    write_results("mixture", rows, meta, out_folder(args.out))


if __name__ == "__main__":
    main()
