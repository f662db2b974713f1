"""Ray Data: one balanced epoch of 100 long-tailed classes on a local Ray
cluster (2 CPUs), by `oversample` and by the recipes Ray users write by hand.

Parquet files of N rows (an id, the label, 8 float features), the classes
exponentially long-tailed (largest / smallest = 100), every class raised to
the largest ("not majority"). Counts are given to every method (counting is
timed apart: `ovs.count_labels` against `groupby("label").count()`).
Measured per method: rows out, the sum over classes of |count - target|,
seconds to stream the epoch to the driver (median of `--repeats`, the
methods interleaved so that a slow spell hits all), and the repeated samples
per batch of 256 (the mean over batches of batch size minus distinct ids),
against a global shuffle of the same exact epoch. The two per-class recipes
read the files once per class and run once (minutes each); the others are
medians.

Recipes: `groupby(label).map_groups` repeating each group ceil(max / count)
times; a `filter` per class repeated ceil times, and the classes `union`ed;
a `filter` per class with floor copies plus `random_sample` of the rest.

Run: python benchmarks/bench_ray.py [--scale 1] [--repeats 3] [--classes 100]
Writes benchmarks/results/ray.{json,md}.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
from typing import Any

import numpy as np
from _common import out_folder, run_in_child, write_results

BATCH = 256
CLASSES = 100
FILES = 20
METHODS = [
    "oversample, global order (random_shuffle)",
    "oversample, cheap order (in-task shuffle + block order + local buffer)",
    "groupby(label).map_groups, ceil factors",
    "filter per class + union, ceil factors",
    "filter per class + random_sample for the fraction",
]
SLOW = set(METHODS[3:])


def _sizes(rows: int, classes: int) -> np.ndarray:
    shape = 100.0 ** (-np.arange(classes) / (classes - 1))
    return np.maximum(1, np.round(rows * shape / shape.sum())).astype(np.int64)


def _write(folder: str, rows: int, classes: int) -> tuple[list[str], np.ndarray]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sizes = _sizes(rows, classes)
    labels = np.random.default_rng(0).permutation(np.repeat(np.arange(classes), sizes))
    features = np.random.default_rng(1).normal(size=(labels.size, 8))
    files = []
    for i, part in enumerate(np.array_split(np.arange(labels.size), FILES)):
        columns = {f"x{j}": features[part, j].astype(np.float32) for j in range(8)}
        path = os.path.join(folder, f"part-{i:03d}.parquet")
        pq.write_table(pa.table({"id": part, "label": labels[part], **columns}), path)
        files.append(path)
    return files, labels


def _repeat(times: dict[int, int]):
    def repeat(batch: Any) -> Any:
        k = np.asarray([times[int(v)] for v in batch["label"]], np.int64)
        rows = np.repeat(np.arange(k.size), k)
        return {name: np.asarray(column)[rows] for name, column in batch.items()}

    return repeat


def _recipes(files: list[str], counts: dict[int, int]) -> dict[str, Any]:
    import ray.data
    from ray.data.expressions import col

    top = max(counts.values())
    ceil = {c: math.ceil(top / n) for c, n in counts.items()}
    floor = {c: top // n for c, n in counts.items()}

    def groupby() -> Any:
        ds = ray.data.read_parquet(files)
        return ds.groupby("label").map_groups(_repeat(ceil), batch_format="numpy")

    def filters(fraction: bool) -> Any:
        ds = ray.data.read_parquet(files)
        parts = []
        for c in sorted(counts):
            one = ds.filter(expr=col("label") == c)
            if fraction:
                rest = top / counts[c] - floor[c]
                whole = one.map_batches(_repeat({c: floor[c]}), batch_format="numpy")
                parts += [whole, one.random_sample(rest, seed=c)] if rest else [whole]
            else:
                parts.append(
                    one.map_batches(_repeat({c: ceil[c]}), batch_format="numpy")
                )
        return parts[0].union(*parts[1:])

    return {
        METHODS[2]: groupby,
        METHODS[3]: lambda: filters(False),
        METHODS[4]: lambda: filters(True),
    }


def _stream(ds: Any, local: int | None) -> tuple[np.ndarray, np.ndarray]:
    ids, labels = [], []
    for batch in ds.iter_batches(
        batch_size=BATCH,
        batch_format="numpy",
        local_shuffle_buffer_size=local,
        local_shuffle_seed=0 if local else None,
    ):
        ids.append(batch["id"])
        labels.append(batch["label"])
    return np.concatenate(ids), np.concatenate(labels)


def _repeated(ids: np.ndarray) -> float:
    whole = ids[: ids.size // BATCH * BATCH].reshape(-1, BATCH)
    distinct = [np.unique(row).size for row in whole]
    return round(float(BATCH - np.mean(distinct)), 2)


def measure(rows: int, classes: int, repeats: int) -> dict[str, Any]:
    """Every method on one local cluster (in a child process)."""
    import logging

    import pyarrow.parquet as pq
    import ray

    import oversample as ovs

    ray.init(
        address="local",  # a new cluster, even where RAY_ADDRESS names another
        num_cpus=2,
        include_dashboard=False,
        logging_level=logging.ERROR,
    )
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    try:
        with tempfile.TemporaryDirectory() as folder:
            files, labels = _write(folder, rows, classes)
            shards = ovs.Shards(files, read=pq.read_table, engine="ray")
            start = time.perf_counter()
            counts = ovs.count_labels(shards)
            count_ovs = time.perf_counter() - start
            start = time.perf_counter()
            ray.data.read_parquet(files).groupby("label").count().take_all()
            count_groupby = time.perf_counter() - start
            plan = ovs.plan(labels, seed=0)
            targets = np.asarray([plan.targets[c] for c in range(classes)])
            build = {
                METHODS[0]: (
                    lambda: ovs.balance(shards, counts=counts, seed=0, epoch=0),
                    None,
                ),
                METHODS[1]: (
                    lambda: ovs.balance(
                        shards, counts=counts, seed=0, epoch=0, shuffle_buffer=4096
                    ),
                    4096,
                ),
                **{
                    name: (fn, None)
                    for name, fn in _recipes(files, plan.counts).items()
                },
            }
            times: dict[str, list[float]] = {name: [] for name in METHODS}
            out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
            for repeat in range(repeats):
                for name in METHODS:
                    if repeat and name in SLOW:
                        continue
                    make, local = build[name]
                    start = time.perf_counter()
                    out[name] = _stream(make(), local)
                    times[name].append(time.perf_counter() - start)
            epoch = out[METHODS[0]][0]
            reference = np.random.default_rng(1).permutation(epoch)
            result = {
                "rows": int(labels.size),
                "target rows": int(targets.sum()),
                "count seconds oversample": round(count_ovs, 2),
                "count seconds groupby": round(count_groupby, 2),
                "reference repeated per batch": _repeated(reference),
                "exact": bool(
                    (np.bincount(epoch, minlength=labels.size) == plan.copies(0)).all()
                ),
                "methods": {},
            }
            for name in METHODS:
                ids, got = out[name]
                per_class = np.bincount(got, minlength=classes)[:classes]
                result["methods"][name] = {
                    "rows out": int(ids.size),
                    "off target": int(np.abs(per_class - targets).sum()),
                    "seconds": round(statistics.median(times[name]), 2),
                    "repeated per batch": _repeated(ids),
                }
            return result
    finally:
        ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--classes", type=int, default=CLASSES)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    rows = max(args.classes * 10, int(100_000 * args.scale))
    found = run_in_child(
        "bench_ray", "measure", rows=rows, classes=args.classes, repeats=args.repeats
    )
    fastest_recipe = min(found["methods"][name]["seconds"] for name in METHODS[2:])
    table = []
    for name in METHODS:
        figures = found["methods"][name]
        table.append(
            {
                "method": name,
                "rows out": figures["rows out"],
                "off target (rows)": figures["off target"],
                "seconds (median)": figures["seconds"],
                "x fastest recipe": round(figures["seconds"] / fastest_recipe, 2),
                "repeated per batch": figures["repeated per batch"],
            }
        )
    table.append(
        {
            "method": "global shuffle of the exact epoch (reference)",
            "rows out": found["target rows"],
            "off target (rows)": 0,
            "seconds (median)": None,
            "x fastest recipe": None,
            "repeated per batch": found["reference repeated per batch"],
        }
    )
    meta = {
        "rows": found["rows"],
        "classes": args.classes,
        "files": FILES,
        "target rows": found["target rows"],
        "oversample exact sample by sample": found["exact"],
        "count seconds: ovs.count_labels": found["count seconds oversample"],
        "count seconds: groupby().count()": found["count seconds groupby"],
        "repeats": args.repeats,
        "peak_rss_mib": round(found["peak_rss_mib"], 1),
    }
    path = write_results("ray", table, meta, out_folder(args.out))
    print(path.with_suffix(".md").read_text())
    for key, value in meta.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
