"""Training effect of the spread where copies cluster most: a longer tail and a
loss that two copies in one batch harm.

The data are digits20_lt's images with a longer tail (imbalance 250: the
largest class 2,000 images, the smallest 8, so each of its samples gets 250
copies per balanced epoch of 40,000). The loss is SimCLR's NT-Xent: two
augmented views of every image, every other image of the batch a negative, so
a second copy of the same image in a batch is a false negative. The same
encoder trains for the same steps fed four ways, over several seeds:

- buffer only: `ovs.balance(..., spread=None)`, copies mixed by the default
  shuffle buffer (what `balance` did before the spread);
- spread, tail held: a budget that holds only the classes of 200 or fewer
  images, the rest streamed through the buffer;
- spread, default: the 256 MiB default holds the whole set, so every element
  comes from memory in a global order;
- global order: the Sampler's order of the same plan (the reference).

Each run reports the repeated elements per batch it trained on and a linear
probe of the frozen encoder: a logistic regression fitted on half of the
balanced test split and scored on the other half (balanced accuracy and the
few-shot classes, fewer than 100 train images).

Run: python benchmarks/study_spread.py [--seeds 5] [--steps 800]
Writes benchmarks/results/study_spread.{json,md,png}.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import out_folder, write_results

METHODS = ["buffer only", "spread, tail held", "spread, default", "global order"]
IMBALANCE = 250.0
BATCH = 128
TAIL = 200  # "tail held": classes of at most this many train images
FEW = 100
TEMPERATURE = 0.2
ROW_BYTES = 8 + 20 * 20 + 8 + 8  # position, image, label and id while collected


def load() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from oversample.datasets import digits20_lt

    rows = digits20_lt.splits(digits20_lt.profile(IMBALANCE))
    return {
        split: (
            np.stack([image for image, _ in found]),
            np.array([label for _, label in found], np.int64),
        )
        for split, found in rows.items()
    }


def stream(method: str, images: np.ndarray, labels: np.ndarray, seed: int) -> Any:
    """Batches of (image, id) for `method`, endless."""
    import tensorflow as tf

    import oversample as ovs

    features = {"image": images, "label": labels, "id": np.arange(labels.size)}
    source = tf.data.Dataset.from_tensor_slices(features)
    if method == "global order":
        sampler = ovs.Sampler(ovs.plan(labels, seed=seed))

        def epoch_order(epoch: int) -> np.ndarray:
            sampler.set_epoch(epoch)
            return sampler.indices()

        order = np.concatenate([epoch_order(e) for e in range(8)])
        ds = tf.data.Dataset.from_tensor_slices(order).repeat()
        ds = ds.map(lambda i: {"image": tf.gather(images, i), "id": i})
    else:
        spread: Any = {
            "buffer only": None,
            "spread, tail held": _tail_budget(labels),
            "spread, default": "auto",
        }[method]
        ds = ovs.balance(source, seed=seed, epochs=None, spread=spread)
    return ds.map(lambda e: (e["image"], e["id"])).batch(BATCH, drop_remainder=True)


def _tail_budget(labels: np.ndarray) -> int:
    counts = np.bincount(labels)
    return int(counts[counts <= TAIL].sum()) * ROW_BYTES


def _views(images: Any, step: Any, seed: int) -> Any:
    """Two augmented views of a batch: a random crop of a 2-pixel padding,
    contrast and Gaussian noise, stateless from (seed, step)."""
    import tensorflow as tf

    out = []
    for view in range(2):
        key = tf.stack([tf.cast(seed * 2 + view, tf.int64), tf.cast(step, tf.int64)])
        x = tf.cast(images, tf.float32) / 255.0
        x = tf.pad(x, [[0, 0], [2, 2], [2, 2], [0, 0]])
        x = tf.image.stateless_random_crop(x, [BATCH, 20, 20, 1], seed=key)
        scale = tf.random.stateless_uniform([BATCH, 1, 1, 1], key + 1, 0.6, 1.4)
        noise = tf.random.stateless_normal(tf.shape(x), key + 2, stddev=0.1)
        out.append(x * scale + noise)
    return tf.concat(out, 0)


def _encoder() -> Any:
    import keras

    return keras.Sequential(
        [
            keras.Input((20, 20, 1)),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu"),
        ]
    )


def _nt_xent(z: Any) -> Any:
    """SimCLR's loss for 2B projections: view i's positive is its other view;
    every other row of the batch is a negative."""
    import tensorflow as tf

    z = tf.math.l2_normalize(z, axis=1)
    logits = tf.matmul(z, z, transpose_b=True) / TEMPERATURE
    rows = tf.shape(z)[0]
    logits -= tf.eye(rows) * 1e9
    positive = tf.concat([tf.range(BATCH, 2 * BATCH), tf.range(BATCH)], 0)
    loss = tf.keras.losses.sparse_categorical_crossentropy(
        positive, logits, from_logits=True
    )
    return tf.reduce_mean(loss)


def train(method: str, data: dict, seed: int, steps: int) -> dict[str, float]:
    """One run: the encoder trained `steps` steps; the probe and the repeats."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    images, labels = data["train"]
    encoder = _encoder()
    head = keras.Sequential([keras.Input((128,)), keras.layers.Dense(64)])
    variables = encoder.trainable_variables + head.trainable_variables
    optimiser = keras.optimizers.Adam(1e-3)

    @tf.function
    def step(batch: Any, number: Any) -> Any:
        views = _views(batch, number, seed)
        with tf.GradientTape() as tape:
            loss = _nt_xent(head(encoder(views, training=True), training=True))
        optimiser.apply_gradients(
            zip(tape.gradient(loss, variables), variables, strict=True)
        )
        return loss

    repeats = []
    for number, (batch, ids) in enumerate(stream(method, images, labels, seed)):
        if number == steps:
            break
        step(batch, tf.constant(number, tf.int64))
        repeats.append(BATCH - np.unique(ids.numpy()).size)
    return {
        **probe(encoder, data, labels, seed),
        "repeats_per_batch": float(np.mean(repeats)),
    }


def probe(encoder: Any, data: dict, train_labels: np.ndarray, seed: int) -> dict:
    """A linear probe of the frozen encoder on the balanced test split: fitted
    on one half of every class, scored on the other."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    images, labels = data["test"]
    features = encoder.predict(images.astype(np.float32) / 255.0, verbose=0)
    rng = np.random.default_rng(seed)
    fit = np.zeros(labels.size, bool)
    for c in np.unique(labels):
        mine = rng.permutation(np.flatnonzero(labels == c))
        fit[mine[: mine.size // 2]] = True
    scaler = StandardScaler().fit(features[fit])
    model = LogisticRegression(max_iter=3000).fit(
        scaler.transform(features[fit]), labels[fit]
    )
    predicted = model.predict(scaler.transform(features[~fit]))
    truth = labels[~fit]
    recall = np.array([(predicted[truth == c] == c).mean() for c in range(20)])
    few = np.bincount(train_labels, minlength=20) < FEW
    return {
        "balanced_accuracy": float(recall.mean()),
        "few_shot": float(recall[few].mean()),
    }


def _summary(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {sd:.3f}"


def plot(raw: dict[str, list[dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    names = list(raw)
    for axis, key, title in (
        (axes[0], "repeats_per_batch", "repeated elements per batch of 128"),
        (axes[1], "balanced_accuracy", "linear probe, balanced accuracy"),
    ):
        for place, name in enumerate(names):
            values = [r[key] for r in raw[name]]
            axis.scatter([place] * len(values), values, s=14, alpha=0.6)
            axis.errorbar(
                place,
                statistics.mean(values),
                yerr=statistics.stdev(values) if len(values) > 1 else 0.0,
                fmt="_",
                markersize=18,
                capsize=4,
                color="black",
            )
        axis.set_xticks(range(len(names)), names, rotation=15, fontsize=8)
        axis.set_title(title, fontsize=10)
    figure.suptitle(
        f"digits20, imbalance {IMBALANCE:.0f}, SimCLR loss: one dot per seed",
        fontsize=10,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--methods", nargs="*", default=METHODS)
    parser.add_argument("--out", default=None, help="results folder")
    args = parser.parse_args()
    data = load()
    counts = np.bincount(data["train"][1], minlength=20)
    raw: dict[str, list[dict]] = {}
    for method in args.methods:
        raw[method] = []
        for seed in range(args.seeds):
            start = time.perf_counter()
            raw[method].append(train(method, data, seed, args.steps))
            took = time.perf_counter() - start
            print(f"{method} seed {seed}: {raw[method][-1]} ({took:.0f} s)", flush=True)
    rows = [
        {"method": method, **{k: _summary([r[k] for r in runs]) for k in runs[0]}}
        for method, runs in raw.items()
    ]
    meta = {
        "seeds": args.seeds,
        "steps": args.steps,
        "batch": BATCH,
        "imbalance": IMBALANCE,
        "train_counts": counts.tolist(),
        "tail_held_at_most": TAIL,
        "few_shot_below": FEW,
        "temperature": TEMPERATURE,
        "runs": raw,
    }
    folder = out_folder(args.out) or Path(__file__).parent / "results"
    path = write_results("study_spread", rows, meta, folder)
    plot(raw, folder / "study_spread.png")
    print(path.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
