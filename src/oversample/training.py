"""The training recipes of the demo and of the training study: a small CNN for
digits20_lt's 20x20 images, its scores by shots, and the ways to train it on a
long tail for the same steps (plain, class weights, balanced, deferred,
decoupled), each copy its own augmented view through `copy_seeds`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

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


def augment(images: Any, seeds: Any) -> Any:
    """One view of each 20x20 grey digit of a batch, from its copy's int64 [2]
    seed: shifted by up to 2 pixels each way, contrast scaled by 0.7-1.3 and
    brightness moved by up to 25 of 255. The seed's 128 bits are themselves
    uniform (splitmix64 outputs), so the draws are read off them, for the
    whole batch at once: pure functions of the seed, no stateful op."""
    import tensorflow as tf

    first, second = tf.unstack(tf.bitcast(seeds, tf.uint64), axis=1)
    five = tf.constant(5, tf.uint64)
    shift_y = tf.cast(first % five, tf.int32)
    shift_x = tf.cast(first // five % five, tf.int32)
    low = tf.bitwise.bitwise_and(second, tf.constant(0xFFFFFFFF, tf.uint64))
    high = tf.bitwise.right_shift(second, tf.constant(32, tf.uint64))
    contrast = 0.7 + 0.6 * _unit(low)
    light = 25.0 * (2.0 * _unit(high) - 1.0)
    padded = tf.pad(tf.cast(images, tf.float32), [[0, 0], [2, 2], [2, 2], [0, 0]])
    window = tf.range(20)
    rows = tf.gather(padded, shift_y[:, None] + window, axis=1, batch_dims=1)
    view = tf.gather(rows, shift_x[:, None] + window, axis=2, batch_dims=1)
    mean = tf.reduce_mean(view, axis=[1, 2, 3], keepdims=True)
    scale = contrast[:, None, None, None]
    view = (view - mean) * scale + mean + light[:, None, None, None]
    return tf.clip_by_value(view, 0.0, 255.0)


def _unit(bits: Any) -> Any:
    """uint64 values below 2**32 as float32 in [0, 1)."""
    import tensorflow as tf

    return tf.cast(bits, tf.float32) / 2.0**32


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
    batches = ds.batch(BATCH)
    if views:
        pairs = batches.map(
            lambda e, m: (augment(e["image"], m["seed"]), e["label"]),
            num_parallel_calls=2,
        )
    else:
        pairs = batches.map(lambda e: (tf.cast(e["image"], tf.float32), e["label"]))
    return pairs.prefetch(2)


def train(
    method: Method,
    source: Any,
    counts: np.ndarray,
    seed: int,
    steps: int,
    callbacks: list[Any] | None = None,
) -> Any:
    """One CNN trained `steps` steps of `BATCH` by `method` on `source` (a
    dataset of {"image", "label"}); returns the model. `callbacks` (Keras
    callbacks) see every step of both phases."""
    import keras

    model = cnn(seed, counts.size)
    weights = None
    if method.weights:
        weights = dict(enumerate((counts.sum() / (counts.size * counts)).tolist()))
    later = round(steps * method.share) if method.then is not None else 0
    first = stream(source, method.strategy, seed, method.augment)
    model.fit(
        first.take(steps - later),
        epochs=1,
        class_weight=weights,
        verbose=0,
        callbacks=callbacks,
    )
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
        model.fit(second.take(later), epochs=1, verbose=0, callbacks=callbacks)
    return model


def compare(
    runs: list[dict[str, float]], reference: list[dict[str, float]], metric: str
) -> dict[str, Any]:
    """`runs` against `reference` on `metric`, seed by seed (the same seeds):
    the mean paired difference and its standard deviation, and whether the
    difference of means is more than two standard deviations of either
    method's seeds (`wins`, `loses`)."""
    import statistics

    def sd(values: list[float]) -> float:
        return statistics.stdev(values) if len(values) > 1 else 0.0

    mine = [r[metric] for r in runs]
    theirs = [r[metric] for r in reference]
    paired = [a - b for a, b in zip(mine, theirs, strict=True)]
    spread = max(sd(mine), sd(theirs))
    difference = statistics.mean(mine) - statistics.mean(theirs)
    return {
        "difference": difference,
        "paired_sd": sd(paired),
        "spread": spread,
        "wins": difference > 2 * spread > 0,
        "loses": difference < -2 * spread < 0,
    }
