"""Training study: where oversampling wins on a long tail, and where it does not.

The same small CNN trains for the same optimisation steps of 128 images eight
ways, over several seeds, on two long-tailed sets built offline from
scikit-learn's digits (`oversample.datasets.digits20_lt`): digits20_lt itself
(20 classes, 2,000 train images down to 40, imbalance 50) and a harder one
built the same way with imbalance 250 (2,000 down to 8). Every method sees
the same augmentation family (a shift of up to 2 pixels, random contrast and
brightness, stateless), each copy its own view through `copy_seeds=True`,
except the one marked "identical copies":

- no balancing: every sample once per epoch;
- class_weight: the same stream, Keras class weights n / (C * n_c);
- balance: every class at the largest count, each copy a new view;
- balance, identical copies: the same without augmentation (the copies are
  bit-identical, the setting of the demo before copy seeds);
- balance sqrt: targets by the square root of the counts;
- Progressive: `ovs.Progressive(epochs=5)`, instance- to class-balanced;
- deferred: the plain stream for 2/3 of the steps, balanced for the last 1/3
  (deferred re-sampling, Cao et al. 2019);
- decoupled (cRT): the plain stream for 5/6 of the steps, then the classifier
  alone, re-initialised, on a balanced stream (Kang et al. 2020).

Scores on the balanced test split (100 images per class): balanced accuracy
and the accuracy of the many-shot (>= 500 train images), medium-shot and
few-shot (< 100) classes. Each method is compared with class_weight seed by
seed (the same seeds): the mean paired difference, its standard deviation,
and "wins" when the difference of means is more than two standard deviations
of either method's seeds.

Run: python benchmarks/study_training.py [--seeds 5] [--steps 1200]
Writes benchmarks/results/study.{json,md,png}.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import out_folder, write_results

from oversample.demo import plot_row
from oversample.training import (
    BATCH,
    FEW,
    MANY,
    METRICS,
    compare,
    methods,
    scores,
    train,
)

DATASETS = {"digits20_lt": 50.0, "digits20_lt, imbalance 250": 250.0}
REFERENCE = "class_weight"
COMPARED = (("balanced_accuracy", "balanced"), ("few_shot", "few"))  # and columns


def load(imbalance: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Both splits of digits20_lt's images with a tail of `imbalance`."""
    from oversample.datasets import digits20_lt

    rows = digits20_lt.splits(digits20_lt.profile(imbalance))
    return {
        split: (
            np.stack([image for image, _ in found]),
            np.array([label for _, label in found], np.int64),
        )
        for split, found in rows.items()
    }


def run(name: str, data: dict, seed: int, steps: int) -> dict[str, float]:
    import tensorflow as tf

    images, labels = data["train"]
    source = tf.data.Dataset.from_tensor_slices({"image": images, "label": labels})
    counts = np.bincount(labels, minlength=20)
    model = train(methods()[name], source, counts, seed, steps)
    test_images, test_labels = data["test"]
    logits = model.predict(test_images.astype(np.float32), batch_size=512, verbose=0)
    return scores(np.asarray(logits).argmax(axis=1), test_labels, counts)


def _sd(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def _summary(values: list[float]) -> str:
    return f"{statistics.mean(values):.3f} ± {_sd(values):.3f}"


def plot(raw: dict[str, dict[str, list[dict]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(
        len(raw), len(METRICS), figsize=(15, 4.2 * len(raw)), squeeze=False
    )
    for row, (dataset, results) in zip(axes, raw.items(), strict=True):
        plot_row(row, results)
        row[0].set_ylabel(dataset)
    figure.suptitle(
        "the same CNN and steps, one augmentation family; dots are seeds, bars means"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--methods", nargs="*", default=None)
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS))
    parser.add_argument("--out", default=None, help="results folder")
    args = parser.parse_args()
    names = args.methods or list(methods())
    if REFERENCE not in names:
        names = [REFERENCE, *names]
    raw: dict[str, dict[str, list[dict]]] = {}
    counts: dict[str, list[int]] = {}
    seconds: dict[str, float] = {}
    for dataset in args.datasets:
        data = load(DATASETS[dataset])
        counts[dataset] = np.bincount(data["train"][1], minlength=20).tolist()
        raw[dataset] = {name: [] for name in names}
        for seed in range(args.seeds):
            for name in names:
                start = time.perf_counter()
                raw[dataset][name].append(run(name, data, seed, args.steps))
                took = time.perf_counter() - start
                seconds[dataset] = seconds.get(dataset, 0.0) + took
                got = raw[dataset][name][-1]
                print(
                    f"{dataset} | {name} | seed {seed}: balanced"
                    f" {got['balanced_accuracy']:.3f}, few {got['few_shot']:.3f}"
                    f" ({took:.0f} s)",
                    flush=True,
                )
    meta = {
        "seeds": args.seeds,
        "steps": args.steps,
        "batch": BATCH,
        "train_counts": counts,
        "many_shot_min": MANY,
        "few_shot_below": FEW,
        "reference": REFERENCE,
        "wins_rule": "difference of means > 2 x the larger standard deviation",
        "seconds": seconds,
        "runs": raw,
    }
    path = save(meta, out_folder(args.out) or Path(__file__).parent / "results")
    print(path.with_suffix(".md").read_text())


def save(meta: dict[str, Any], folder: Path) -> Path:
    """The table (every method against class_weight, seed by seed), the JSON
    and the plot of the runs in `meta`."""
    rows = []
    for dataset, results in meta["runs"].items():
        for name, runs in results.items():
            row: dict[str, Any] = {"dataset": dataset, "method": name}
            row.update({m: _summary([r[m] for r in runs]) for m in METRICS})
            for metric, column in COMPARED:
                found = compare(runs, results[REFERENCE], metric)
                verdict = "wins" if found["wins"] else "loses" if found["loses"] else ""
                row[f"{column}_vs_{REFERENCE}"] = (
                    f"{found['difference']:+.3f} ± {found['paired_sd']:.3f} {verdict}"
                ).strip()
            rows.append(row)
    path = write_results("study", rows, meta, folder)
    plot(meta["runs"], folder / "study.png")
    return path


if __name__ == "__main__":
    main()
