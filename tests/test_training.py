"""The training recipes of the demo and the study: the per-copy views, the
logit-adjusted losses, the comparison with class_weight and the demo's
closing lines, without training;
in the second tier, a few steps of training for the demo's progress bar
(whole runs: `test_cli.py`, `test_benchmarks.py`)."""

from __future__ import annotations

import json
from pathlib import Path

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


def _loss(loss, labels, logits) -> np.ndarray:
    return np.asarray(loss(tf.constant(labels), tf.constant(logits, tf.float32)))


def test_logit_adjustment_with_a_uniform_prior_is_plain_cross_entropy():
    logits = np.random.default_rng(1).normal(size=(6, 4)).astype(np.float32)
    labels = np.array([0, 1, 2, 3, 3, 1])
    plain = tf.keras.losses.sparse_categorical_crossentropy(
        labels, logits, from_logits=True
    ).numpy()
    uniform = _loss(training.logit_adjusted(np.full(4, 0.25)), labels, logits)
    np.testing.assert_allclose(uniform, plain, rtol=1e-6)
    skewed = _loss(
        training.logit_adjusted(np.array([0.7, 0.1, 0.1, 0.1])), labels, logits
    )
    # the frequent class's loss falls, the others' rise
    assert (skewed[labels == 0] < plain[labels == 0]).all()
    assert (skewed[labels != 0] > plain[labels != 0]).all()


def test_balanced_softmax_weighs_each_class_by_its_count():
    """p_y = n_y e^{z_y} / sum_j n_j e^{z_j}, worked by hand: counts 1, 2, 5
    and logits log 1, log 1, log 2 give weights 1, 2, 10 of 13; the gradient
    of -log p_y is p - onehot(y)."""
    counts = np.array([1, 2, 5])
    logits = tf.Variable([[0.0, 0.0, np.log(2.0)]], dtype=tf.float32)
    with tf.GradientTape() as tape:
        loss = training.balanced_softmax(counts)(tf.constant([1]), logits)
    grad = tape.gradient(loss, logits).numpy()[0]
    np.testing.assert_allclose(float(loss[0]), -np.log(2 / 13), rtol=1e-6)
    np.testing.assert_allclose(grad, [1 / 13, 2 / 13 - 1, 10 / 13], atol=1e-6)


def test_balanced_softmax_is_logit_adjustment_at_tau_one():
    counts = np.array([400, 30, 7])
    logits = np.random.default_rng(2).normal(size=(5, 3)).astype(np.float32)
    labels = np.array([0, 1, 2, 2, 1])
    balanced = _loss(training.balanced_softmax(counts), labels, logits)
    adjusted = _loss(training.logit_adjusted(counts / counts.sum()), labels, logits)
    np.testing.assert_allclose(balanced, adjusted, rtol=1e-5)
    halved = _loss(training.logit_adjusted(counts / counts.sum(), 0.5), labels, logits)
    assert not np.allclose(halved, balanced)


def test_post_hoc_adjustment_moves_the_argmax_where_the_prior_says():
    """Prior 0.9 / 0.1: the rare class wins once its logit is within
    log(0.9 / 0.1) = 2.197 of the frequent one's."""
    prior = np.array([0.9, 0.1])
    logits = np.array([[2.1, 0.0], [2.3, 0.0], [0.0, 0.5], [-1.0, 1.0]])
    adjusted = training.post_hoc(logits, prior)
    assert logits.argmax(1).tolist() == [0, 0, 1, 1]
    assert adjusted.argmax(1).tolist() == [1, 0, 1, 1]
    np.testing.assert_allclose(adjusted[0], [2.1 - np.log(0.9), -np.log(0.1)])


def test_the_adjustments_take_the_prior_of_the_stream_or_of_the_source():
    counts = np.array([400, 100, 4])
    recipes = training.methods()
    source = training.class_counts(recipes["logit-adjusted loss"], counts)
    assert source.tolist() == [400, 100, 4]
    stream = training.class_counts(
        recipes["balance sqrt + logit-adjusted loss"], counts
    )
    assert stream.tolist() == [400, 200, 40]  # sqrt(400 * n_c)
    both = training.class_counts(recipes["balance + logit-adjusted loss"], counts)
    assert both.tolist() == [400, 100, 4]
    balanced = training.Method("all", loss="logit-adjusted")
    assert training.class_counts(balanced, counts).tolist() == [400] * 3
    logits = np.array([[1.0, 0.0, 0.0]])
    plain = training.decision_logits(recipes["balance"], logits, counts)
    np.testing.assert_array_equal(plain, logits)
    post = training.decision_logits(
        recipes["post-hoc logit adjustment"], logits, counts
    )
    np.testing.assert_allclose(post, logits - np.log(counts / counts.sum()))


def _study(tmp_path, runs: dict[str, list[dict]]) -> Path:
    path = tmp_path / "study.json"
    meta = {"seeds": 3, "runs": {demo.DATASET: runs, "digits20_lt": {}}}
    path.write_text(json.dumps({"meta": meta, "rows": []}))
    return path


def test_the_demo_quotes_the_studys_best_method_and_its_margins(tmp_path):
    path = _study(
        tmp_path,
        {
            "class_weight": _runs([0.60, 0.62, 0.64]),
            "balance": _runs([0.70, 0.71, 0.72]),
            "Progressive": _runs([0.69, 0.70, 0.71]),
        },
    )
    assert demo.study_lines(path) == [
        f"The training study ({path}: 3 ways, 3 seeds, this tail): best on"
        " balanced accuracy is balance, 0.710 ± 0.010, +0.090 over class_weight"
        " (more than twice the larger standard deviation, 0.020), +0.010 over"
        " Progressive (not more than twice the larger standard deviation, 0.010)."
    ]
    # the reference first: one margin, over the next
    path = _study(
        tmp_path,
        {"class_weight": _runs([0.7, 0.7]), "balance": _runs([0.5, 0.6])},
    )
    (line,) = demo.study_lines(path)
    assert "best on balanced accuracy is class_weight" in line
    assert line.endswith(
        "+0.150 over balance (more than twice the larger standard deviation, 0.071)."
    )


def test_the_demo_says_where_the_study_is_when_it_cannot_quote_it(
    tmp_path, monkeypatch
):
    # an installed package, run away from a checkout: no study to read
    installed = tmp_path / "lib" / "site-packages" / "oversample" / "demo.py"
    monkeypatch.setattr(demo, "__file__", str(installed))
    monkeypatch.chdir(tmp_path)
    assert demo._study_file() is None
    (absent,) = demo.study_lines(None)
    assert "come with a source checkout" in absent and "installed package" in absent
    broken = tmp_path / "study.json"
    broken.write_text("{")
    assert "could not be read" in demo.study_lines(broken)[0]
    broken.write_text(json.dumps({"meta": {"seeds": 5, "runs": {}}}))
    assert "could not be read" in demo.study_lines(broken)[0]


def test_the_demo_quotes_the_checkouts_own_study():
    path = Path(__file__).resolve().parent.parent / demo.STUDY
    assert demo._study_file() == path
    results = json.loads(path.read_text())["meta"]["runs"][demo.DATASET]
    means = {
        m: np.mean([r["balanced_accuracy"] for r in v]) for m, v in results.items()
    }
    best = max(means, key=means.__getitem__)
    (line,) = demo.study_lines(path)
    assert f"best on balanced accuracy is {best}, {means[best]:.3f} ± " in line


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


@pytest.mark.parametrize(("ramp", "drift"), [(3, 3), (6, 4), (11, 7)])
def test_the_studys_old_rotation_drifts_where_the_ledger_stays_within_one(
    ramp, drift, monkeypatch
):
    """The study's rotations from the rule's arrays: the ledger is the plan's
    own copies; the old rotation (t * e_t) lets two samples of a class drift
    apart under Progressive (the figures of issue 36, over 17 epochs) and
    agrees with the ledger when the target stays put."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent.parent / "benchmarks"))
    from study_training import differences, epoch_copies

    import oversample as ovs

    labels = np.repeat(np.arange(4), [1000, 230, 57, 9])
    plan = ovs.plan(labels, ovs.Progressive(epochs=ramp), seed=0)
    for epoch in range(17):
        mine = epoch_copies(plan, epoch, "ledger")
        np.testing.assert_array_equal(mine, plan.copies(epoch=epoch))
        assert epoch_copies(plan, epoch, "old").sum() == mine.sum()
    assert max(differences(plan, 17, "ledger")) == 1
    assert max(differences(plan, 17, "old")) == drift
    fixed = ovs.plan(labels, "all", seed=0)
    for epoch in range(17):
        old = epoch_copies(fixed, epoch, "old")
        np.testing.assert_array_equal(old, fixed.copies(epoch=epoch))
