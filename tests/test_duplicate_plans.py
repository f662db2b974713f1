"""Every form of `duplicate` is a plan: `.plan` is never None, its fingerprint
covers what decides the copies, and a saved state restores only into a stream
that decides the same."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import oversample as ovs

ROWS = list(range(40))


def _head_and_rest(stream, taken: int):
    iterator = iter(stream)
    head = list(itertools.islice(iterator, taken))
    return head, iterator.state_dict(), list(iterator)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"copies": 3},
        {"copies": 3, "where": lambda x: x < 5},
        {"copies": 2, "indices": [1, 7]},
        {"copies": 2.5},
        {"copies": lambda x: 1 + (x % 3)},
    ],
)
def test_every_python_form_carries_a_plan(kwargs):
    out = ovs.duplicate(ROWS, seed=0, **kwargs)
    assert isinstance(out.plan, ovs.Plan)
    assert len(out.plan.fingerprint) == 32


def test_a_where_plan_is_of_whole_copies_and_knows_no_samples():
    plan = ovs.duplicate(ROWS, copies=3, where=lambda x: x < 5, seed=0).plan
    assert plan.kind == "whole" and not plan.knows_samples
    with pytest.raises(ValueError, match="decided from each element"):
        plan.copies(0)
    with pytest.raises(ValueError, match="cannot be written as JSON"):
        plan.to_json()


def test_chosen_indices_make_a_plan_that_knows_its_samples():
    plan = ovs.duplicate(ROWS, copies=3, indices=[2, 5], seed=0).plan
    copies = plan.copies(0)
    assert copies[[2, 5]].tolist() == [3, 3] and copies.sum() == 40 + 4
    assert ovs.Plan.from_json(plan.to_json()) == plan


def test_two_predicates_give_two_fingerprints_and_equal_ones_one():
    def plan_of(where):
        return ovs.duplicate(ROWS, copies=3, where=where, seed=0).plan

    below = plan_of(lambda x: x < 5)
    assert below.fingerprint == plan_of(lambda x: x < 5).fingerprint
    assert below.fingerprint != plan_of(lambda x: x > 30).fingerprint
    limit = 5
    assert below.fingerprint != plan_of(lambda x: x < limit + 1).fingerprint


def test_a_where_state_restores_into_the_same_predicate_exactly():
    def stream():
        return ovs.duplicate(
            ROWS, copies=3, where=lambda x: x < 5, seed=0, epoch=0, shuffle_buffer=8
        )

    head, state, rest = _head_and_rest(stream(), 13)
    resumed = iter(stream())
    resumed.load_state_dict(state)
    assert list(resumed) == rest
    assert sorted(head + rest) == sorted(ROWS + [x for x in ROWS if x < 5] * 2)


def test_a_where_state_is_refused_by_a_stream_of_another_predicate():
    saved = ovs.duplicate(ROWS, copies=3, where=lambda x: x < 5, seed=0, epoch=0)
    _, state, _ = _head_and_rest(saved, 7)
    other = ovs.duplicate(ROWS, copies=3, where=lambda x: x > 30, seed=0, epoch=0)
    with pytest.raises(ValueError, match=r"another configuration \(identity: saved"):
        iter(other).load_state_dict(state)


def test_a_predicate_of_unknown_identity_refuses_the_restore_saying_why():
    class Chooser:
        def __call__(self, x: int) -> bool:
            return x < 5

    chooser = Chooser()
    out = ovs.duplicate(ROWS, copies=3, where=lambda x: chooser(x), seed=0, epoch=0)
    _, state, _ = _head_and_rest(out, 3)
    assert out.plan.unknown_identity is not None
    with pytest.raises(ValueError, match=r"cannot fingerprint.*indices="):
        iter(out).load_state_dict(state)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"copies": 3}, "copies=3"),
        ({"where": lambda x: x < 5}, "where="),
        ({"indices": [1]}, "indices="),
    ],
)
def test_plan_with_copies_where_or_indices_is_refused_naming_what_to_keep(
    kwargs, named
):
    plan = ovs.plan(weights=np.ones(len(ROWS)), seed=0)
    with pytest.raises(ValueError, match=rf"give `plan` alone.*keep {named}"):
        ovs.duplicate(ROWS, plan=plan, **kwargs)


def test_the_plan_of_a_duplicate_alone_streams_its_copies():
    plan = ovs.plan(weights=np.full(len(ROWS), 2.0), seed=0)
    out = ovs.duplicate(ROWS, plan=plan, epoch=0)
    assert out.plan is plan and sorted(out) == sorted(ROWS * 2)


def _old(state: dict) -> dict:
    """A state as oversample saved it before the copy rule's version 2."""
    return {k: v for k, v in state.items() if k != "rule"} | {"version": 1}


def test_a_sampler_state_of_the_older_rule_is_refused_saying_why():
    sampler = ovs.Sampler(ovs.plan([0, 0, 0, 1], seed=0))
    state = sampler.state_dict()
    with pytest.raises(ValueError, match="version 1 of oversample's copy rule"):
        sampler.load_state_dict(_old(state))
    sampler.load_state_dict(state)


def test_a_stream_state_of_the_older_rule_is_refused_saying_why():
    out = ovs.balance([0, 0, 0, 1] * 5, label=lambda x: x, seed=0, epoch=0)
    _, state, rest = _head_and_rest(out, 3)
    with pytest.raises(ValueError, match="version 1 of oversample's copy rule"):
        iter(out).load_state_dict(_old(state))
    resumed = iter(out)
    resumed.load_state_dict(state)
    assert list(resumed) == rest


def _tf():
    return pytest.importorskip("tensorflow")


def _labels_ds(tf):
    return tf.data.Dataset.from_tensor_slices({"label": np.arange(2000) % 50})


def _where_stream(tf, where):
    return ovs.duplicate(
        _labels_ds(tf), copies=3, where=where, seed=0, epoch=0, shuffle_buffer=16
    )


def test_a_tf_where_state_restores_into_the_same_predicate_exactly(tmp_path):
    tf = _tf()
    iterator = iter(_where_stream(tf, lambda e: e["label"] < 5))
    head = [int(next(iterator)["label"]) for _ in range(300)]
    path = tf.train.Checkpoint(iterator=iterator).save(str(tmp_path / "ckpt"))
    rest = [int(e["label"]) for e in iterator]
    resumed = iter(_where_stream(tf, lambda e: e["label"] < 5))
    tf.train.Checkpoint(iterator=resumed).restore(path)
    assert [int(e["label"]) for e in resumed] == rest
    labels = np.arange(2000) % 50
    assert sorted(head + rest) == sorted([*labels, *np.repeat(labels[labels < 5], 2)])


def test_a_tf_where_state_is_refused_by_another_predicate(tmp_path):
    tf = _tf()
    iterator = iter(_where_stream(tf, lambda e: e["label"] < 5))
    next(iterator)
    path = tf.train.Checkpoint(iterator=iterator).save(str(tmp_path / "ckpt"))
    other = iter(_where_stream(tf, lambda e: e["label"] > 30))
    tf.train.Checkpoint(iterator=other).restore(path)
    with pytest.raises(tf.errors.InvalidArgumentError, match="another plan"):
        list(other)


def test_tf_predicates_are_fingerprinted_by_their_graph_and_captured_values():
    tf = _tf()
    below = _where_stream(tf, lambda e: e["label"] < 5).plan.fingerprint
    assert _where_stream(tf, lambda e: e["label"] < 5).plan.fingerprint == below
    assert _where_stream(tf, lambda e: e["label"] < 6).plan.fingerprint != below
    chosen = tf.constant([1, 2, 3], tf.int64)
    captured = _where_stream(tf, lambda e: tf.reduce_any(e["label"] == chosen)).plan
    assert captured.unknown_identity is None


def test_a_tf_predicate_reading_a_table_refuses_every_restore_saying_why(tmp_path):
    tf = _tf()
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant([1, 2], tf.int64), tf.constant([1, 0], tf.int64)
        ),
        0,
    )

    def where(e):
        return table.lookup(tf.cast(e["label"], tf.int64)) > 0

    iterator = iter(_where_stream(tf, where))
    next(iterator)
    path = tf.train.Checkpoint(iterator=iterator).save(str(tmp_path / "ckpt"))
    again = _where_stream(tf, where)
    assert "lookup table" in again.plan.unknown_identity
    resumed = iter(again)
    tf.train.Checkpoint(iterator=resumed).restore(path)
    with pytest.raises(tf.errors.InvalidArgumentError, match="cannot be checked"):
        list(resumed)


@pytest.mark.parametrize("kind", ["python", "tf"])
def test_a_predicates_fingerprint_is_the_same_in_another_process(kind):
    import subprocess
    import sys

    if kind == "tf":
        _tf()
    script = (
        "import numpy as np, oversample as ovs\n"
        + (
            "import tensorflow as tf\n"
            "ds = tf.data.Dataset.from_tensor_slices({'label': np.arange(9)})\n"
            "where = lambda e: tf.logical_or(e['label'] < 3, e['label'] > 7)\n"
            if kind == "tf"
            else "ds = list(range(9))\nwhere = lambda x: x < 3 or x > 7\n"
        )
        + "print(ovs.duplicate(ds, copies=2, where=where, seed=1).plan.fingerprint)"
    )

    def run() -> str:
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        )
        return done.stdout.strip().splitlines()[-1]

    assert run() == run()


def _fingerprint_in_a_process(script: str, hash_seed: str) -> str:
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return done.stdout.strip().splitlines()[-1]


def test_a_set_literal_in_a_predicate_fingerprints_alike_under_any_hash_seed():
    script = (
        "import oversample as ovs\n"
        "where = lambda x: x in {'cat', 'dog', 'eel', 'fox', 'gnu'}\n"
        "rows = ['cat', 'ant', 'gnu']\n"
        "print(ovs.duplicate(rows, copies=2, where=where, seed=1).plan.fingerprint)"
    )
    assert len({_fingerprint_in_a_process(script, seed) for seed in "123"}) == 1


def test_a_value_read_through_a_module_is_part_of_the_fingerprint():
    import sys
    import types

    config = types.ModuleType("oversample_test_config")
    sys.modules[config.__name__] = config
    try:
        config.LIMIT = 5
        where = eval(
            "lambda x: x < oversample_test_config.LIMIT",
            {"oversample_test_config": config},
        )
        before = ovs.duplicate(ROWS, copies=3, where=where, seed=0).plan.fingerprint
        config.LIMIT = 30
        after = ovs.duplicate(ROWS, copies=3, where=where, seed=0).plan.fingerprint
    finally:
        del sys.modules[config.__name__]
    assert before != after


def test_a_tf_predicate_capturing_strings_fingerprints_alike_in_another_process():
    _tf()
    script = (
        "import numpy as np, tensorflow as tf, oversample as ovs\n"
        "names = tf.constant(['a', 'c'])\n"
        "ds = tf.data.Dataset.from_tensor_slices({'name': ['a', 'b', 'c']})\n"
        "where = lambda e: tf.reduce_any(tf.equal(names, e['name']))\n"
        "print(ovs.duplicate(ds, copies=2, where=where, seed=1).plan.fingerprint)"
    )
    assert len({_fingerprint_in_a_process(script, seed) for seed in "12"}) == 1


def test_a_tf_predicate_running_a_python_function_has_no_identity():
    tf = _tf()

    def where(e):
        hit = tf.py_function(lambda x: x < 2, [e["label"]], tf.bool)
        return tf.reshape(hit, [])

    plan = _where_stream(tf, where).plan
    assert "stateful op EagerPyFunc" in plan.unknown_identity


def test_a_per_class_plan_of_whole_copies_asks_for_its_label():
    rows = [{"label": i % 3} for i in range(9)]
    plan = ovs.duplicate(rows, copies={1: 3}, label="label", spread=None).plan
    assert plan.kind == "whole"
    with pytest.raises(ValueError, match=r"decided per class .* give `label=`"):
        ovs.duplicate(rows, plan=plan)
    assert len(list(ovs.duplicate(rows, plan=plan, label="label"))) == 9 + 2 * 3


def test_a_tf_class_plan_for_other_data_given_to_duplicate_is_refused_before_data():
    tf = _tf()
    ds = tf.data.Dataset.from_tensor_slices({"label": [0, 0, 0, 1]})
    plan = ovs.plan([0, 0, 1, 1], seed=0)
    with pytest.raises(ValueError, match=r"holds 3 samples of class 0 but the counts"):
        ovs.duplicate(ds, plan=plan, label="label")


def test_a_huge_index_is_refused_naming_it():
    with pytest.raises(
        ValueError, match=r"in \[0, 40\); got \[1180591620717411303424\]"
    ):
        ovs.duplicate(ROWS, copies=2, indices=[1, 2**70])


def test_a_bad_seed_is_refused_before_the_source_is_read():
    read = []

    class Source:
        def __iter__(self):
            read.append(1)
            return iter(ROWS)

    with pytest.raises(ValueError, match=r"`seed` must be an int in \[0, 2\*\*64\)"):
        ovs.duplicate(Source(), copies=2, indices=[1], seed=-1)
    assert read == []
