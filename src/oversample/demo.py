"""`oversample demo`: the whole job on the embedded long-tailed digits20_lt.

Prepares digits20_lt (20 classes, 2,000 train images down to 40), counts and
plans the classes, shows the plan, streams one balanced epoch and checks its
totals, then trains one small CNN four ways for the same number of
optimisation steps: no balancing, Keras `class_weight`, `oversample.balance`
(every class at the largest count) and `balance(strategy="sqrt")`. It reports
balanced accuracy and the accuracy of the many-, medium- and few-shot classes
on the balanced test split, over several seeds, with a plot of every seed.
"""

from __future__ import annotations

import json
import statistics
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from oversample import report
from oversample.core import packing as _packing

METHODS = ("no balancing", "class_weight", "balance", "balance sqrt")  # the demo's
METRICS = ("balanced_accuracy", "many_shot", "medium_shot", "few_shot")
BATCH = 128
MANY, FEW = 500, 100  # train images: many-shot >= 500, few-shot < 100
HEAD_RATE = 1e-2  # decoupled training: the re-initialised classifier's rate
PROGRESSIVE_EPOCHS = 5  # balanced from about two thirds of 1,200 steps on


def cnn(seed: int, classes: int = 20) -> Any:
    """The small CNN of the demo and the training study (20x20 grey images)."""
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((20, 20, 1)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(classes),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def scores(predicted: np.ndarray, truth: np.ndarray, counts: np.ndarray) -> dict:
    """Balanced accuracy and the mean recall of the many-, medium- and
    few-shot classes (by their train counts)."""
    classes = np.arange(counts.size)
    recall = np.array([(predicted[truth == c] == c).mean() for c in classes])
    groups = {
        "many": counts >= MANY,
        "medium": (counts >= FEW) & (counts < MANY),
        "few": counts < FEW,
    }
    out = {"balanced_accuracy": float(recall.mean())}
    out.update({f"{k}_shot": float(recall[m].mean()) for k, m in groups.items()})
    return out


@dataclass(frozen=True)
class Method:
    """One way to train on the long tail, for the same steps: a stream (plain
    or balanced by `strategy`), optionally Keras `class_weight`, and
    optionally a last part of the steps (`share`) on a balanced stream
    (`then`), for the whole network (deferred re-balancing) or the classifier
    alone, re-initialised (decoupled training, cRT)."""

    strategy: object = None  # None: every sample once per epoch
    weights: bool = False
    augment: bool = True  # a different view for every copy (copy seeds)
    then: object = None
    share: float = 0.0
    classifier_only: bool = False


def methods() -> dict[str, Method]:
    """The methods of the demo and the training study, by name."""
    import oversample as ovs

    return {
        "no balancing": Method(),
        "class_weight": Method(weights=True),
        "balance": Method("all"),
        "balance, identical copies": Method("all", augment=False),
        "balance sqrt": Method("sqrt"),
        "Progressive": Method(ovs.Progressive(epochs=PROGRESSIVE_EPOCHS)),
        "deferred": Method(then="all", share=1 / 3),
        "decoupled (cRT)": Method(then="all", share=1 / 6, classifier_only=True),
    }


def augment(image: Any, seed: Any) -> Any:
    """One view of a 20x20 grey digit for an int64 [2] seed: shifted by up to
    2 pixels, with a random contrast and brightness. Stateless, so the view
    follows the copy (and the iterator still checkpoints)."""
    import tensorflow as tf

    shift, contrast, light = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
    view = tf.pad(tf.cast(image, tf.float32), [[2, 2], [2, 2], [0, 0]])
    view = tf.image.stateless_random_crop(view, [20, 20, 1], seed=shift)
    view = tf.image.stateless_random_contrast(view, 0.7, 1.3, seed=contrast)
    view = tf.image.stateless_random_brightness(view, 25.0, seed=light)
    return tf.clip_by_value(view, 0.0, 255.0)


def stream(source: Any, strategy: object, seed: int, views: bool) -> Any:
    """(image, label) batches without end: every sample once per epoch
    (`strategy` None) or balanced by `strategy`, each copy its own view when
    `views`."""
    import tensorflow as tf

    import oversample as ovs

    if strategy is None:
        ds = ovs.duplicate(source, copies=1, seed=seed, epochs=None, copy_seeds=views)
    else:
        ds = ovs.balance(
            source, strategy=strategy, seed=seed, epochs=None, copy_seeds=views
        )
    parallel = tf.data.AUTOTUNE
    if views:
        pairs = ds.map(
            lambda e, m: (augment(e["image"], m["seed"]), e["label"]),
            num_parallel_calls=parallel,
        )
    else:
        pairs = ds.map(
            lambda e: (tf.cast(e["image"], tf.float32), e["label"]),
            num_parallel_calls=parallel,
        )
    return pairs.batch(BATCH).prefetch(2)


def train(
    method: Method, source: Any, counts: np.ndarray, seed: int, steps: int
) -> Any:
    """One CNN trained `steps` steps of `BATCH` by `method` on `source` (a
    dataset of {"image", "label"}); returns the model."""
    import keras

    model = cnn(seed, counts.size)
    weights = None
    if method.weights:
        weights = dict(enumerate((counts.sum() / (counts.size * counts)).tolist()))
    later = round(steps * method.share) if method.then is not None else 0
    first = stream(source, method.strategy, seed, method.augment)
    model.fit(first.take(steps - later), epochs=1, class_weight=weights, verbose=0)
    if later:
        if method.classifier_only:
            for layer in model.layers[:-1]:
                layer.trainable = False
            head = model.layers[-1]
            head.set_weights(
                [
                    keras.initializers.GlorotUniform(seed)(head.kernel.shape),
                    np.zeros(head.bias.shape, np.float32),
                ]
            )
            # NOTE: a linear layer from scratch on frozen features: at the
            # network's 1e-3 it is still far from fitted after 200 steps.
            model.compile(
                optimizer=keras.optimizers.Adam(HEAD_RATE),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            )
        second = stream(source, method.then, seed + 1000, method.augment)
        model.fit(second.take(later), epochs=1, verbose=0)
    return model


def _summary(values: list[float]) -> str:
    deviation = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {deviation:.3f}"


def run(
    out: Path, seeds: int = 3, steps: int = 1200, data_dir: str | None = None
) -> int:
    """Runs the demo; writes plan.png, demo.png and demo.json under `out`."""
    import tensorflow as tf
    import tensorflow_datasets as tfds
    from rich.table import Table

    import oversample as ovs
    import oversample.datasets

    if seeds < 1 or steps < 1:
        raise ValueError(f"--seeds and --steps must be >= 1; got {seeds} and {steps}.")
    tf.get_logger().setLevel("ERROR")
    warnings.filterwarnings("ignore", message=".*shuffle=True.*", category=UserWarning)
    console = report.console()
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)

    report.rule(
        console, "1. prepare digits20_lt (scikit-learn's digits, long-tailed; offline)"
    )
    builder = tfds.builder("digits20_lt", data_dir=data_dir)
    builder.download_and_prepare()
    arrays = tfds.as_numpy(builder.as_dataset(split="train", batch_size=-1))
    source = tf.data.Dataset.from_tensor_slices(
        {"image": arrays["image"], "label": arrays["label"]}
    )

    report.rule(console, "2. count the labels and plan")
    found = ovs.count_labels(source)
    plan = ovs.plan(counts=found, strategy="all", seed=0)
    console.print(plan.summary(max_rows=20))
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
    test = tfds.as_numpy(builder.as_dataset(split="test", batch_size=-1))
    counts = np.array([found[c] for c in sorted(found)])
    recipes = methods()
    results: dict[str, list[dict[str, float]]] = {m: [] for m in METHODS}
    for seed in range(seeds):
        for method in METHODS:
            model = train(recipes[method], source, counts, seed, steps)
            images = test["image"].astype(np.float32)
            logits = model.predict(images, batch_size=512, verbose=0)
            got = scores(logits.argmax(axis=1), test["label"], counts)
            results[method].append(got)
            console.print(
                f"  seed {seed}  {method:<13} balanced {got['balanced_accuracy']:.3f},"
                f" many {got['many_shot']:.3f}, medium {got['medium_shot']:.3f},"
                f" few {got['few_shot']:.3f}"
            )

    table = Table(
        title=f"test split ({test['label'].size} images, balanced), mean ± sd over"
        f" {seeds} seeds; shots by train images (many >= {MANY}, few < {FEW})"
    )
    table.add_column("method")
    for metric in METRICS:
        table.add_column(metric.replace("_", " "), justify="right")
    for method in METHODS:
        runs = results[method]
        table.add_row(method, *(_summary([r[m] for r in runs]) for m in METRICS))
    console.print(table)
    _plot(results, out / "demo.png")
    elapsed = time.perf_counter() - started
    _packing.write_atomic(
        out / "demo.json",
        json.dumps(
            {
                "dataset": "digits20_lt",
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


def _plot(results: dict[str, list[dict[str, float]]], path: Path) -> None:
    from oversample.report import _pyplot

    plt: Any = _pyplot()
    figure, axes = plt.subplots(1, len(METRICS), figsize=(13, 3.6))
    plot_row(axes, results)
    figure.suptitle("digits20_lt: the same CNN and steps; dots are seeds, bars means")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


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
