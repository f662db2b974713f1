"""The training recipes of the demo and of the training study: a small CNN for
digits20_lt's 20x20 images, its scores by shots, and the ways to train it on a
long tail for the same steps (plain, class weights, balanced, deferred,
decoupled, logit-adjusted), each copy its own augmented view through
`copy_seeds`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

METRICS = ("balanced_accuracy", "many_shot", "medium_shot", "few_shot")
BATCH = 128
MANY, FEW = 500, 100  # train images: many-shot >= 500, few-shot < 100
HEAD_RATE = 1e-2  # decoupled training: the re-initialised classifier's rate
PROGRESSIVE_EPOCHS = 5  # balanced from about two thirds of 1,200 steps on
TAU = 1.0  # logit adjustment's temperature (Menon et al. 2021 use tau = 1)


def cnn(seed: int, classes: int = 20, loss: Any = None) -> Any:
    """The small CNN of the demo and the training study (20x20 grey images),
    compiled with `loss` (default: cross-entropy of the logits)."""
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
        loss=loss or keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def shifted_loss(shift: np.ndarray) -> Callable[[Any, Any], Any]:
    """Cross-entropy of the logits plus a fixed `shift` per class, during
    training only: logit adjustment with tau * log(prior) (Menon et al. 2021),
    balanced softmax with log(counts) (Ren et al. 2020)."""
    import keras

    offset = keras.ops.convert_to_tensor(np.asarray(shift, np.float32))

    def loss(labels: Any, logits: Any) -> Any:
        return keras.losses.sparse_categorical_crossentropy(
            labels, logits + offset, from_logits=True
        )

    return loss


def logit_adjusted(prior: np.ndarray, tau: float = TAU) -> Callable[[Any, Any], Any]:
    """The logit-adjusted loss: cross-entropy of logits + tau * log(prior)."""
    return shifted_loss(tau * np.log(prior))


def balanced_softmax(counts: np.ndarray) -> Callable[[Any, Any], Any]:
    """Balanced softmax: p_y = n_y e^{z_y} / sum_j n_j e^{z_j}.

    NOTE: the same loss as `logit_adjusted` at tau = 1: log n_c = log prior_c
    + log N, and a constant added to every logit cancels in the softmax. Kept
    under its own name because the literature and users name it so."""
    return shifted_loss(np.log(np.asarray(counts, np.float64)))


def post_hoc(logits: np.ndarray, prior: np.ndarray, tau: float = TAU) -> np.ndarray:
    """Post-hoc logit adjustment: the test logits minus tau * log(prior)."""
    return np.asarray(logits) - tau * np.log(prior)


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
    alone, re-initialised (decoupled training, cRT); optionally a loss that
    adjusts the logits by a class prior, or the same adjustment after
    training (`post_hoc`). The prior is the class frequencies of the stream
    the model trains on (`prior="stream"`: what makes logit adjustment
    consistent for the balanced error) or of the source (`"source"`)."""

    strategy: object = None  # None: every sample once per epoch
    weights: bool = False
    augment: bool = True  # a different view for every copy (copy seeds)
    then: object = None
    share: float = 0.0
    classifier_only: bool = False
    loss: str = "cross-entropy"  # or "logit-adjusted", "balanced softmax"
    prior: str = "stream"  # of the adjustments: the trained stream's or "source"
    post_hoc: bool = False  # test logits minus TAU * log(prior)


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
        "logit-adjusted loss": Method(loss="logit-adjusted"),
        "post-hoc logit adjustment": Method(post_hoc=True),
        "balanced softmax": Method(loss="balanced softmax"),
        # NOTE: with the balanced stream's own prior (uniform) the adjustment
        # is a constant and changes nothing: the combination that does
        # something adds the source's prior to balanced sampling.
        "balance + logit-adjusted loss": Method(
            "all", loss="logit-adjusted", prior="source"
        ),
        "balance sqrt + logit-adjusted loss": Method("sqrt", loss="logit-adjusted"),
    }


def class_counts(method: Method, counts: np.ndarray) -> np.ndarray:
    """The classes' counts behind `method`'s adjustments: the source's
    (`counts`), or the stream's it trains on (its strategy's targets)."""
    import oversample as ovs

    if method.prior == "source" or method.strategy is None:
        return np.asarray(counts, np.int64)
    plan = ovs.plan(counts=dict(enumerate(counts.tolist())), strategy=method.strategy)
    return np.array([plan.targets[c] for c in plan.classes], np.int64)


def loss_of(method: Method, counts: np.ndarray) -> Any:
    """The training loss of `method` (None: plain cross-entropy)."""
    found = class_counts(method, counts)
    if method.loss == "logit-adjusted":
        return logit_adjusted(found / found.sum())
    if method.loss == "balanced softmax":
        return balanced_softmax(found)
    return None


def decision_logits(
    method: Method, logits: np.ndarray, counts: np.ndarray
) -> np.ndarray:
    """The logits `method` predicts by: post-hoc adjusted, or as they are."""
    if not method.post_hoc:
        return np.asarray(logits)
    found = class_counts(method, counts)
    return post_hoc(logits, found / found.sum())


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
    import oversample as ovs

    if strategy is None:
        ds = ovs.duplicate(source, copies=1, seed=seed, epochs=None, copy_seeds=views)
    else:
        ds = ovs.balance(
            source, strategy=strategy, seed=seed, epochs=None, copy_seeds=views
        )
    return batches(ds, views)


def batches(ds: Any, views: bool) -> Any:
    """(image, label) batches of a stream of {"image", "label"} elements, with
    their copy seeds when `views`: each copy its own augmented view."""
    import tensorflow as tf

    grouped = ds.batch(BATCH)
    if views:
        pairs = grouped.map(
            lambda e, m: (augment(e["image"], m["seed"]), e["label"]),
            num_parallel_calls=2,
        )
    else:
        pairs = grouped.map(lambda e: (tf.cast(e["image"], tf.float32), e["label"]))
    return pairs.prefetch(2)


def train(
    method: Method,
    source: Any,
    counts: np.ndarray,
    seed: int,
    steps: int,
    callbacks: list[Any] | None = None,
    first: Any = None,
) -> Any:
    """One CNN trained `steps` steps of `BATCH` by `method` on `source` (a
    dataset of {"image", "label"}); returns the model. `callbacks` (Keras
    callbacks) see every step of both phases. `first`: (image, label)
    batches to train on instead of `method`'s stream (its first phase)."""
    import keras

    model = cnn(seed, counts.size, loss_of(method, counts))
    weights = None
    if method.weights:
        weights = dict(enumerate((counts.sum() / (counts.size * counts)).tolist()))
    later = round(steps * method.share) if method.then is not None else 0
    if first is None:
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
