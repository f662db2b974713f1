"""The bad-input matrix: every public entry point crossed with the arguments it
takes. Each case must raise the stated error before any data flows (or at the
first offending element), with a message that names the argument and the
offending value; each runs under a timeout, so a hang fails too."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import oversample as ovs

NAN = float("nan")
LABELS = [0, 0, 0, 1]


def _plan(**kwargs: Any) -> ovs.Plan:
    return ovs.plan(LABELS, seed=0, **kwargs)


def _sampler(**kwargs: Any) -> ovs.Sampler:
    return ovs.Sampler(_plan(), **kwargs)


def _state(**changes: Any) -> dict[str, Any]:
    return {**_sampler().state_dict(), **changes}


CORE: list[tuple[str, Callable[[], Any], type[Exception], list[str]]] = [
    # plan(): what to plan from
    ("plan/nothing", lambda: ovs.plan(), TypeError, ["`labels`", "none"]),
    (
        "plan/two",
        lambda: ovs.plan(LABELS, weights=[1] * 4),
        TypeError,
        ["labels, weights"],
    ),
    ("plan/set", lambda: ovs.plan({1, 2}), TypeError, ["`labels`", "{1, 2}"]),
    (
        "plan/float",
        lambda: ovs.plan(np.array([1.5, 2.0])),
        TypeError,
        ["`labels`", "float64"],
    ),
    ("plan/mixed", lambda: ovs.plan([1, "a"]), TypeError, ["labels[1]='a'"]),
    ("plan/missing", lambda: ovs.plan([1, None]), ValueError, ["labels[1]=None"]),
    ("plan/nan", lambda: ovs.plan(np.array([1.0, NAN])), ValueError, ["labels[1]=nan"]),
    ("plan/wide", lambda: ovs.plan([0, 2**64]), ValueError, [f"labels[1]={2**64}"]),
    ("plan/0-d", lambda: ovs.plan(np.array(3)), ValueError, ["`labels`", "shape ()"]),
    ("plan/empty", lambda: ovs.plan([]), ValueError, ["`labels`", "empty"]),
    (
        "plan/one class",
        lambda: ovs.plan([4, 4, 4]),
        ValueError,
        ["single class", "(4)"],
    ),
    (
        "plan/matrix",
        lambda: ovs.plan(np.zeros((3, 2), int)),
        ValueError,
        ["RepeatFactor", "shape (3, 2)"],
    ),
    # plan(): strategy
    (
        "strategy/name",
        lambda: _plan(strategy="balanced"),
        ValueError,
        ["`strategy`", "'balanced'"],
    ),
    ("strategy/type", lambda: _plan(strategy=3.5), TypeError, ["`strategy`", "3.5"]),
    ("strategy/size", lambda: _plan(strategy=0), ValueError, ["`strategy`", "0"]),
    ("strategy/below", lambda: _plan(strategy={0: 2}), ValueError, ["0", "2", "3"]),
    ("strategy/absent", lambda: _plan(strategy={5: 3}), ValueError, ["5"]),
    ("strategy/negative", lambda: _plan(strategy={1: -3}), ValueError, ["1", "-3"]),
    ("strategy/real", lambda: _plan(strategy={1: 2.5}), ValueError, ["class 1", "2.5"]),
    (
        "strategy/power",
        lambda: _plan(strategy=ovs.Power(-1)),
        ValueError,
        ["exponent", "-1"],
    ),
    (
        "strategy/threshold",
        lambda: _plan(strategy=ovs.RepeatFactor(0)),
        ValueError,
        ["threshold", "0"],
    ),
    (
        "strategy/callable",
        lambda: _plan(strategy=lambda counts: {0: -1}),
        ValueError,
        ["0", "-1"],
    ),
    (
        "strategy/multi",
        lambda: ovs.plan([[0, 1], [1]], "all"),
        ValueError,
        ["RepeatFactor", "'all'"],
    ),
    # plan(): seed, rounding, max_factor
    (
        "seed/negative",
        lambda: ovs.plan(LABELS, seed=-1),
        ValueError,
        ["`seed`", "seed=-1"],
    ),
    (
        "seed/wide",
        lambda: ovs.plan(LABELS, seed=2**64),
        ValueError,
        ["`seed`", f"seed={2**64}"],
    ),
    (
        "seed/float",
        lambda: ovs.plan(LABELS, seed=1.5),
        TypeError,
        ["`seed`", "seed=1.5"],
    ),
    (
        "seed/bool",
        lambda: ovs.plan(LABELS, seed=True),
        TypeError,
        ["`seed`", "seed=True"],
    ),
    (
        "rounding",
        lambda: _plan(rounding="floor"),
        ValueError,
        ["`rounding`", "'floor'"],
    ),
    (
        "max_factor/low",
        lambda: _plan(max_factor=0.5),
        ValueError,
        ["`max_factor`", "0.5"],
    ),
    (
        "max_factor/nan",
        lambda: _plan(max_factor=NAN),
        ValueError,
        ["`max_factor`", "nan"],
    ),
    (
        "max_factor/str",
        lambda: _plan(max_factor="2"),
        TypeError,
        ["`max_factor`", "'2'"],
    ),
    # plan(): weights and counts
    ("weights/nan", lambda: ovs.plan(weights=[1, NAN]), ValueError, ["weights[1]=nan"]),
    ("weights/low", lambda: ovs.plan(weights=[0.5, 2]), ValueError, ["weights[0]=0.5"]),
    (
        "weights/bool",
        lambda: ovs.plan(weights=[True, False]),
        TypeError,
        ["`weights`", "bool"],
    ),
    (
        "weights/2-d",
        lambda: ovs.plan(weights=[[1, 2]]),
        ValueError,
        ["`weights`", "(1, 2)"],
    ),
    (
        "weights/strategy",
        lambda: ovs.plan(weights=[1, 2], strategy="all"),
        TypeError,
        ["`strategy`", "'all'"],
    ),
    (
        "counts/zero",
        lambda: ovs.plan(counts={0: 0, 1: 3}),
        ValueError,
        ["counts[0]", "0"],
    ),
    ("counts/list", lambda: ovs.plan(counts=[1, 2]), TypeError, ["`counts`", "[1, 2]"]),
    (
        "counts/real",
        lambda: ovs.plan(counts={0: 2.5}),
        ValueError,
        ["counts[0]", "2.5"],
    ),
    # Plan methods and Plan.from_json
    (
        "copies/epoch",
        lambda: _plan().copies(epoch=-1),
        ValueError,
        ["`epoch`", "epoch=-1"],
    ),
    (
        "copies/float",
        lambda: _plan().copies(epoch=1.0),
        TypeError,
        ["`epoch`", "epoch=1.0"],
    ),
    (
        "copies/classes",
        lambda: ovs.plan(counts={0: 3, 1: 1}).copies(),
        ValueError,
        ["class counts", "knows no samples"],
    ),
    (
        "json/text",
        lambda: ovs.Plan.from_json("{oops"),
        ValueError,
        ["`text`", "not JSON"],
    ),
    (
        "json/marker",
        lambda: ovs.Plan.from_json('{"a": 1}'),
        ValueError,
        ["`text`", "'oversample.plan' format marker"],
    ),
    (
        "json/version",
        lambda: ovs.Plan.from_json(
            _plan().to_json().replace('"version":2', '"version":99')
        ),
        ValueError,
        ["version", "99"],
    ),
    # Sampler, BatchSampler and their states
    ("sampler/plan", lambda: ovs.Sampler([0, 1]), TypeError, ["`plan`", "[0, 1]"]),
    (
        "sampler/counts",
        lambda: ovs.Sampler(ovs.plan(counts={0: 3, 1: 1})),
        ValueError,
        ["`plan`", "class counts"],
    ),
    (
        "sampler/replicas",
        lambda: _sampler(num_replicas=0),
        ValueError,
        ["`num_replicas`", "num_replicas=0"],
    ),
    (
        "sampler/replicas bool",
        lambda: _sampler(num_replicas=True),
        TypeError,
        ["`num_replicas`", "num_replicas=True"],
    ),
    (
        "sampler/rank",
        lambda: _sampler(num_replicas=2, rank=2),
        ValueError,
        ["`rank`", "rank=2"],
    ),
    (
        "sampler/rank negative",
        lambda: _sampler(rank=-1),
        ValueError,
        ["`rank`", "rank=-1"],
    ),
    (
        "sampler/shuffle",
        lambda: _sampler(shuffle=1),
        TypeError,
        ["`shuffle`", "shuffle=1"],
    ),
    (
        "sampler/drop_last",
        lambda: _sampler(drop_last="no"),
        TypeError,
        ["`drop_last`", "drop_last='no'"],
    ),
    (
        "sampler/epoch",
        lambda: _sampler().set_epoch(-2),
        ValueError,
        ["`epoch`", "epoch=-2"],
    ),
    (
        "sampler/index type",
        lambda: _sampler()["a"],
        TypeError,
        ["`index`", "index='a'"],
    ),
    ("sampler/index range", lambda: _sampler()[99], IndexError, ["index 99", "6"]),
    (
        "state/not a state",
        lambda: _sampler().load_state_dict({"epoch": 1}),
        ValueError,
        ["`state`", "{'epoch': 1}"],
    ),
    (
        "state/seed",
        lambda: _sampler().load_state_dict(_state(seed=5)),
        ValueError,
        ["seed: saved 5, here 0"],
    ),
    (
        "state/rank",
        lambda: _sampler().load_state_dict(_state(rank=1)),
        ValueError,
        ["rank: saved 1, here 0"],
    ),
    (
        "state/position",
        lambda: _sampler().load_state_dict(_state(position=99)),
        ValueError,
        ["position", "99"],
    ),
    (
        "state/position type",
        lambda: _sampler().load_state_dict(_state(position="3")),
        TypeError,
        ["position", "'3'"],
    ),
    (
        "batches/size",
        lambda: ovs.BatchSampler(_sampler(), 0),
        ValueError,
        ["`batch_size`", "batch_size=0"],
    ),
    (
        "batches/sampler",
        lambda: ovs.BatchSampler(range(3), 2),
        TypeError,
        ["`sampler`", "range(0, 3)"],
    ),
    (
        "batches/stratified",
        lambda: ovs.BatchSampler(_sampler(), 2, stratified="yes"),
        TypeError,
        ["`stratified`", "stratified='yes'"],
    ),
    (
        "batches/stratified epoch",
        lambda: ovs.BatchSampler(_sampler(), 8, stratified=True),
        ValueError,
        ["`batch_size`=8", "the 6 indices of epoch 0"],
    ),
    (
        "batches/per class divide",
        lambda: ovs.BatchSampler(_sampler(), 4, samples_per_class=3),
        ValueError,
        ["`samples_per_class` must divide", "samples_per_class=3"],
    ),
    (
        "batches/per class copies",
        lambda: ovs.BatchSampler(_sampler(), 4, samples_per_class=4),
        ValueError,
        ["`samples_per_class`=4", "3 copies of class 0"],
    ),
]


def _ds(labels=(0, 0, 0, 1)) -> Any:
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices(
        {"label": np.asarray(labels), "weight": np.ones(len(labels))}
    )


def _shuffled() -> Any:
    return _ds().shuffle(4)


STREAM: list[tuple[str, Callable[[], Any], type[Exception], list[str]]] = [
    (
        "count/key",
        lambda: ovs.count_labels(_ds(), label="lbl"),
        ValueError,
        ["'lbl'", "'label'"],
    ),
    (
        "count/infinite",
        lambda: ovs.count_labels(_ds().repeat()),
        ValueError,
        ["infinite"],
    ),
    (
        "count/position",
        lambda: ovs.count_labels(_ds(), label=5),
        (TypeError, ValueError),
        ["`label`", "5"],
    ),
    (
        "count/spec",
        lambda: ovs.count_labels(_ds(), label=3.5),
        TypeError,
        ["`label`", "3.5"],
    ),
    (
        "count/float",
        lambda: ovs.count_labels(_ds(), label="weight"),
        TypeError,
        ["`label`", "float64"],
    ),
    (
        "balance/seed",
        lambda: ovs.balance(_ds(), seed=-1),
        ValueError,
        ["`seed`", "seed=-1"],
    ),
    (
        "balance/epoch",
        lambda: ovs.balance(_ds(), epoch=-1),
        ValueError,
        ["`epoch`", "epoch=-1"],
    ),
    (
        "balance/both",
        lambda: ovs.balance(_ds(), epoch=1, epochs=2),
        ValueError,
        ["epoch=1", "epochs=2"],
    ),
    (
        "balance/epochs",
        lambda: ovs.balance(_ds(), epochs=0),
        ValueError,
        ["`epochs`", "epochs=0"],
    ),
    (
        "balance/buffer",
        lambda: ovs.balance(_ds(), shuffle_buffer=-5),
        ValueError,
        ["`shuffle_buffer`", "shuffle_buffer=-5"],
    ),
    (
        "balance/buffer str",
        lambda: ovs.balance(_ds(), shuffle_buffer="big"),
        ValueError,
        ["`shuffle_buffer`", "'big'"],
    ),
    (
        "balance/provenance",
        lambda: ovs.balance(_ds(), provenance="yes"),
        TypeError,
        ["`provenance`", "'yes'"],
    ),
    (
        "balance/plan type",
        lambda: ovs.balance(_ds(), plan="p"),
        TypeError,
        ["`plan`", "'p'"],
    ),
    (
        "balance/plan and seed",
        lambda: ovs.balance(_ds(), plan=_plan(), seed=3),
        ValueError,
        ["`plan`", "seed"],
    ),
    (
        "balance/plan size",
        lambda: ovs.balance(_ds((0, 1)), plan=_plan()),
        ValueError,
        ["4 samples", "2 elements"],
    ),
    (
        "balance/rounding",
        lambda: ovs.balance(_ds(), rounding="up"),
        ValueError,
        ["`rounding`", "'up'"],
    ),
    (
        "balance/strategy",
        lambda: ovs.balance(_ds(), strategy="most"),
        ValueError,
        ["`strategy`", "'most'"],
    ),
    (
        "balance/counts",
        lambda: ovs.balance(_ds(), counts={0: 0}),
        ValueError,
        ["counts[0]", "0"],
    ),
    (
        "balance/order",
        lambda: ovs.balance(_shuffled()),
        ValueError,
        ["`ds`", "reshuffles"],
    ),
    (
        "balance/key",
        lambda: ovs.balance(_ds(), key="nope"),
        ValueError,
        ["'nope'", "'label'"],
    ),
    (
        "duplicate/nan",
        lambda: ovs.duplicate(_ds(), copies=NAN),
        ValueError,
        ["`copies`", "copies=nan"],
    ),
    (
        "duplicate/negative",
        lambda: ovs.duplicate(_ds(), copies=-2),
        ValueError,
        ["`copies`", "copies=-2"],
    ),
    (
        "duplicate/bool",
        lambda: ovs.duplicate(_ds(), copies=True),
        TypeError,
        ["`copies`", "copies=True"],
    ),
    (
        "duplicate/str",
        lambda: ovs.duplicate(_ds(), copies="3"),
        TypeError,
        ["`copies`", "copies='3'"],
    ),
    (
        "duplicate/class nan",
        lambda: ovs.duplicate(_ds(), copies={1: NAN}, label="label"),
        ValueError,
        ["copies[1]", "nan"],
    ),
    (
        "duplicate/no label",
        lambda: ovs.duplicate(_ds(), copies={1: 2}),
        ValueError,
        ["`label=`", "`copies`"],
    ),
    (
        "duplicate/where and indices",
        lambda: ovs.duplicate(_ds(), where=lambda e: True, indices=[0]),
        ValueError,
        ["`where`", "`indices`"],
    ),
    (
        "duplicate/indices range",
        lambda: ovs.duplicate(_ds(), indices=[7]),
        ValueError,
        ["`indices`", "[7]"],
    ),
    (
        "duplicate/indices type",
        lambda: ovs.duplicate(_ds(), indices=[0.5]),
        TypeError,
        ["`indices`", "0.5"],
    ),
    (
        "duplicate/where type",
        lambda: ovs.duplicate(_ds(), where=lambda e: e["label"]),
        TypeError,
        ["`where`", "int64"],
    ),
    (
        "duplicate/real with where",
        lambda: ovs.duplicate(_ds(), copies=2.5, where=lambda e: True),
        ValueError,
        ["`copies`", "copies=2.5"],
    ),
    (
        "duplicate/label alone",
        lambda: ovs.duplicate(_ds(), copies=2, label="label"),
        ValueError,
        ["`label`", "`copies`"],
    ),
    (
        "duplicate/weight",
        lambda: ovs.duplicate(_ds(), copies=lambda e: e["weight"] - 1),
        ValueError,
        ["weights[0]=0.0"],
    ),
    (
        "count/progress",
        lambda: ovs.count_labels(_ds(), progress="yes"),
        TypeError,
        ["`progress`", "progress='yes'"],
    ),
    (
        "balance/progress",
        lambda: ovs.balance(_ds(), progress=1),
        TypeError,
        ["`progress`", "progress=1"],
    ),
    (
        "balance/label",
        lambda: ovs.balance(_ds(), label="lbl"),
        ValueError,
        ["`label`='lbl'", "'label', 'weight'"],
    ),
    (
        "balance/max_factor",
        lambda: ovs.balance(_ds(), max_factor=0.5),
        ValueError,
        ["`max_factor`", "max_factor=0.5"],
    ),
    (
        "balance/key with counts",
        lambda: ovs.balance(_ds(), key="label", counts={0: 3, 1: 1}),
        ValueError,
        ["`key=`", "`counts=`"],
    ),
    (
        "duplicate/seed",
        lambda: ovs.duplicate(_ds(), copies=2, seed=-1),
        ValueError,
        ["`seed`", "seed=-1"],
    ),
    (
        "duplicate/rounding",
        lambda: ovs.duplicate(_ds(), copies=2.5, rounding="x"),
        ValueError,
        ["`rounding`", "rounding='x'"],
    ),
    (
        "duplicate/plan",
        lambda: ovs.duplicate(_ds(), plan="p"),
        TypeError,
        ["`plan`", "plan='p'"],
    ),
    (
        "duplicate/epoch",
        lambda: ovs.duplicate(_ds(), copies=2, epoch=-3),
        ValueError,
        ["`epoch`", "epoch=-3"],
    ),
    (
        "duplicate/epochs",
        lambda: ovs.duplicate(_ds(), copies=2, epochs=0),
        ValueError,
        ["`epochs`", "epochs=0"],
    ),
    (
        "duplicate/buffer",
        lambda: ovs.duplicate(_ds(), copies=2, shuffle_buffer=-1),
        ValueError,
        ["`shuffle_buffer`", "shuffle_buffer=-1"],
    ),
    (
        "duplicate/provenance",
        lambda: ovs.duplicate(_ds(), copies=2, provenance=1),
        TypeError,
        ["`provenance`", "provenance=1"],
    ),
]


def _check(run: Callable[[], Any], error: Any, parts: list[str]) -> None:
    with pytest.raises(error) as caught:
        run()
    message = str(caught.value)
    missing = [part for part in parts if part not in message]
    assert missing == [], message


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("run", "error", "parts"), [c[1:] for c in CORE], ids=[c[0] for c in CORE]
)
def test_core_entry_points_refuse_bad_input(run, error, parts):
    _check(run, error, parts)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("run", "error", "parts"), [c[1:] for c in STREAM], ids=[c[0] for c in STREAM]
)
def test_stream_entry_points_refuse_bad_input(run, error, parts):
    pytest.importorskip("tensorflow")
    _check(run, error, parts)


CLI = [
    (["inspect", "no_such_dataset"], ["'no_such_dataset'"]),
    (["inspect", "digits_lt", "--label", "labels"], ["'labels'"]),
    (["inspect", "digits_lt", "--split", "validation"], ["'validation'"]),
    (["plan", "digits_lt", "--strategy", "balanced"], ["--strategy", "'balanced'"]),
    (["plan", "digits_lt", "--strategy", "power:-1"], ["exponent=-1.0"]),
    (["plan", "digits_lt", "--max-factor", "0.5"], ["--max-factor", "0.5"]),
    (["plan", "digits_lt", "--seed", "-1"], ["seed", "-1"]),
    (["plan", "digits_lt", "--rounding", "floor"], ["--rounding", "'floor'"]),
]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("tfds"))


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("args", "parts"), CLI, ids=[" ".join(c[0]) for c in CLI])
def test_the_command_line_refuses_bad_input_with_exit_2(args, parts, data_dir):
    pytest.importorskip("tensorflow_datasets")
    done = subprocess.run(
        [sys.executable, "-m", "oversample.cli", *args, "--data-dir", data_dir],
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if " error: " in line]
    assert len(errors) == 1, done.stderr
    assert [p for p in parts if p not in errors[0]] == [], errors[0]
