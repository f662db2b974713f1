"""What a different augmentation for every copy costs: one balanced epoch of
long-tailed 32x32x3 images with and without `copy_seeds=True`, and with the
augmentation itself, against the usual way (tf.image.random_* ops or
np.random, whose views are neither reproducible per copy nor checkpointable).
tf.data, a Python stream and the Sampler. Each method runs in its own
process; times are medians of runs, ratios against plain `balance` of the
same executor in the same run.

Run: python benchmarks/bench_copy_seeds.py [--largest 2000] [--repeats 5]
Writes benchmarks/results/copy_seeds.{json,md}.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import numpy as np
from _common import median_seconds, out_folder, run_in_child, write_results

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CLASSES = 20
BATCH = 256
SEED = 0
METHODS = {
    "tf.data": [
        "balance",
        "balance, provenance",
        "balance, copy_seeds",
        "balance, copy_seeds, stateless flip + brightness",
        "balance, tf.image.random_* flip + brightness (not per copy)",
    ],
    "Python stream": [
        "balance",
        "balance, copy_seeds",
        "balance, copy_seeds, default_rng(seed) flip + noise",
        "balance, one np.random generator flip + noise (not per copy)",
    ],
    "Sampler": ["indices", "(index, seed) pairs"],
}


def data(largest: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels with an imbalance of 50 over 20 classes, and random images."""
    sizes = np.round(largest * 50.0 ** (-np.arange(CLASSES) / (CLASSES - 1)))
    labels = np.repeat(np.arange(CLASSES), sizes.astype(int))
    labels = np.random.default_rng(0).permutation(labels)
    images = np.random.default_rng(1).integers(0, 255, (labels.size, 32, 32, 3))
    return labels, images.astype(np.uint8)


def _tf(method: str, labels: np.ndarray, images: np.ndarray) -> Any:
    import tensorflow as tf

    import oversample as ovs

    source = tf.data.Dataset.from_tensor_slices({"image": images, "label": labels})
    seeds, provenance = "copy_seeds" in method, "provenance" in method
    ds = ovs.balance(
        source, seed=SEED, epoch=0, copy_seeds=seeds, provenance=provenance
    )

    def stateless(element: Any, marks: Any) -> Any:
        image = tf.image.stateless_random_flip_left_right(
            element["image"], marks["seed"]
        )
        image = tf.image.stateless_random_brightness(image, 0.2, marks["seed"])
        return image, element["label"]

    def stateful(element: Any) -> Any:
        image = tf.image.random_flip_left_right(element["image"])
        return tf.image.random_brightness(image, 0.2), element["label"]

    if "stateless" in method:
        ds = ds.map(stateless, num_parallel_calls=tf.data.AUTOTUNE)
    elif "tf.image.random_" in method:
        ds = ds.map(stateful, num_parallel_calls=tf.data.AUTOTUNE)
    batches = ds.batch(BATCH).prefetch(2)
    return lambda: sum(int(tf.nest.flatten(b)[0].shape[0]) for b in batches)


def _python(method: str, labels: np.ndarray, images: np.ndarray) -> Any:
    import oversample as ovs

    examples = [
        {"image": image, "label": label}
        for image, label in zip(images, labels.tolist(), strict=True)
    ]
    seeds = "copy_seeds" in method
    stream = ovs.balance(examples, seed=SEED, epoch=0, copy_seeds=seeds)
    shared = np.random.default_rng(SEED)

    def view(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        image = image[:, ::-1] if rng.random() < 0.5 else image
        return image + rng.normal(0, 4, image.shape).astype(np.float32)

    def epoch() -> int:
        count = 0
        for item in stream:
            if "default_rng" in method:
                example, marks = item
                view(example["image"], np.random.default_rng(marks["seed"]))
            elif "np.random" in method:
                view(item["image"], shared)
            count += 1
        return count

    return epoch


def _sampler(method: str, labels: np.ndarray, images: np.ndarray) -> Any:
    import oversample as ovs

    plan = ovs.plan(labels, seed=SEED)
    sampler = ovs.Sampler(plan, copy_seeds=method.startswith("("))
    return lambda: sum(1 for _ in sampler)


def measure(executor: str, method: str, largest: int, repeats: int) -> dict[str, Any]:
    """One method's median epoch time; every method yields the plan's total."""
    import oversample as ovs

    labels, images = data(largest)
    build = {"tf.data": _tf, "Python stream": _python, "Sampler": _sampler}[executor]
    epoch = build(method, labels, images)
    total = ovs.plan(labels, seed=SEED).total
    if epoch() != total:  # warm (graphs traced, caches filled) and checked
        raise AssertionError(f"{executor}, {method}: not one epoch of {total}")
    seconds, _ = median_seconds(epoch, repeats)
    return {"seconds": seconds, "elements": total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--largest", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=None, help="results folder")
    args = parser.parse_args()
    rows = []
    for executor, methods in METHODS.items():
        found = {
            m: run_in_child(
                "bench_copy_seeds",
                "measure",
                executor=executor,
                method=m,
                largest=args.largest,
                repeats=args.repeats,
            )
            for m in methods
        }
        base = found[methods[0]]["seconds"]
        for method, result in found.items():
            rows.append(
                {
                    "executor": executor,
                    "method": method,
                    "median_s": result["seconds"],
                    "time_vs_plain": result["seconds"] / base,
                    "elements_per_s": result["elements"] / result["seconds"],
                    "peak_rss_mib": result["peak_rss_mib"],
                }
            )
    labels, _ = data(args.largest)
    meta = {
        "repeats": args.repeats,
        "samples": int(labels.size),
        "images": "32x32x3 uint8, 20 classes, imbalance 50",
        "seed": SEED,
    }
    path = write_results("copy_seeds", rows, meta, out_folder(args.out))
    print(path.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
