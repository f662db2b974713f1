"""DESIGN section 4 over many random configurations: labels, strategies,
roundings, max_factor, seeds, epochs and ranks: 1,000 in the suite, 20,000
with OVERSAMPLE_DEEP=1 (a long run on demand)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import oversample as ovs

EXAMPLES = 20_000 if os.environ.get("OVERSAMPLE_DEEP") else 1_000
STRATEGIES = {
    "not majority": "not majority",
    "all": "all",
    "minority": "minority",
    "not minority": "not minority",
    "sqrt": "sqrt",
    "power": ovs.Power(0.7),
    "progressive": ovs.Progressive(epochs=3),
}


@st.composite
def configurations(draw):
    classes = draw(st.integers(2, 9))
    sizes = draw(st.lists(st.integers(1, 40), min_size=classes, max_size=classes))
    return {
        "sizes": sizes,
        "order_seed": draw(st.integers(0, 2**32 - 1)),
        "strategy": draw(st.sampled_from(sorted(STRATEGIES))),
        "rounding": draw(st.sampled_from(["exact", "stochastic"])),
        "max_factor": draw(st.sampled_from([None, 1.5, 3.0, 10.0])),
        "seed": draw(st.integers(0, 2**64 - 1)),
        "first_epoch": draw(st.integers(0, 2**40)),
        "epochs": draw(st.integers(1, 6)),
        "replicas": draw(st.integers(1, 4)),
        "drop_last": draw(st.booleans()),
    }


def _labels(config):
    labels = np.repeat(np.arange(len(config["sizes"])), config["sizes"])
    return np.random.default_rng(config["order_seed"]).permutation(labels)


def _plan(config):
    return ovs.plan(
        _labels(config),
        STRATEGIES[config["strategy"]],
        seed=config["seed"],
        rounding=config["rounding"],
        max_factor=config["max_factor"],
    )


def _epochs(config):
    first = config["first_epoch"]
    return range(first, first + config["epochs"])


@settings(max_examples=EXAMPLES, deadline=None)
@given(configurations())
def test_design_invariants_hold(config):
    labels, plan = _labels(config), _plan(config)
    exact = plan.rounding == "exact"
    over_epochs = np.zeros(labels.size, np.int64)
    for epoch in _epochs(config):
        copies = plan.copies(epoch)
        over_epochs += copies
        assert copies.min() >= 1, "nothing lost"
        targets = plan.targets_at(epoch)
        for c, label in enumerate(plan.classes):
            mine = copies[labels == c]
            base = targets[label] // mine.size
            assert set(mine.tolist()) <= {base, base + 1}, "b or b+1 copies"
            if exact:
                assert mine.sum() == targets[label], "exact class totals"
            if config["max_factor"] is not None:
                factor = targets[label] / plan.counts[label]
                assert factor <= config["max_factor"] + 1e-9
        _check_ranks(config, plan, labels, copies, epoch)
    if exact and not plan.epoch_dependent:
        for c in range(len(plan.classes)):
            mine = over_epochs[labels == c]
            assert mine.max() - mine.min() <= 1, "fair across epochs"


def _check_ranks(config, plan, labels, copies, epoch):
    """The ranks' union is the epoch, with one copy more or less per class
    (exact rounding) or per sample (otherwise) where the split needs it."""
    replicas = config["replicas"]
    parts = []
    for rank in range(replicas):
        sampler = ovs.Sampler(
            plan, num_replicas=replicas, rank=rank, drop_last=config["drop_last"]
        )
        sampler.set_epoch(epoch)
        parts.append(sampler.indices())
    assert len({p.size for p in parts}) == 1, "every rank one length"
    counted = np.bincount(np.concatenate(parts), minlength=labels.size)
    difference = counted - copies
    assert difference.sum() == sampler.num_padded - sampler.num_dropped
    assert abs(difference.sum()) < replicas
    if plan.rounding == "exact":
        per_class = np.bincount(labels, difference, minlength=len(plan.classes))
        spread = -(-abs(difference.sum()) // len(plan.classes))  # ceil
        assert np.abs(per_class).max() <= spread
    else:
        assert np.abs(difference).max() <= 1
    if not config["drop_last"]:
        assert counted.min() >= 1, "nothing lost over the ranks"
    if copies.sum() % replicas == 0:
        assert difference.tolist() == [0] * labels.size


def _digest(configs) -> list[str]:
    digests = []
    for config in configs:
        plan = _plan(config)
        digest = hashlib.blake2b(digest_size=8)
        for epoch in _epochs(config):
            digest.update(plan.copies(epoch).tobytes())
            digest.update(plan.indices(epoch).tobytes())
            sampler = ovs.Sampler(plan, num_replicas=config["replicas"])
            sampler.set_epoch(epoch)
            digest.update(sampler.indices().tobytes())
        digests.append(digest.hexdigest())
    return digests


def test_the_same_configurations_give_the_same_bytes_in_a_fresh_process():
    rng = np.random.default_rng(7)
    configs = [
        {
            "sizes": rng.integers(1, 40, rng.integers(2, 9)).tolist(),
            "order_seed": int(rng.integers(2**32)),
            "strategy": str(rng.choice(sorted(STRATEGIES))),
            "rounding": str(rng.choice(["exact", "stochastic"])),
            "max_factor": [None, 1.5, 3.0][int(rng.integers(3))],
            "seed": int(rng.integers(2**63)),
            "first_epoch": int(rng.integers(1000)),
            "epochs": 2,
            "replicas": int(rng.integers(1, 4)),
        }
        for _ in range(200)
    ]
    code = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_invariants import _digest\n"
        "print(json.dumps(_digest(json.loads(sys.stdin.read()))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(configs),
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    assert json.loads(done.stdout) == _digest(configs)
