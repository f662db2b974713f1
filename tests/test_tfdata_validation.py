"""Bad input to the tf.data functions: a clear error before data flows, or a
clear run-time error where only the data can tell."""

from __future__ import annotations

import numpy as np
import pytest

import oversample as ovs
from tf_helpers import labelled, tail

tf = pytest.importorskip("tensorflow")


@pytest.mark.parametrize(
    ("copies", "error", "message"),
    [
        (float("nan"), ValueError, "finite number >= 1; got copies=nan"),
        (-2, ValueError, "got copies=-2"),
        (float("inf"), ValueError, "got copies=inf"),
        (0.5, ValueError, "got copies=0.5"),
        (True, TypeError, "got copies=True of type bool"),
        ("3", TypeError, "got copies='3' of type str"),
    ],
)
def test_bad_copies_are_refused(copies, error, message):
    with pytest.raises(error, match=message):
        ovs.duplicate(labelled([0, 1]), copies=copies)


def test_bad_per_class_copies_are_refused():
    with pytest.raises(ValueError, match=r"copies\[3\]` must be a finite number"):
        ovs.duplicate(labelled([0, 3]), copies={3: float("nan")}, label="label")
    with pytest.raises(ValueError, match=r"needs `label=`"):
        ovs.duplicate(labelled([0, 3]), copies={3: 2})


def test_bad_weights_from_elements_are_refused_before_streaming():
    ds = tf.data.Dataset.from_tensor_slices({"weight": [1.0, np.nan, 0.5]})
    with pytest.raises(ValueError, match=r"weights\[1\]=nan, weights\[2\]=0.5"):
        ovs.duplicate(ds, copies=lambda e: e["weight"])


def test_where_must_return_a_boolean_scalar():
    with pytest.raises(TypeError, match=r"`where` must return a boolean scalar"):
        ovs.duplicate(labelled([0, 1]), copies=2, where=lambda e: e["label"])


def test_indices_out_of_range_are_refused():
    with pytest.raises(ValueError, match=r"positions in \[0, 2\); got \[-1, 5\]"):
        ovs.duplicate(labelled([0, 1]), copies=2, indices=[-1, 0, 5])
    unknown = labelled([0, 1, 2]).filter(lambda e: True)
    with pytest.raises(ValueError, match=r"positions in \[0, 3\); got \[3\]"):
        ovs.duplicate(unknown, copies=2, indices=[3])
    with pytest.raises(TypeError, match=r"must be ints"):
        ovs.duplicate(labelled([0, 1]), copies=2, indices=[0.5])


def test_an_infinite_source_is_refused_for_counting():
    with pytest.raises(ValueError, match=r"infinite"):
        ovs.balance(labelled([0, 1, 1]).repeat(), seed=0)


def test_a_label_missing_from_the_plan_fails_at_run_time_naming_it():
    ds = ovs.balance(labelled([0, 0, 1, 7]), counts={0: 2, 1: 2}, seed=0, spread=None)
    not_planned = r"not in the plan.*\b7\b"
    with pytest.raises(tf.errors.InvalidArgumentError, match=not_planned):
        list(ds)


def test_a_label_missing_from_the_plan_is_refused_by_the_pass_that_holds_samples():
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"not in the plan.*\b7\b"):
        ovs.balance(labelled([0, 0, 1, 7]), counts={0: 2, 1: 2}, seed=0)


def test_more_samples_of_a_class_than_counted_fail_at_run_time():
    ds = ovs.balance(labelled([0, 0, 0, 1]), counts={0: 2, 1: 2}, seed=0, spread=None)
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=r"more samples of a class"
    ):
        list(ds)


def test_fewer_samples_than_planned_fail_at_the_end():
    source = labelled([0, 0, 1]).filter(lambda e: True)
    ds = ovs.balance(source, counts={0: 2, 1: 2}, seed=0, spread=None)
    with pytest.raises(tf.errors.FailedPreconditionError, match=r"expected to contain"):
        list(ds)


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([0, 0, 0, 1], "holds 3 samples of class 0 but the counts"),
        ([0, 0, 1], "holds 1 samples of class 1 but the counts"),
    ],
)
def test_counts_the_data_contradict_are_refused_before_streaming(labels, message):
    source = labelled(labels).filter(lambda e: True)
    with pytest.raises(ValueError, match=message):
        ovs.balance(source, counts={0: 2, 1: 2}, seed=0)


def test_a_reshuffling_source_is_refused():
    shuffled = labelled(tail()).shuffle(10)
    with pytest.raises(ValueError, match=r"does not keep its order.*reshuffles"):
        ovs.balance(shuffled, seed=0)
    fixed = labelled(tail()).shuffle(10, seed=1, reshuffle_each_iteration=False)
    assert int(ovs.balance(fixed, seed=0).cardinality()) > 0


def test_a_plan_for_other_data_is_refused():
    plan = ovs.plan([0, 0, 1], seed=0)
    with pytest.raises(
        ValueError, match=r"plan covers 3 samples of classes 0, 1 but `ds` has 4"
    ):
        ovs.balance(labelled([0, 0, 1, 1]), plan=plan)
    with pytest.raises(ValueError, match=r"`plan` already fixes strategy"):
        ovs.balance(labelled([0, 0, 1]), plan=plan, strategy="sqrt")


def test_epoch_and_epochs_together_are_refused():
    with pytest.raises(ValueError, match=r"give `epoch`.*or `epochs`"):
        ovs.balance(labelled([0, 1, 1]), seed=0, epoch=1, epochs=2)
    with pytest.raises(ValueError, match=r"`epochs` must be an int >= 1; got epochs=0"):
        ovs.balance(labelled([0, 1, 1]), seed=0, epochs=0)
    with pytest.raises(ValueError, match=r"`epoch` must be an int >= 0; got epoch=-1"):
        ovs.balance(labelled([0, 1, 1]), seed=0, epoch=-1)


def test_bad_shuffle_buffer_and_seed_are_refused():
    with pytest.raises(ValueError, match=r"'auto', an int >= 0 or None"):
        ovs.balance(labelled([0, 1, 1]), seed=0, shuffle_buffer="big")
    with pytest.raises(TypeError, match=r"got seed=1.5"):
        ovs.balance(labelled([0, 1, 1]), seed=1.5)


def test_missing_tensorflow_gives_an_install_hint(monkeypatch):
    import builtins

    from oversample import tf as tfdata

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "tensorflow":
            raise ImportError("no tensorflow")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match=r"pip install 'oversample\[tf\]'"):
        tfdata.tf()


def test_a_batched_dataset_is_refused_saying_to_balance_before_batch():
    ds = labelled([0, 0, 0, 1] * 4).batch(4)
    with pytest.raises(ValueError, match=r"look batched .* before `\.batch\(\)`"):
        ovs.balance(ds, seed=0)


def test_counts_that_miss_a_class_are_refused_naming_the_counted_classes():
    with pytest.raises(ValueError, match=r"3 samples of classes 0, 1 but `ds` has 4"):
        ovs.balance(labelled([0, 0, 1, 2]), counts={0: 2, 1: 1}, spread=None)
