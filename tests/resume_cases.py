"""Pipelines and samplers of the resume battery, built the same way by the
test and by the fresh process that restores them (`resume_child.py`)."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

import oversample as ovs

EPOCH_MODES = {"fresh": {}, "epoch=3": {"epoch": 3}, "epochs=2": {"epochs": 2}}
SPREADS = ["auto", "some", None]  # all held, the two smallest classes, none
LAYOUTS = [  # (per-element path, provenance)
    (False, False),
    (True, True),
    (False, True),
    (True, False),
]


def tf_configs() -> list[dict[str, Any]]:
    """Every epoch mode x rounding x keying, with the layout and provenance
    cycling so that each of their four pairs appears in every epoch mode, and
    the spread cycling through all held, some held and none, apart for each
    keying of the pipelines that can hold (the per-element ones hold nothing)."""
    configs = []
    turns: dict[tuple[bool, bool], int] = {}
    modes = itertools.product(EPOCH_MODES, ["exact", "stochastic"], [False, True])
    for i, (mode, rounding, keyed) in enumerate(modes):
        per_element, provenance = LAYOUTS[(i + i // 4) % len(LAYOUTS)]
        turn = turns.get((keyed, per_element), 0)
        turns[(keyed, per_element)] = turn + 1
        configs.append(
            {
                "mode": mode,
                "rounding": rounding,
                "keyed": keyed,
                "per_element": per_element,
                "provenance": provenance,
                "spread": SPREADS[turn % len(SPREADS)],
                "seed": 5,
                "strategy": "not majority",
                "labels": 0,
            }
        )
    return configs


def labels(which: int, tile: int = 1) -> np.ndarray:
    sizes = np.array([30, 14, 6, 2] if which == 0 else [30, 14, 5, 3]) * tile
    return np.random.default_rng(which).permutation(
        np.repeat(np.arange(len(sizes)), sizes)
    )


def pipeline(config: dict[str, Any]) -> Any:
    import tensorflow as tf

    y = labels(config["labels"], config.get("tile", 1))
    features: dict[str, Any] = {"label": y, "id": np.arange(y.size) * 7 + 1}
    if config["per_element"]:
        features["ragged"] = tf.ragged.constant([[1] * (i % 3) for i in range(y.size)])
    return ovs.balance(
        tf.data.Dataset.from_tensor_slices(features),
        strategy=config["strategy"],
        seed=config["seed"],
        rounding=config["rounding"],
        key="id" if config["keyed"] else None,
        provenance=config["provenance"],
        shuffle_buffer=config.get("buffer", "auto"),
        spread=_budget(config.get("spread", "auto"), config.get("tile", 1)),
        **EPOCH_MODES[config["mode"]],
    )


def _budget(spread: object, tile: int) -> object:
    """ "some": the bytes the two smallest classes take while collected (8
    samples per tile, 24 bytes each: position, label and id)."""
    return 8 * tile * 24 if spread == "some" else spread


def identify(element: Any) -> list[int]:
    """What identifies one output element: its id and, with provenance, the
    sample key and copy index."""
    if isinstance(element, tuple):
        features, marks = element
        return [int(features["id"]), int(marks["key"]), int(marks["copy"])]
    return [int(element["id"])]


def sampler(config: dict[str, Any]) -> Any:
    y = labels(config["labels"])
    if config["kind"] == "weights":
        plan = ovs.plan(weights=1 + (np.arange(y.size) % 5) / 2, seed=config["seed"])
    else:
        plan = ovs.plan(y, seed=config["seed"], rounding=config["kind"])
    made = ovs.Sampler(
        plan,
        shuffle=config["shuffle"],
        num_replicas=config["replicas"],
        rank=config["rank"],
    )
    made.set_epoch(config["epoch"])
    if config["batch"]:
        return ovs.BatchSampler(made, config["batch"])
    return made
