"""The whole public surface crossed with values of the wrong kind: every
function, constructor and method is called with one argument at a time
replaced, from its signature. A flag takes only a bool; an int only an int
(not a bool, a float or a string); any argument refuses an object of no
useful kind. Each case must raise TypeError or ValueError naming the
argument, before data flows: never AttributeError, KeyError or a success."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pytest

import oversample as ovs

ANY_WRONG = {"an object": object(), "a complex": 1 + 2j, "bytes": b"\x00"}
FLAG_WRONG = {"1": 1, "0": 0, "'yes'": "yes", "1.0": 1.0, "np.int64(1)": np.int64(1)}
INT_WRONG = {"True": True, "2.5": 2.5, "'3'": "3", "np.float64(3)": np.float64(3)}


def _examples() -> list[dict[str, Any]]:
    return [{"label": i % 3, "id": i} for i in range(30)] + [{"label": 3, "id": 30}]


def _plan() -> ovs.Plan:
    return ovs.plan([e["label"] for e in _examples()], seed=0)


def _tf_dataset() -> Any:
    tf = pytest.importorskip("tensorflow")
    labels = [e["label"] for e in _examples()]
    return tf.data.Dataset.from_tensor_slices({"label": labels, "id": list(range(31))})


def _counts() -> ovs.ShardCounts:
    return ovs.ShardCounts.from_pairs(["a", "b"], {(0, 0): 3, (1, 1): 2})


def _targets() -> list[tuple[str, Any, dict[str, Any], set[str]]]:
    """(name, callable, valid keyword arguments, arguments that take anything)."""
    plan, sampler = _plan(), ovs.Sampler(_plan())
    stream = _examples()
    return [
        ("plan", ovs.plan, {"labels": [0, 0, 1], "seed": 0}, set()),
        ("balance(iterable)", ovs.balance, {"ds": stream, "seed": 0}, set()),
        ("duplicate(iterable)", ovs.duplicate, {"ds": stream, "seed": 0}, set()),
        ("count_labels(iterable)", ovs.count_labels, {"ds": stream}, set()),
        ("Sampler", ovs.Sampler, {"plan": plan}, set()),
        (
            "BatchSampler",
            ovs.BatchSampler,
            {"sampler": sampler, "batch_size": 4},
            set(),
        ),
        (
            "Shards",
            ovs.Shards,
            {"files": ["a", "b"], "read": lambda f: []},
            {"stream", "tag"},
        ),
        ("Power", ovs.Power, {"exponent": 0.5}, set()),
        ("RepeatFactor", ovs.RepeatFactor, {"threshold": 0.5}, set()),
        ("Progressive", ovs.Progressive, {"epochs": 2}, set()),
        ("Plan.copies", plan.copies, {"epoch": 0}, set()),
        ("Plan.indices", plan.indices, {"epoch": 0, "shuffle": True}, set()),
        ("Plan.targets_at", plan.targets_at, {"epoch": 0}, set()),
        ("Plan.total_at", plan.total_at, {"epoch": 0}, set()),
        ("Plan.summary", plan.summary, {"max_rows": 10}, set()),
        ("Sampler.set_epoch", sampler.set_epoch, {"epoch": 1}, set()),
        (
            "Sampler.load_state_dict",
            sampler.load_state_dict,
            {"state": sampler.state_dict()},
            set(),
        ),
        (
            "Shards.shard",
            ovs.Shards(["a", "b"], lambda f: []).shard,
            {"num_shards": 2, "index": 0},
            set(),
        ),
        (
            "ShardCounts.shares",
            _counts().shares,
            {"plan": ovs.plan(counts=_counts().counts, seed=0), "num_workers": 2},
            {"spread"},
        ),
        ("Plan.from_json", ovs.Plan.from_json, {"text": plan.to_json()}, set()),
        ("Marks", ovs.Marks, {"plan": plan, "epoch": 0}, set()),
        ("Marks.keep", ovs.Marks(plan).keep, {"keys": [1], "copies": [0]}, set()),
        (
            "ShardCounts.from_json",
            ovs.ShardCounts.from_json,
            {"text": _counts().to_json()},
            set(),
        ),
    ]


def _tf_targets() -> list[tuple[str, Any, dict[str, Any], set[str]]]:
    return [
        ("balance(tf.data)", ovs.balance, {"ds": "tf", "seed": 0}, set()),
        ("duplicate(tf.data)", ovs.duplicate, {"ds": "tf", "seed": 0}, set()),
        ("count_labels(tf.data)", ovs.count_labels, {"ds": "tf"}, set()),
    ]


def _wrong_values(parameter: inspect.Parameter) -> dict[str, Any]:
    annotation = str(parameter.annotation)
    if isinstance(parameter.default, bool) or annotation in ("bool", "bool | None"):
        return FLAG_WRONG
    wrong = dict(ANY_WRONG)
    if annotation.startswith("int") and "Callable" not in annotation:
        wrong.update(INT_WRONG)
        if "str" in annotation:  # a size or 'auto': a string may be right
            del wrong["'3'"]
    return wrong


def _cases() -> list[Any]:
    out = []
    for name, function, valid, free in _targets() + _tf_targets():
        for parameter in inspect.signature(function).parameters.values():
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                continue
            if parameter.name in free:
                continue
            for shown, value in _wrong_values(parameter).items():
                case = (name, function, valid, parameter.name, value)
                out.append(pytest.param(*case, id=f"{name}-{parameter.name}={shown}"))
    return out


CASES = _cases()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name, function, valid, argument, value", CASES)
def test_a_wrong_kind_is_refused_naming_the_argument(
    name, function, valid, argument, value
):
    kwargs = dict(valid)
    if kwargs.get("ds") == "tf":
        kwargs["ds"] = _tf_dataset()
    kwargs[argument] = value
    with pytest.raises((TypeError, ValueError)) as raised:
        out = function(**kwargs)
        if hasattr(out, "__iter__") and not isinstance(out, dict | str | np.ndarray):
            next(iter(out), None)  # a lazy error would only come here: data flows
    assert argument in str(raised.value), str(raised.value)
    assert raised.type in (TypeError, ValueError)
    first = raised.traceback[-1]
    assert "tests/test_surface.py" not in str(first.path) or argument in str(
        raised.value
    )


def test_the_matrix_covers_the_surface():
    named = {case.values[0] for case in CASES}
    assert {"plan", "balance(iterable)", "Sampler", "BatchSampler", "Shards"} <= named
    assert len(CASES) >= 300


@pytest.mark.parametrize(
    "call",
    [
        lambda: ovs.balance(object()),
        lambda: ovs.duplicate(12345),
        lambda: ovs.count_labels(None),
        lambda: ovs.balance([{"label": 0}], plan=object()),
        lambda: ovs.Sampler(object()),
        lambda: ovs.Sampler([0, 1, 1]),
        lambda: ovs.BatchSampler(_plan(), 4),
        lambda: ovs.balance([{"label": 0}], counts=object()),
    ],
    ids=[
        "balance",
        "duplicate",
        "count_labels",
        "plan=",
        "Sampler",
        "Sampler(list)",
        "BatchSampler",
        "counts=",
    ],
)
def test_a_wrong_kind_of_stream_or_plan_says_what_to_pass(call):
    with pytest.raises(TypeError) as raised:
        call()
    message = str(raised.value)
    assert "must be" in message or "expected" in message or "pass" in message, message
