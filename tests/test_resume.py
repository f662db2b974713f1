"""Iterator checkpoints resume exactly, also in a fresh process, and refuse
another configuration."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import oversample as ovs
from tf_helpers import labelled, tail

tf = pytest.importorskip("tensorflow")


def _pipeline(seed: int = 3, labels=None, **kwargs):
    labels = tail() if labels is None else labels
    return ovs.balance(labelled(labels), seed=seed, **kwargs)


def _positions(iterator) -> list[int]:
    return [int(e["position"]) for e in iterator]


def _resume_matches(ds, consumed: int, tmp_path) -> bool:
    iterator = iter(ds)
    for _ in range(consumed):
        next(iterator)
    path = tf.train.Checkpoint(iterator=iterator).save(str(tmp_path / "ckpt"))
    expected = _positions(iterator)
    restored = iter(ds)
    tf.train.Checkpoint(iterator=restored).restore(path)
    return _positions(restored) == expected


@pytest.mark.parametrize("mode", [{}, {"epoch": 2}, {"epochs": 2}])
def test_resume_after_one_at_random_points_last_and_after_exhaustion(mode, tmp_path):
    ds = _pipeline(**mode)
    total = int(ds.cardinality())
    points = [1, total - 1, total, *np.random.default_rng(0).integers(2, total, 3)]
    for consumed in points:
        assert _resume_matches(ds, int(consumed), tmp_path / str(consumed)), consumed


@pytest.mark.parametrize("mode", [{"epoch": 2}, {"epochs": 2}])
def test_resume_at_the_start_with_chosen_epochs(mode, tmp_path):
    ds = _pipeline(**mode)
    for _ in range(2):  # also for a later iteration of the same dataset
        assert _resume_matches(ds, 0, tmp_path / f"start{_}")


def test_fresh_epoch_saved_at_the_start_restores_in_a_new_pipeline(tmp_path):
    iterator = iter(_pipeline())
    path = tf.train.Checkpoint(iterator=iterator).save(str(tmp_path / "ckpt"))
    expected = _positions(iterator)
    restored = iter(_pipeline())
    tf.train.Checkpoint(iterator=restored).restore(path)
    assert _positions(restored) == expected


def test_fresh_epoch_saved_at_the_start_of_a_later_iteration_is_still_exact(tmp_path):
    # NOTE: tf.data creates a shuffle's input lazily, so a state saved before the
    # first element does not hold the iteration's epoch draw; restoring gives
    # another fresh epoch, exact like every other (documented; `epochs=` is
    # checkpoint-exact at every point).
    ds = _pipeline()
    _positions(iter(ds))
    iterator = iter(ds)
    path = tf.train.Checkpoint(iterator=iterator).save(str(tmp_path / "ckpt"))
    restored = iter(ds)
    tf.train.Checkpoint(iterator=restored).restore(path)
    labels = tail()
    per_class = np.bincount(labels[_positions(restored)], minlength=6)
    assert per_class.tolist() == [ds.plan.targets[c] for c in range(6)]


def test_resume_with_stochastic_rounding_and_duplicate(tmp_path):
    assert _resume_matches(_pipeline(rounding="stochastic"), 17, tmp_path / "a")
    weights = np.array([1.5, 2.25, 1.0, 3.5])
    ds = tf.data.Dataset.from_tensor_slices(
        {"weight": weights, "position": np.arange(4)}
    )
    assert _resume_matches(
        ovs.duplicate(ds, copies=lambda e: e["weight"], seed=1), 3, tmp_path / "b"
    )


def test_resume_in_a_fresh_process(tmp_path):
    script = textwrap.dedent(
        f"""
        import json, sys
        sys.path.insert(0, {str(tmp_path.parent)!r})
        sys.path.insert(0, "tests")
        import tensorflow as tf
        from tf_helpers import labelled, tail
        import oversample as ovs
        ds = ovs.balance(labelled(tail()), seed=3)
        it = iter(ds)
        head = [int(next(it)["position"]) for _ in range(23)]
        path = tf.train.Checkpoint(iterator=it).save({str(tmp_path / "ckpt")!r})
        rest = [int(e["position"]) for e in it]
        print(json.dumps({{"path": path, "rest": rest}}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    saved = json.loads(done.stdout.strip().splitlines()[-1])
    restored = iter(_pipeline())
    tf.train.Checkpoint(iterator=restored).restore(saved["path"])
    assert _positions(restored) == saved["rest"]


@pytest.mark.parametrize(
    "other",
    [{"seed": 4}, {"strategy": "sqrt"}, {"epoch": 1}, {"rounding": "stochastic"}],
)
def test_restoring_into_another_configuration_is_refused(other, tmp_path):
    # The guard runs where the source is read, so the source here is longer
    # than a block and the buffer smaller than the epoch (a state saved once
    # the source is exhausted cannot be checked; see the README).
    long = np.tile(tail(), 60)
    iterator = iter(_pipeline(seed=3, labels=long, shuffle_buffer=16))
    next(iterator)
    path = tf.train.Checkpoint(iterator=iterator).save(str(tmp_path / "ckpt"))
    settings = {"seed": 3, "labels": long, "shuffle_buffer": 16, **other}
    restored = iter(_pipeline(**settings))
    refusals = (tf.errors.InvalidArgumentError, tf.errors.NotFoundError)
    with pytest.raises(
        refusals, match=r"another plan or other|definition has not changed"
    ):
        tf.train.Checkpoint(iterator=restored).restore(path)
        _positions(restored)
