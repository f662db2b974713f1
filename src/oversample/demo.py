"""`oversample demo`: the whole job on the embedded long-tailed digits.

Counts and plans the classes, shows the plan, streams one balanced epoch and
checks its totals, then trains one small Keras model three ways for the same
number of optimisation steps: no balancing, Keras `class_weight`, and
`oversample.balance`; it reports balanced accuracy and the recall of the
rarest classes on the balanced test split, over several seeds.
"""

from __future__ import annotations

import json
import statistics
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from oversample import _packing

METHODS = ("no balancing", "class_weight", "oversample")
RAREST = 3
BATCH = 32


def _features(element: Any) -> tuple[Any, Any]:
    import tensorflow as tf

    image = tf.cast(tf.reshape(element["image"], [64]), tf.float32) / 255.0
    return image, element["label"]


def _model(seed: int) -> Any:
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def _train(
    method: str,
    train: Any,
    counts: dict[int | str, int],
    seed: int,
    steps: int,
) -> Any:
    import oversample as ovs

    size = sum(counts.values())
    if method == "oversample":
        stream = ovs.balance(train, counts=counts, seed=seed, epochs=None)
    else:
        stream = train.shuffle(size, seed=seed).repeat()
    weights = None
    if method == "class_weight":
        weights = {int(c): size / (len(counts) * n) for c, n in counts.items()}
    model = _model(seed)
    model.fit(
        stream.map(_features).batch(BATCH),
        steps_per_epoch=steps,
        epochs=1,
        class_weight=weights,
        verbose=0,
    )
    return model


def _scores(
    model: Any, images: np.ndarray, labels: np.ndarray, rare: list[int]
) -> dict[str, float]:
    predicted = np.argmax(model.predict(images, verbose=0, batch_size=512), axis=1)
    recall = {c: float(np.mean(predicted[labels == c] == c)) for c in np.unique(labels)}
    return {
        "balanced_accuracy": float(np.mean(list(recall.values()))),
        "rare_recall": float(np.mean([recall[c] for c in rare])),
    }


def _spread(values: list[float]) -> str:
    deviation = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {deviation:.3f}"


def run(
    out: Path, seeds: int = 3, steps: int = 1500, data_dir: str | None = None
) -> int:
    """Runs the demo; writes plan.png, demo.png and demo.json under `out`."""
    import tensorflow as tf
    import tensorflow_datasets as tfds
    from rich.console import Console
    from rich.table import Table

    import oversample as ovs
    import oversample.datasets

    if seeds < 1 or steps < 1:
        raise ValueError(f"--seeds and --steps must be >= 1; got {seeds} and {steps}.")
    tf.get_logger().setLevel("ERROR")
    warnings.filterwarnings("ignore", message=".*shuffle=True.*", category=UserWarning)
    console = Console()
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)

    console.rule("1. prepare digits_lt (scikit-learn's digits, long-tailed; offline)")
    builder = tfds.builder("digits_lt", data_dir=data_dir)
    builder.download_and_prepare()
    train = builder.as_dataset(split="train", shuffle_files=False)

    console.rule("2. count the labels (label-only pass) and plan")
    counts = ovs.count_labels(train, progress=True)
    plan = ovs.plan(counts=counts, seed=0)
    console.print(plan.summary())
    plan.plot(str(out / "plan.png"))
    console.print(f"before/after plot: {out / 'plan.png'}")

    console.rule("3. stream one balanced epoch and check its totals")
    balanced = ovs.balance(train, plan=plan)
    streamed: dict[int | str, int] = {}
    for batch in balanced.batch(256):
        values, numbers = np.unique(batch["label"].numpy(), return_counts=True)
        for label, number in zip(values.tolist(), numbers.tolist(), strict=True):
            streamed[label] = streamed.get(label, 0) + number
    if streamed != plan.targets or int(balanced.cardinality()) != plan.total:
        raise RuntimeError(f"streamed totals {streamed} differ from {plan.targets}")
    console.print(
        f"{plan.total:,} elements streamed; every class exactly at its target"
        f" ({min(streamed.values())}); cardinality known: {int(balanced.cardinality())}"
    )

    console.rule(f"4. train three ways, {steps} steps of {BATCH}, {seeds} seeds")
    test = builder.as_dataset(split="test", shuffle_files=False)
    batches = [(x.numpy(), y.numpy()) for x, y in test.map(_features).batch(512)]
    images = np.concatenate([x for x, _ in batches])
    labels = np.concatenate([y for _, y in batches])
    rare = sorted(counts, key=counts.__getitem__)[:RAREST]
    results: dict[str, list[dict[str, float]]] = {m: [] for m in METHODS}
    for seed in range(seeds):
        for method in METHODS:
            model = _train(method, train, counts, seed, steps)
            scores = _scores(model, images, labels, rare)
            results[method].append(scores)
            console.print(
                f"  seed {seed}  {method:<13} balanced accuracy"
                f" {scores['balanced_accuracy']:.3f}, rare recall"
                f" {scores['rare_recall']:.3f}"
            )

    table = Table(
        title=f"test split ({labels.size} images, balanced), mean ± sd over"
        f" {seeds} seeds"
    )
    table.add_column("method")
    table.add_column("balanced accuracy", justify="right")
    table.add_column(f"recall of rarest {RAREST} classes {rare}", justify="right")
    for method in METHODS:
        runs = results[method]
        table.add_row(
            method,
            _spread([r["balanced_accuracy"] for r in runs]),
            _spread([r["rare_recall"] for r in runs]),
        )
    console.print(table)
    _plot(results, out / "demo.png", rare)
    elapsed = time.perf_counter() - started
    _packing.write_atomic(
        out / "demo.json",
        json.dumps(
            {
                "counts": {str(k): v for k, v in counts.items()},
                "targets": {str(k): v for k, v in plan.targets.items()},
                "steps": steps,
                "batch": BATCH,
                "seeds": seeds,
                "rarest": rare,
                "results": results,
                "seconds": elapsed,
            },
            indent=2,
        )
        + "\n",
    )
    console.print(f"results: {out / 'demo.json'}, {out / 'demo.png'} ({elapsed:.0f} s)")
    return 0


def _plot(
    results: dict[str, list[dict[str, float]]], path: Path, rare: list[int]
) -> None:
    from oversample.report import _pyplot

    plt: Any = _pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    for axis, metric, title in (
        (axes[0], "balanced_accuracy", "balanced accuracy"),
        (axes[1], "rare_recall", f"recall of rarest classes {rare}"),
    ):
        values = [[r[metric] for r in results[m]] for m in METHODS]
        means = [statistics.mean(v) for v in values]
        errors = [statistics.stdev(v) if len(v) > 1 else 0.0 for v in values]
        axis.bar(
            METHODS,
            means,
            yerr=errors,
            capsize=4,
            color=["tab:gray", "tab:blue", "tab:orange"],
        )
        axis.set_ylim(0, 1)
        axis.set_title(title)
    figure.suptitle("digits_lt: same model, same steps")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
