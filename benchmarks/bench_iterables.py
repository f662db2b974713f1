"""Python streams: the per-element cost of balancing an iterable of 10^6 small
examples, against the bare iterable and a hand-written per-class duplicating
generator with ceil factors; in one process and in a DataLoader with 2
workers. Each method runs in its own process, every method once a round;
times are medians of the rounds.

Run: python benchmarks/bench_iterables.py [--samples 1000000] [--repeats 3]
Writes benchmarks/results/iterables.{json,md}.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import statistics
import time
from typing import Any

import numpy as np
from _common import out_folder, run_in_child, write_results

BATCH = 256
CLASSES = 100
METHODS = [
    "bare iterable",
    "hand-written generator, ceil",
    "oversample.balance, counts given",
    "oversample.balance, counts given, spread=None",
    "oversample.balance, counting pass",
    "DataLoader(2 workers): hand-written, ceil",
    "DataLoader(2 workers): oversample.balance, counts given",
    "oversample.balance, counts given (iterate only)",
    "oversample.balance, counts given, spread=None (iterate only)",
]
ONLY = " (iterate only)"  # the stream's own cost: built and iterated, no field read


def labels_for(samples: int) -> np.ndarray:
    """A long tail over 100 classes (imbalance 100), `samples` in all."""
    steps = np.arange(CLASSES) / (CLASSES - 1)
    shares = 100.0 ** (-steps)
    sizes = np.maximum(1, np.round(samples * shares / shares.sum())).astype(int)
    sizes[0] += samples - sizes.sum()
    return np.random.default_rng(0).permutation(np.repeat(np.arange(CLASSES), sizes))


class Examples:
    """Small examples made on the fly, as a reader of records makes them."""

    def __init__(self, labels: np.ndarray) -> None:
        self.labels = labels

    def __iter__(self) -> Any:
        for i, label in enumerate(self.labels.tolist()):
            yield {"label": label, "id": i}


def handwritten(source: Any, counts: dict[int, int], reader: int = 0, readers: int = 1):
    """The common recipe: ceil(max / count) copies of every example, in order;
    with several readers each keeps every readers-th example."""
    largest = max(counts.values())
    factor = {c: math.ceil(largest / n) for c, n in counts.items()}
    for position, example in enumerate(source):
        if position % readers == reader:
            for _ in range(factor[example["label"]]):
                yield example


def _loader_handwritten(labels: np.ndarray, counts: dict[int, int]) -> Any:
    import torch

    class Handwritten(torch.utils.data.IterableDataset):
        def __iter__(self) -> Any:
            info = torch.utils.data.get_worker_info()
            reader, readers = (0, 1) if info is None else (info.id, info.num_workers)
            return handwritten(Examples(labels), counts, reader, readers)

    return Handwritten()


def _stream(method: str, labels: np.ndarray, counts: dict[int, int]) -> Any:
    import oversample as ovs

    source = Examples(labels)
    if method == "bare iterable":
        return source
    if method.startswith("hand-written"):
        return handwritten(source, counts)
    if method.endswith("spread=None"):
        return ovs.balance(source, counts=counts, seed=0, epoch=0, spread=None)
    if method.endswith("counting pass"):
        return ovs.balance(source, seed=0, epoch=0)
    return ovs.balance(source, counts=counts, seed=0, epoch=0)


def measure(method: str, samples: int) -> dict[str, Any]:
    """One run of one method (in a child process)."""
    labels = labels_for(samples)
    values, sizes = np.unique(labels, return_counts=True)
    counts = dict(zip(values.tolist(), sizes.tolist(), strict=True))
    started = time.perf_counter()
    if method.endswith(ONLY):
        # NOTE: no element is read, so what remains is the stream's own cost
        # (a consumer that reads a field of elements met in a random order
        # pays cache misses that the spread causes but does not spend).
        elements = sum(1 for _ in _stream(method.removesuffix(ONLY), labels, counts))
        return {
            "seconds": time.perf_counter() - started,
            "elements": elements,
            **dict.fromkeys(["min_class", "max_class", "overshoot"]),
            "repeats_per_batch": None,
        }
    if method.startswith("DataLoader"):
        import torch

        import oversample as ovs

        dataset = (
            _loader_handwritten(labels, counts)
            if "hand-written" in method
            else ovs.balance(Examples(labels), counts=counts, seed=0, epoch=0)
        )
        loader = torch.utils.data.DataLoader(dataset, batch_size=BATCH, num_workers=2)
        batches = ([int(i) for i in batch["id"]] for batch in loader)
    else:
        stream = iter(_stream(method, labels, counts))
        batches = _batches(stream)
    produced = np.zeros(CLASSES, np.int64)
    elements = repeats = full = 0
    for ids in batches:
        elements += len(ids)
        produced += np.bincount(labels[ids], minlength=CLASSES)
        if len(ids) == BATCH:
            full += 1
            repeats += BATCH - len(set(ids))
    seconds = time.perf_counter() - started
    target = CLASSES * max(counts.values())
    balanced = method != "bare iterable"
    return {
        "seconds": seconds,
        "elements": elements,
        "min_class": int(produced.min()),
        "max_class": int(produced.max()),
        "overshoot": (elements - target) / target if balanced else None,
        "repeats_per_batch": repeats / max(full, 1),
    }


def _batches(stream: Any) -> Any:
    while True:
        ids = [example["id"] for _, example in zip(range(BATCH), stream, strict=False)]
        if not ids:
            return
        yield ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--methods", nargs="*", default=None)
    parser.add_argument("--out", default=None, help="results folder")
    args = parser.parse_args()
    methods = args.methods or [
        m for m in METHODS if not m.startswith("DataLoader") or _has_torch()
    ]
    # NOTE: round by round, every method once a round, so that a shared
    # machine's drift falls on all of them alike; each ratio is also taken
    # within each round, and its median reported beside the medians' ratio
    runs: dict[str, list[dict[str, Any]]] = {method: [] for method in methods}
    for _ in range(args.repeats):
        for method in methods:
            found = run_in_child(
                "bench_iterables", "measure", method=method, samples=args.samples
            )
            runs[method].append(found)
            print(f"{method}: {found['seconds']:.2f} s", flush=True)
    results = {
        method: {
            **found[-1],
            "seconds": statistics.median(r["seconds"] for r in found),
            "peak_rss_mib": statistics.median(r["peak_rss_mib"] for r in found),
        }
        for method, found in runs.items()
    }
    rows = []
    for method, r in results.items():
        against = METHODS[5] if method.startswith("DataLoader") else METHODS[1]
        if method.endswith(ONLY):  # NOTE: against the same stream's spread=None
            against = METHODS[-1]
        reference = results.get(against)
        rows.append(
            {
                "method": method,
                "seconds": r["seconds"],
                "elements_per_s": r["elements"] / r["seconds"],
                "time_vs_handwritten": (
                    r["seconds"] / reference["seconds"] if reference else None
                ),
                "median_of_round_ratios": (
                    statistics.median(
                        mine["seconds"] / theirs["seconds"]
                        for mine, theirs in zip(
                            runs[method], runs[against], strict=True
                        )
                    )
                    if reference
                    else None
                ),
                "ns_per_element": 1e9 * r["seconds"] / r["elements"],
                "peak_rss_mib": r["peak_rss_mib"],
                "min_class": r["min_class"],
                "max_class": r["max_class"],
                "overshoot": r["overshoot"],
                "repeats_per_batch": r["repeats_per_batch"],
            }
        )
    meta = {
        "samples": args.samples,
        "classes": CLASSES,
        "batch": BATCH,
        "repeats": args.repeats,
        "note": "one process per run, every method once a round; medians;"
        " median_of_round_ratios: the median over rounds of the time against"
        " the reference of the same round; the DataLoader rows compare with"
        " the hand-written generator in the same DataLoader",
        "round_seconds": {
            method: [r["seconds"] for r in found] for method, found in runs.items()
        },
    }
    path = write_results("iterables", rows, meta, out_folder(args.out))
    print(path.with_suffix(".md").read_text())


def _has_torch() -> bool:
    return importlib.util.find_spec("torch") is not None


if __name__ == "__main__":
    main()
