from __future__ import annotations

import numpy as np
import pytest

import oversample as ovs

LABELS = [0, 0, 0, 1, 2, 2]


def test_empty_labels_are_refused():
    with pytest.raises(ValueError, match=r"at least one label; got an empty labels"):
        ovs.plan([])


def test_a_single_class_with_a_balancing_preset_is_refused():
    with pytest.raises(ValueError, match=r"single class \(4\).*duplicate\(copies"):
        ovs.plan([4, 4, 4])
    with pytest.raises(ValueError, match=r"single class"):
        ovs.plan([4, 4], ovs.Power(0.5))


def test_a_single_class_with_a_dict_is_allowed():
    assert ovs.plan([4, 4], {4: 5}, seed=0).targets == {4: 5}


def test_dict_target_below_count_is_refused():
    with pytest.raises(ValueError, match=r"class 0: 2 < 3\); .*pass thin=True"):
        ovs.plan(LABELS, {0: 2})


def test_dict_target_for_an_absent_class_is_refused():
    with pytest.raises(
        ValueError, match=r"class 9 is not in the labels \(classes: \[0, 1, 2\]"
    ):
        ovs.plan(LABELS, {9: 5})


def test_dict_target_not_whole_is_refused():
    with pytest.raises(
        ValueError, match=r"target 4.5 for class 1 is not a whole number"
    ):
        ovs.plan(LABELS, {1: 4.5})
    with pytest.raises(
        ValueError, match=r"target True for class 1 is not a whole number"
    ):
        ovs.plan(LABELS, {1: True})


def test_all_dict_problems_are_reported_at_once():
    with pytest.raises(ValueError, match=r"would drop the class.*not in the labels"):
        ovs.plan(LABELS, {0: 0, 7: 3})


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ([1.0, -2.0], r"weights\[1\]=-2.0"),
        ([1.0, np.nan], r"weights\[1\]=nan"),
        ([np.inf, 1.0], r"weights\[0\]=inf"),
        ([0.5, 1.0], r"weights\[0\]=0.5"),
    ],
)
def test_bad_weights_are_refused(weights, message):
    with pytest.raises(ValueError, match=rf"finite numbers >= 1.*{message}"):
        ovs.plan(weights=weights)


def test_bool_weights_are_refused():
    with pytest.raises(TypeError, match=r"got dtype bool"):
        ovs.plan(weights=[True, False])


def test_unknown_strategy_is_refused_with_the_choices():
    with pytest.raises(
        ValueError, match=r"one of 'not majority'.*got strategy='balanced'"
    ):
        ovs.plan(LABELS, "balanced")
    with pytest.raises(TypeError, match=r"got strategy=3.5"):
        ovs.plan(LABELS, 3.5)


def test_unknown_rounding_is_refused():
    with pytest.raises(
        ValueError,
        match=r"`rounding` must be one of 'exact', 'stochastic'; got rounding='ceil'",
    ):
        ovs.plan(LABELS, rounding="ceil")


@pytest.mark.parametrize(
    ("seed", "error", "message"),
    [
        (True, TypeError, "got seed=True of type bool"),
        (1.5, TypeError, "got seed=1.5 of type float"),
        ("7", TypeError, "got seed='7' of type str"),
        (-1, ValueError, r"\[0, 2\*\*64\) or None; got seed=-1"),
        (2**64, ValueError, "got seed=18446744073709551616"),
    ],
)
def test_bad_seeds_are_refused(seed, error, message):
    with pytest.raises(error, match=message):
        ovs.plan(LABELS, seed=seed)


def test_numpy_int_seed_is_accepted():
    assert ovs.plan(LABELS, seed=np.uint64(2**64 - 1)).seed == 2**64 - 1


@pytest.mark.parametrize("value", [0.5, 0, -3, float("nan"), float("inf")])
def test_max_factor_below_one_or_not_finite_is_refused(value):
    with pytest.raises(ValueError, match=r"`max_factor` must be a finite number >= 1"):
        ovs.plan(LABELS, max_factor=value)


def test_mixed_label_types_are_refused():
    with pytest.raises(TypeError, match=r"got labels\[1\]=1, mixed with strings"):
        ovs.plan(["a", 1, "b"])
    with pytest.raises(TypeError, match=r"got labels\[1\]=True, a bool"):
        ovs.plan([1, True, 2])


def test_float_and_bool_labels_are_refused_with_a_hint():
    with pytest.raises(TypeError, match=r"got dtype float64.*astype\(np.int64\)"):
        ovs.plan(np.array([0.0, 1.0]))
    with pytest.raises(TypeError, match=r"are bools"):
        ovs.plan(np.array([True, False]))


def test_labels_wider_than_64_bits_are_refused():
    with pytest.raises(ValueError, match=rf"within 64 bits.*got labels\[1\]={2**70}"):
        ovs.plan([1, 2**70])
    with pytest.raises(
        ValueError, match=rf"none is negative\); got labels\[1\]={2**63}"
    ):
        ovs.plan([-1, 2**63])


def test_two_dimensional_labels_need_repeat_factor():
    with pytest.raises(ValueError, match=r"work with strategy=ovs.RepeatFactor"):
        ovs.plan([[0, 1], [1]])


def test_exactly_one_source_of_labels():
    with pytest.raises(
        TypeError,
        match=r"exactly one of `labels`, `weights` or `counts`; got labels, weights",
    ):
        ovs.plan([0, 1], weights=[1.0, 1.0])
    with pytest.raises(TypeError, match=r"got none"):
        ovs.plan()


def test_strategy_with_weights_is_refused():
    with pytest.raises(TypeError, match=r"`strategy` does not apply to `weights`"):
        ovs.plan(None, "sqrt", weights=[1.0])


def test_bad_counts_are_refused():
    with pytest.raises(ValueError, match=r"counts\['a'\]=0"):
        ovs.plan(counts={"a": 0, "b": 1})
    with pytest.raises(TypeError, match=r"all ints or all str"):
        ovs.plan(counts={"a": 1, 2: 1})


@pytest.mark.parametrize(
    ("epoch", "error"), [(-1, ValueError), (True, TypeError), (1.0, TypeError)]
)
def test_bad_epochs_are_refused(epoch, error):
    with pytest.raises(error, match=r"`epoch` must be an int >= 0"):
        ovs.plan(LABELS, seed=0).copies(epoch)


def test_bad_power_and_repeat_factor_are_refused():
    with pytest.raises(ValueError, match=r"exponent=-1"):
        ovs.Power(-1)
    with pytest.raises(ValueError, match=r"threshold=0"):
        ovs.RepeatFactor(0)
    with pytest.raises(ValueError, match=r"multi-hot"):
        ovs.plan(np.array([[0, 2]]), ovs.RepeatFactor(0.5))
