"""Labels in every container users hand over: lists, ranges, NumPy arrays of
any int width or string kind, and pandas columns; bad labels named by position."""

from __future__ import annotations

import numpy as np
import pytest

import oversample as ovs

CATS = ["cat"] * 6 + ["dog"] * 2


def _counts(labels):
    return ovs.plan(labels, seed=0).counts


@pytest.mark.parametrize(
    "labels",
    [
        CATS,
        tuple(CATS),
        np.array(CATS),
        np.array(CATS, dtype=object),
        np.array([c.encode() for c in CATS]),
        np.array(CATS, dtype=np.dtypes.StringDType()),
    ],
    ids=["list", "tuple", "unicode", "object", "bytes", "StringDType"],
)
def test_string_labels_in_any_container(labels):
    assert _counts(labels) == {"cat": 6, "dog": 2}


@pytest.mark.parametrize(
    "labels",
    [
        [3] * 6 + [7] * 2,
        np.array([3] * 6 + [7] * 2, dtype=np.int8),
        np.array([3] * 6 + [7] * 2, dtype=np.uint32),
        np.array([3] * 6 + [7] * 2, dtype=object),
    ],
    ids=["list", "int8", "uint32", "object"],
)
def test_int_labels_in_any_container(labels):
    assert _counts(labels) == {3: 6, 7: 2}


def test_a_range_is_one_sample_per_class():
    assert _counts(range(4)) == {0: 1, 1: 1, 2: 1, 3: 1}


def test_objects_beyond_int64_become_uint64():
    assert _counts(np.array([2**64 - 1, 0, 0], dtype=object)) == {0: 2, 2**64 - 1: 1}


@pytest.mark.parametrize(
    "make",
    [
        lambda pd: pd.Series(CATS),
        lambda pd: pd.Series(CATS).to_numpy(),
        lambda pd: pd.Series(CATS).values,
        lambda pd: pd.Series(CATS, dtype="category"),
        lambda pd: pd.DataFrame({"label": CATS})["label"],
        lambda pd: pd.Series(CATS, dtype="string"),
    ],
    ids=["series", "to_numpy", "values", "categorical", "column", "string"],
)
def test_pandas_string_columns(make):
    pd = pytest.importorskip("pandas")
    assert _counts(make(pd)) == {"cat": 6, "dog": 2}


@pytest.mark.parametrize(
    "make",
    [
        lambda pd: pd.Series([3] * 6 + [7] * 2),
        lambda pd: pd.Series([3] * 6 + [7] * 2, dtype="category"),
        lambda pd: pd.Series([3] * 6 + [7] * 2, dtype="Int64"),
    ],
    ids=["int64", "categorical", "nullable"],
)
def test_pandas_int_columns(make):
    pd = pytest.importorskip("pandas")
    assert _counts(make(pd)) == {3: 6, 7: 2}


@pytest.mark.parametrize(
    ("labels", "error", "message"),
    [
        ([1, "a", 2], TypeError, r"got labels\[1\]='a', mixed with ints before it"),
        (["a", "b", 3], TypeError, r"got labels\[2\]=3, mixed with strings"),
        ([4, None, 2], ValueError, r"missing values; got labels\[1\]=None"),
        (["a", "b", None], ValueError, r"missing values; got labels\[2\]=None"),
        (np.array([1.0, 2.0, np.nan]), ValueError, r"got labels\[2\]=nan \(1 in all"),
        ([1, 2, True], TypeError, r"got labels\[2\]=True, a bool"),
        ([1, 2.5], TypeError, r"got labels\[1\]=2.5, of type float"),
        ([0, 2**64], ValueError, rf"within 64 bits.*got labels\[1\]={2**64}"),
        ([-3, 2**63], ValueError, rf"none is negative\); got labels\[1\]={2**63}"),
        (np.array(5), ValueError, r"must be 1-D.*got shape \(\)"),
        (np.zeros((2, 3, 4), int), ValueError, r"must be 1-D.*got shape \(2, 3, 4\)"),
        (np.array([], dtype=object), ValueError, r"at least one label"),
        ({1, 2}, TypeError, r"1-D sequence or array.*got labels=\{1, 2\}"),
        (7, TypeError, r"got labels=7"),
    ],
)
def test_bad_labels_are_named_by_position(labels, error, message):
    with pytest.raises(error, match=message):
        ovs.plan(labels)


def test_pandas_missing_values_are_named_by_position():
    pd = pytest.importorskip("pandas")
    with pytest.raises(ValueError, match=r"got labels\[1\]=(None|nan|<NA>)"):
        ovs.plan(pd.Series(["a", None, "b"]))
    with pytest.raises(ValueError, match=r"got labels\[2\]=(nan|<NA>)"):
        ovs.plan(pd.Series([1, 2, None, 4], dtype="Int64"))


def test_a_matrix_without_repeat_factor_names_its_shape():
    with pytest.raises(ValueError, match=r"got labels of shape \(3, 4\) with"):
        ovs.plan(np.zeros((3, 4), int))


def test_a_key_asked_of_tuple_examples_suggests_the_position():
    examples = [(f"image {i}", label) for i, label in enumerate([0, 1, 1])]
    with pytest.raises(
        ValueError,
        match=r"it is a tuple, not a dict: name the label by its position in the"
        r" tuple, e.g. `label=1` \(the last of its 2 items\)\.$",
    ):
        ovs.balance(examples, label="label", seed=0, epoch=0)
    balanced = ovs.balance(examples, label=1, seed=0, epoch=0)
    assert sorted(label for _, label in balanced) == [0, 0, 1, 1]


def test_a_key_asked_of_tuple_elements_in_tf_data_suggests_the_position():
    tf = pytest.importorskip("tensorflow")
    ds = tf.data.Dataset.from_tensor_slices(([1, 2, 3], [0, 1, 1], [5, 5, 5]))
    with pytest.raises(ValueError, match=r"e\.g\. `label=2` \(the last of its 3"):
        ovs.balance(ds, label="label", seed=0)


def test_a_dict_without_the_key_lists_its_keys_and_no_position():
    with pytest.raises(ValueError, match=r"the keys there are 'cls'\.$"):
        ovs.balance([{"cls": 0}, {"cls": 1}], label="label", seed=0, epoch=0)


@pytest.mark.parametrize(
    "dtype", [np.int64, np.int32, np.int16, np.int8, np.uint8, np.uint16, np.uint64]
)
def test_the_tallys_distinct_labels_equal_numpys_unique(dtype):
    from oversample.core.prepare import distinct

    rng = np.random.default_rng(3)
    info = np.iinfo(dtype)
    for _ in range(300):
        span = int(rng.integers(1, min(400, int(info.max) - int(info.min))))
        low = int(
            rng.integers(
                info.min, info.max - span, dtype=np.int64 if info.min < 0 else np.uint64
            )
        )
        size = int(rng.integers(1, 200))  # spans above 4 per label take the sort
        labels = (
            np.asarray(low, dtype) + rng.integers(0, span, size).astype(dtype)
        ).astype(dtype)
        values, inverse = distinct(labels)
        expected = np.unique(labels, return_inverse=True)
        assert values.dtype == expected[0].dtype
        assert values.tolist() == expected[0].tolist()
        assert inverse.tolist() == expected[1].tolist()
