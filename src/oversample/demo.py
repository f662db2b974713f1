"""`oversample demo`: the whole job on the embedded long-tailed digits.

Builds digits20_lt's images with a long tail offline (20 classes, 2,000 train
images down to 8: imbalance 250, the harder set of the training study), counts
and plans the classes, shows the plan, streams one balanced epoch and checks
its totals, then trains one small CNN for the same optimisation steps two
ways: Keras `class_weight`, and `oversample.balance` with every copy its own
augmented view (`copy_seeds=True`; the weighted run sees the same
augmentation). It reports balanced accuracy and the accuracy of the many-,
medium- and few-shot classes on the balanced test split over several seeds,
says which method is ahead by more than two standard deviations (or where
each wins), plots every seed, and closes with the training study's best
method on this tail and its margin, read from the study's results
(benchmarks/results/study.json in a source checkout).
"""

from __future__ import annotations

import contextlib
import json
import statistics
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from oversample import report
from oversample.core import packing as _packing
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

METHODS = ("class_weight", "balance")  # the study's widest margin (docs/demo.md)
IMBALANCE = 250.0
DATASET = f"digits20_lt, imbalance {IMBALANCE:g}"
REFERENCE = "class_weight"
# The study's results live beside the sources, not in the package: found in
# the checkout this module was loaded from (an editable install), else in the
# current directory.
STUDY = Path("benchmarks") / "results" / "study.json"


def _summary(values: list[float]) -> str:
    deviation = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {deviation:.3f}"


def run(out: Path, seeds: int = 3, steps: int = 1200) -> int:
    """Runs the demo; writes plan.png, demo.png and demo.json under `out`."""
    import tensorflow as tf
    from rich.table import Table

    import oversample as ovs
    from oversample.datasets import digits20_lt

    if seeds < 1 or steps < 1:
        raise ValueError(f"--seeds and --steps must be >= 1; got {seeds} and {steps}.")
    tf.get_logger().setLevel("ERROR")
    warnings.filterwarnings("ignore", message=".*shuffle=True.*", category=UserWarning)
    console = report.console()
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)

    report.rule(
        console,
        "1. build digits20_lt's images with a longer tail (imbalance 250; offline)",
    )
    rows = digits20_lt.splits(digits20_lt.profile(IMBALANCE))
    images, labels = (np.stack(column) for column in zip(*rows["train"], strict=True))
    source = tf.data.Dataset.from_tensor_slices({"image": images, "label": labels})
    test_images, test_labels = (
        np.stack(column) for column in zip(*rows["test"], strict=True)
    )

    report.rule(console, "2. count the labels and plan")
    found = ovs.count_labels(source)
    plan = ovs.plan(counts=found, strategy="all", seed=0)
    console.print(plan.summary(max_rows=20).rstrip("\n"))
    plan.plot(str(out / "plan.png"))
    console.print(f"before/after plot: {out / 'plan.png'}")

    report.rule(console, "3. stream one balanced epoch and check its totals")
    balanced = ovs.balance(source, plan=plan, epoch=0)
    streamed = np.bincount(
        np.concatenate([b["label"].numpy() for b in balanced.batch(4096)]),
        minlength=len(plan.classes),
    )
    if streamed.tolist() != [plan.targets[c] for c in plan.classes]:
        raise RuntimeError(f"streamed totals {streamed} differ from {plan.targets}")
    console.print(
        f"{plan.total:,} elements streamed; every class exactly at its target"
        f" ({int(streamed.min())}); cardinality known: {int(balanced.cardinality())};"
        f" {balanced.spread}"
    )

    report.rule(
        console,
        f"4. train {len(METHODS)} ways, {steps} steps of {BATCH}, {seeds} seeds",
    )
    counts = np.array([found[c] for c in sorted(found)])
    recipes = methods()
    results: dict[str, list[dict[str, float]]] = {m: [] for m in METHODS}
    for seed in range(seeds):
        for method in METHODS:
            with steps_shown(f"seed {seed}  {method}", steps) as callback:
                model = train(recipes[method], source, counts, seed, steps, [callback])
            logits = model.predict(
                test_images.astype(np.float32), batch_size=512, verbose=0
            )
            got = scores(logits.argmax(axis=1), test_labels, counts)
            results[method].append(got)
            console.print(
                f"  seed {seed}  {method:<13} balanced {got['balanced_accuracy']:.3f},"
                f" many {got['many_shot']:.3f}, medium {got['medium_shot']:.3f},"
                f" few {got['few_shot']:.3f}"
            )

    table = Table(
        title=f"test split ({test_labels.size} images, balanced), mean ± sd over"
        f" {seeds} seeds; shots by train images (many >= {MANY}, few < {FEW})"
    )
    table.add_column("method")
    for metric in METRICS:
        table.add_column(metric.replace("_", " "), justify="right")
    for method in METHODS:
        runs = results[method]
        table.add_row(method, *(_summary([r[m] for r in runs]) for m in METRICS))
    console.print(table)
    for line in [*closing_lines(results), *study_lines(_study_file())]:
        console.print(line)
    _plot(results, out / "demo.png")
    elapsed = time.perf_counter() - started
    _packing.write_atomic(
        out / "demo.json",
        json.dumps(
            {
                "dataset": DATASET,
                "counts": {str(k): v for k, v in found.items()},
                "targets": {str(k): v for k, v in plan.targets.items()},
                "steps": steps,
                "batch": BATCH,
                "seeds": seeds,
                "results": results,
                "seconds": elapsed,
            },
            indent=2,
        )
        + "\n",
    )
    console.print(f"results: {out / 'demo.json'}, {out / 'demo.png'} ({elapsed:.0f} s)")
    return 0


@contextlib.contextmanager
def steps_shown(title: str, steps: int) -> Iterator[Any]:
    """A Keras callback that shows a training run's steps as a progress bar
    on a terminal's stderr, gone once the run is done (stdout keeps the
    results; nothing is written where stderr is not a terminal)."""
    import keras

    bar = report.progress(transient=True)
    task = bar.add_task(f"  {title}", total=steps)

    class Steps(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            bar.advance(task)

    with bar:
        yield Steps()


def closing_lines(results: dict[str, list[dict[str, float]]]) -> list[str]:
    """What the runs show against `class_weight`: a method more than two
    standard deviations ahead on balanced or few-shot accuracy, or else where
    each method wins."""
    reference = results.get(REFERENCE)
    if reference is None or len(reference) < 2:
        return ["(one seed: no standard deviation to compare by; run --seeds 3)"]
    lines = []
    for method, runs in results.items():
        for metric in ("balanced_accuracy", "few_shot"):
            found = compare(runs, reference, metric)
            if found["wins"]:
                lines.append(
                    f"{method} beats {REFERENCE} on {metric.replace('_', ' ')}"
                    f" by {found['difference']:+.3f}, more than two standard"
                    f" deviations ({found['spread']:.3f}) over {len(runs)} seeds."
                )
    if lines:
        return lines
    lines.append(
        f"No method here is more than two standard deviations ahead of {REFERENCE}"
        f" over {len(reference)} seeds; where each wins:"
    )
    for metric in METRICS:
        means = {
            m: statistics.mean(r[metric] for r in runs) for m, runs in results.items()
        }
        best = max(means, key=means.__getitem__)
        rest = ", ".join(f"{m} {v:.3f}" for m, v in means.items() if m != best)
        lines.append(f"  {metric.replace('_', ' ')}: {best} {means[best]:.3f} ({rest})")
    return lines


def _study_file() -> Path | None:
    """The training study's results, in the checkout or the current
    directory; None where neither has them (an installed package)."""
    checkout = Path(__file__).resolve().parents[2]
    found = [p for p in (checkout / STUDY, Path.cwd() / STUDY) if p.is_file()]
    return found[0] if found else None


def study_lines(path: Path | None) -> list[str]:
    """What the training study says on this tail: its best method by
    balanced accuracy, and its margin over class_weight and over the next
    method, by the study's rule (more than two standard deviations)."""
    if path is None:
        return [
            f"The training study's results ({STUDY}) come with a source checkout"
            " of oversample, not with an installed package: see docs/demo.md"
            " there, or run benchmarks/study_training.py."
        ]
    try:
        document = json.loads(path.read_text())
        results = document["meta"]["runs"][DATASET]
        seeds = document["meta"]["seeds"]
    except (OSError, ValueError, KeyError) as error:
        return [f"The training study's results in {path} could not be read ({error})."]
    means = {
        m: statistics.mean(r["balanced_accuracy"] for r in runs)
        for m, runs in results.items()
    }
    ranked = sorted(means, key=means.__getitem__, reverse=True)
    best = ranked[0]
    margins = []
    for other in dict.fromkeys([REFERENCE, *ranked[1:2]]):
        if other == best or other not in results:
            continue
        found = compare(results[best], results[other], "balanced_accuracy")
        beyond = "more" if found["wins"] else "not more"
        margins.append(
            f"{found['difference']:+.3f} over {other} ({beyond} than twice the larger"
            f" standard deviation, {found['spread']:.3f})"
        )
    accuracy = _summary([r["balanced_accuracy"] for r in results[best]])
    return [
        f"The training study ({path}: {len(means)} ways, {seeds} seeds, this tail):"
        f" best on balanced accuracy is {best}, {accuracy}"
        + "".join(f", {m}" for m in margins)
        + "."
    ]


def _plot(results: dict[str, list[dict[str, float]]], path: Path) -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(13, 3.6), layout="constrained")
    plot_row(figure.subplots(1, len(METRICS)), results)
    figure.suptitle(
        f"digits20_lt, imbalance {IMBALANCE:g}: the same CNN, steps and augmentation;"
        " dots are seeds, bars means"
    )
    figure.savefig(path, dpi=110)


def plot_row(axes: Any, results: dict[str, list[dict[str, float]]]) -> None:
    """One panel per metric: every seed as a dot, the mean as a bar, on an
    axis fitted to the values so that the differences show."""
    names = list(results)
    for axis, metric in zip(axes, METRICS, strict=True):
        values = [[r[metric] for r in results[m]] for m in names]
        flat = [v for group in values for v in group]
        for place, group in enumerate(values):
            colour = f"C{place % 10}"
            mean = statistics.mean(group)
            axis.hlines(mean, place - 0.3, place + 0.3, colors=colour, linewidth=3)
            axis.scatter([place] * len(group), group, color=colour, s=18, zorder=3)
        margin = max(0.02, (max(flat) - min(flat)) * 0.15)
        axis.set_ylim(max(0.0, min(flat) - margin), min(1.0, max(flat) + margin))
        axis.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        axis.set_title(metric.replace("_", " "))
        axis.grid(axis="y", alpha=0.3)
