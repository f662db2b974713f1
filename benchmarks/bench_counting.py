"""The counting pass over a TFDS split of PNG images: decoding everything
against decoding only the label (PartialDecoding) or skipping the image.

Run: python benchmarks/bench_counting.py [--repeats 5]
Writes benchmarks/results/counting.{json,md}. Each method runs in its own process.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from _common import median_seconds, out_folder, run_in_child, write_results

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

METHODS = [
    "full decode",
    "decoders={'image': SkipDecoding()}",
    "PartialDecoding({'label': True})",
]


def prepare(config: str) -> dict[str, Any]:
    """Builds the TFDS dataset once (PNG encoding takes a while the first time)."""
    from longtail_images import prepared

    return {"data_dir": prepared(config)}


def measure(method: str, repeats: int, config: str) -> dict[str, Any]:
    import tensorflow_datasets as tfds
    from longtail_images import prepared

    import oversample as ovs

    data_dir = prepared(config)
    decoders = {
        "full decode": None,
        METHODS[1]: {"image": tfds.decode.SkipDecoding()},
        METHODS[2]: tfds.decode.PartialDecoding({"label": True}),
    }[method]
    counts: dict[Any, int] = {}

    def run() -> None:
        ds = tfds.load(
            f"longtail_images/{config}",
            split="train",
            data_dir=data_dir,
            shuffle_files=False,
            decoders=decoders,
        )
        counts.update(ovs.count_labels(ds))

    seconds, _ = median_seconds(run, repeats)
    return {"seconds": seconds, "examples": sum(counts.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--config", default="full", choices=["full", "tiny"])
    parser.add_argument(
        "--out", default=None, help="results folder (default: results/)"
    )
    args = parser.parse_args()
    run_in_child("bench_counting", "prepare", config=args.config)
    results = {
        m: run_in_child(
            "bench_counting",
            "measure",
            method=m,
            repeats=args.repeats,
            config=args.config,
        )
        for m in METHODS
    }
    full = results["full decode"]["seconds"]
    rows = [
        {
            "counting pass": method,
            "median_s": r["seconds"],
            "speedup_vs_full_decode": full / r["seconds"],
            "examples_per_s": r["examples"] / r["seconds"],
            "peak_rss_mib": r["peak_rss_mib"],
        }
        for method, r in results.items()
    ]
    meta = {
        "repeats": args.repeats,
        "examples": results["full decode"]["examples"],
        "images": "32x32x3 PNG, 100 long-tailed classes",
    }
    path = write_results("counting", rows, meta, out_folder(args.out))
    print(path.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
