from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import oversample as ovs


def test_golden_not_majority_targets_and_totals():
    p = ovs.plan([0, 0, 0, 0, 1, 2, 2], seed=7)
    assert p.classes == (0, 1, 2)
    assert p.counts == {0: 4, 1: 1, 2: 2}
    assert p.targets == {0: 4, 1: 4, 2: 4}
    assert p.factors == {0: 1.0, 1: 4.0, 2: 2.0}
    assert p.total == len(p) == 12
    assert p.copies(0).tolist() == [1, 1, 1, 1, 4, 2, 2]


def test_golden_uneven_class_gets_b_or_b_plus_one():
    # Class 1 has 3 samples and target 8: b=2, e=2 -> copies {2, 3, 3}.
    p = ovs.plan([0] * 8 + [1] * 3, seed=3)
    copies = p.copies(0)[8:]
    assert sorted(copies.tolist()) == [2, 3, 3]


def test_the_extra_copy_rotates_between_epochs():
    p = ovs.plan([0] * 8 + [1] * 3, seed=3)
    extras = [tuple(p.copies(e)[8:] == 3) for e in range(3)]
    assert len(set(extras)) > 1
    total = sum(p.copies(e)[8:] for e in range(3))
    assert total.tolist() == [8, 8, 8]


def test_int_labels_of_any_width_are_kept():
    p = ovs.plan(np.array([2**40, 2**40, -3], dtype=np.int64), seed=0)
    assert p.classes == (-3, 2**40)
    big = ovs.plan(np.array([2**63 + 1, 2**63 + 1, 5], dtype=np.uint64), seed=0)
    assert big.classes == (5, 2**63 + 1)
    sparse = ovs.plan([10**15, 7, 7], seed=0)
    assert sparse.targets == {7: 2, 10**15: 2}


def test_unicode_string_labels():
    p = ovs.plan(["猫", "猫", "猫", "chien"], seed=0)
    assert p.targets == {"chien": 3, "猫": 3}


def test_small_int_dtypes_do_not_wrap():
    p = ovs.plan(np.array([-128, 127, 127], dtype=np.int8), seed=0)
    assert p.classes == (-128, 127)
    assert p.copies(0).tolist() == [2, 1, 1]


def test_codes_take_one_byte_per_sample_for_few_classes():
    p = ovs.plan(np.arange(1000) % 7, seed=0)
    assert p._codes.itemsize == 1


def test_indices_repeat_each_source_index_by_its_copies(tail_labels):
    p = ovs.plan(tail_labels, seed=5)
    for shuffle in (True, False):
        counted = np.bincount(p.indices(2, shuffle=shuffle), minlength=p.num_samples)
        assert counted.tolist() == p.copies(2).tolist()
    assert not np.array_equal(p.indices(2), p.indices(2, shuffle=False))


def test_seed_none_draws_and_records_a_seed(tail_labels):
    p = ovs.plan(tail_labels)
    again = ovs.plan(tail_labels, seed=p.seed)
    assert isinstance(p.seed, int)
    assert np.array_equal(p.copies(4), again.copies(4))


def test_json_round_trip_keeps_every_decision(tail_labels):
    p = ovs.plan(tail_labels, "sqrt", seed=11, max_factor=3.5)
    q = ovs.Plan.from_json(p.to_json())
    assert q == p and q.fingerprint == p.fingerprint
    assert q.targets == p.targets and q.max_factor == 3.5
    assert np.array_equal(q.copies(9), p.copies(9))
    weights = ovs.plan(weights=[1.0, 1.25, 3.5], seed=2, rounding="stochastic")
    assert np.array_equal(
        ovs.Plan.from_json(weights.to_json()).copies(3), weights.copies(3)
    )


def test_fingerprint_changes_with_seed_and_strategy(tail_labels):
    base = ovs.plan(tail_labels, seed=1).fingerprint
    assert ovs.plan(tail_labels, seed=2).fingerprint != base
    assert ovs.plan(tail_labels, "sqrt", seed=1).fingerprint != base
    assert ovs.plan(tail_labels, seed=1).fingerprint == base


def test_from_json_refuses_other_documents():
    with pytest.raises(ValueError, match="not an oversample plan"):
        ovs.Plan.from_json(json.dumps({"a": 1}))
    with pytest.raises(ValueError, match="not JSON"):
        ovs.Plan.from_json("{")


def test_plan_from_counts_knows_classes_but_not_samples():
    p = ovs.plan(counts={"a": 5, "b": 2}, seed=0)
    assert p.targets == {"a": 5, "b": 5} and p.total == 10
    assert not p.knows_samples
    with pytest.raises(ValueError, match="knows no samples"):
        p.copies(0)


def test_weights_plan_floor_or_ceil_and_rounded_total():
    weights = np.array([1.0, 1.5, 2.25, 3.75, 1.1, 1.9])
    p = ovs.plan(weights=weights, seed=0)
    assert p.total == round(weights.sum())
    for epoch in range(10):
        copies = p.copies(epoch)
        assert copies.sum() == p.total
        assert np.all((copies == np.floor(weights)) | (copies == np.ceil(weights)))


def test_max_factor_caps_weights():
    p = ovs.plan(weights=[1.0, 10.0], seed=0, max_factor=2)
    assert p.copies(0).tolist() == [1, 2]


def test_summary_lists_classes_and_totals(tail_labels):
    text = ovs.plan(tail_labels, seed=0).summary()
    assert "factor" in text and "total" in text
    for label in range(6):
        assert f"\n│ {label} " in text


def test_summary_shortens_long_tails():
    labels = np.repeat(np.arange(300), np.arange(300) + 1)
    text = ovs.plan(labels, seed=0).summary(max_rows=10)
    assert "290 more" in text


def test_repr_names_the_essentials(tail_labels):
    text = repr(ovs.plan(tail_labels, seed=4))
    assert "classes=6" in text and "seed=4" in text


def test_same_seed_gives_same_arrays_in_a_fresh_process(tail_labels):
    p = ovs.plan(tail_labels, seed=123, rounding="stochastic")
    code = (
        "import json, sys, numpy as np, oversample as ovs\n"
        "labels = np.array(json.loads(sys.stdin.read()))\n"
        "p = ovs.plan(labels, seed=123, rounding='stochastic')\n"
        "print(json.dumps([p.copies(3).tolist(), p.indices(3).tolist()]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(tail_labels.tolist()),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    copies, indices = json.loads(out)
    assert copies == p.copies(3).tolist()
    assert indices == p.indices(3).tolist()


def test_import_leaves_tensorflow_matplotlib_and_numba_out():
    code = (
        "import sys, oversample\n"
        "heavy = [m for m in ('tensorflow', 'tensorflow_datasets', 'matplotlib',"
        " 'torch', 'numba', 'ray', 'pyarrow') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


def test_a_class_too_large_is_refused_when_the_plan_is_made_naming_it():
    with pytest.raises(ValueError, match=r"class 1 holds 2147483648 samples"):
        ovs.plan(counts={0: 5, 1: 2**31}, seed=0)
