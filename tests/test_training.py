"""The training recipes of the demo and the study: the per-copy views, the
comparison with class_weight and the demo's closing lines, without training;
in the second tier, a few steps of training for the demo's progress bar
(whole runs: `test_cli.py`, `test_benchmarks.py`)."""

from __future__ import annotations

import numpy as np
import pytest

from oversample.core.seeding import copy_seeds

tf = pytest.importorskip("tensorflow")

from oversample import demo, training  # noqa: E402


def _seeds(copies: int) -> np.ndarray:
    words = copy_seeds(5, 0, np.zeros(copies, np.int64), np.arange(copies))
    second = copy_seeds(6, 0, np.zeros(copies, np.int64), np.arange(copies))
    return np.stack([words, second], 1).view(np.int64)


def test_every_copy_is_its_own_view_and_a_seed_always_the_same_view():
    image = np.random.default_rng(0).integers(0, 256, (1, 20, 20, 1), np.uint8)
    images = tf.constant(np.repeat(image, 64, 0))
    seeds = tf.constant(_seeds(64))
    views = training.augment(images, seeds).numpy()
    assert views.shape == (64, 20, 20, 1) and views.dtype == np.float32
    assert views.min() >= 0 and views.max() <= 255
    assert np.unique(views.reshape(64, -1), axis=0).shape[0] == 64
    np.testing.assert_array_equal(training.augment(images, seeds).numpy(), views)
    # one copy alone gets the view it gets in a batch
    alone = training.augment(images[:1], seeds[5:6]).numpy()
    np.testing.assert_array_equal(alone[0], views[5])


def test_a_shift_moves_the_digit_and_keeps_its_pixels():
    image = np.zeros((1, 20, 20, 1), np.uint8)
    image[0, 8:12, 8:12] = 200
    views = training.augment(tf.constant(np.repeat(image, 32, 0)), _seeds(32))
    bright = views.numpy() > views.numpy().mean(axis=(1, 2, 3), keepdims=True)
    # a 4x4 square stays a 4x4 square, somewhere within 2 pixels
    assert (bright.sum(axis=(1, 2, 3)) == 16).all()
    rows = np.argmax(bright.any(axis=(2, 3)), axis=1)
    assert set(rows.tolist()) <= set(range(6, 11)) and len(set(rows.tolist())) > 1


def _runs(values: list[float], few: list[float] | None = None) -> list[dict]:
    few = values if few is None else few
    return [
        {"balanced_accuracy": v, "many_shot": v, "medium_shot": v, "few_shot": f}
        for v, f in zip(values, few, strict=True)
    ]


def test_compare_needs_more_than_two_standard_deviations():
    reference = _runs([0.60, 0.62, 0.64])  # sd 0.02
    close = training.compare(_runs([0.64, 0.66, 0.68]), reference, "few_shot")
    assert close["difference"] == pytest.approx(0.04)
    assert not close["wins"] and not close["loses"]
    far = training.compare(_runs([0.65, 0.67, 0.69]), reference, "few_shot")
    assert far["wins"] and not far["loses"]
    worse = training.compare(_runs([0.50, 0.52, 0.54]), reference, "few_shot")
    assert worse["loses"] and not worse["wins"]


def test_the_demo_says_who_wins_or_where_each_method_wins():
    results = {
        "class_weight": _runs([0.60, 0.62, 0.64], few=[0.70, 0.72, 0.74]),
        "balance": _runs([0.70, 0.71, 0.72], few=[0.60, 0.62, 0.64]),
    }
    lines = demo.closing_lines(results)
    assert lines == [
        "balance beats class_weight on balanced accuracy by +0.090, more than two"
        " standard deviations (0.020) over 3 seeds."
    ]
    results["balance"] = _runs([0.62, 0.63, 0.64], few=[0.60, 0.62, 0.64])
    lines = demo.closing_lines(results)
    assert lines[0].startswith("No method here is more than two standard deviations")
    assert "  balanced accuracy: balance 0.630 (class_weight 0.620)" in lines
    assert "  few shot: class_weight 0.720 (balance 0.620)" in lines
    assert demo.closing_lines({"class_weight": _runs([0.6])})[0].startswith("(one")


def test_every_method_of_the_study_is_a_recipe():
    recipes = training.methods()
    assert {"no balancing", "class_weight", "deferred", "decoupled (cRT)"} <= set(
        recipes
    )
    assert all(name in recipes for name in demo.METHODS)
    decoupled = recipes["decoupled (cRT)"]
    assert decoupled.classifier_only and 0 < decoupled.share < 1
    assert not recipes["balance, identical copies"].augment


@pytest.mark.heavy  # trains a model: the second tier
@pytest.mark.parametrize("method", ["balance", "deferred"])
def test_a_training_run_shows_every_step_on_a_terminal(method, capsys, monkeypatch):
    """The demo's bar counts the steps of both phases (deferred re-balancing
    trains twice), on stderr, and leaves standard output alone."""
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # stderr taken for a terminal
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), [30, 8, 2])
    images = rng.integers(0, 255, (labels.size, 20, 20, 1)).astype(np.uint8)
    source = tf.data.Dataset.from_tensor_slices({"image": images, "label": labels})
    with demo.steps_shown(f"seed 0  {method}", 6) as callback:
        training.train(
            training.methods()[method], source, np.bincount(labels), 0, 6, [callback]
        )
    out, err = capsys.readouterr()
    assert out == ""
    assert f"seed 0  {method}" in err and "6/6" in err and "7/6" not in err
