"""The resume battery: every streaming mode and the Sampler saved at many
points and restored in a fresh process yield exactly the rest; a state is
refused by every pipeline or sampler that differs from the one that saved it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import resume_cases

HERE = Path(__file__).parent


def _points(length: int, seed: int, randoms: int = 5) -> list[int]:
    """Before the first element, early, random, the last and after the last."""
    chosen = np.random.default_rng(seed).integers(3, max(length - 1, 4), randoms)
    return sorted({0, 1, 2, length // 3, length - 1, length, *chosen.tolist()})


def _restore_in_a_fresh_process(cases: list[dict], tmp_path: Path) -> list:
    manifest = tmp_path / "cases.json"
    manifest.write_text(json.dumps(cases))
    done = subprocess.run(
        [sys.executable, str(HERE / "resume_child.py"), str(manifest)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=HERE,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(900)
def test_every_streaming_mode_resumes_exactly_in_a_fresh_process(tmp_path):
    tf = pytest.importorskip("tensorflow")
    cases, expected = [], []
    for n, config in enumerate(resume_cases.tf_configs()):
        length = sum(1 for _ in resume_cases.pipeline(config))
        points = set(_points(length, n, randoms=8))
        # A new pipeline, so that this pass is a first iteration like the
        # restored one (a fresh-epoch dataset draws a new epoch per iteration).
        iterator = iter(resume_cases.pipeline(config))
        stream: list = []
        saved: list[tuple[str, int | None]] = []  # None: after exhaustion
        while True:
            if len(stream) in points:
                folder = tmp_path / f"c{n}-{len(stream)}" / "ckpt"
                path = tf.train.Checkpoint(iterator=iterator).write(str(folder))
                saved.append((path, len(stream)))
            try:
                element = next(iterator)
            except StopIteration:
                break
            stream.append(resume_cases.identify(element))
        folder = tmp_path / f"c{n}-exhausted" / "ckpt"
        saved.append((tf.train.Checkpoint(iterator=iterator).write(str(folder)), None))
        assert len(stream) == length
        for path, rest_from in saved:
            cases.append({"kind": "tf", "config": config, "path": path})
            expected.append([] if rest_from is None else stream[rest_from:])
    assert len(cases) >= 150
    restored = _restore_in_a_fresh_process(cases, tmp_path)
    failed = [
        (case["config"], case["path"])
        for case, got, want in zip(cases, restored, expected, strict=True)
        if got != want
    ]
    assert failed == []


def _sampler_configs() -> list[dict]:
    configs = []
    kinds = ["exact", "stochastic", "weights"]
    for replicas in (1, 2, 3):
        for rank in range(replicas):
            i = len(configs)
            configs.append(
                {
                    "kind": kinds[i % 3],
                    "shuffle": i % 4 != 3,
                    "replicas": replicas,
                    "rank": rank,
                    "epoch": i,
                    "batch": 8 if i % 2 else None,
                    "seed": 2,
                    "labels": 0,
                }
            )
    return configs


def test_every_sampler_rank_resumes_exactly_in_a_fresh_process(tmp_path):
    cases, expected = [], []
    for n, config in enumerate(_sampler_configs()):
        full = list(resume_cases.sampler(config))
        for point in [*_points(len(full), n, randoms=8), None]:
            made = resume_cases.sampler(config)
            iterator = iter(made)
            for _ in range(len(full) if point is None else point):
                next(iterator)
            if point is None:  # after exhaustion
                assert list(iterator) == []
            state = json.loads(json.dumps(made.state_dict()))
            cases.append({"kind": "sampler", "config": config, "state": state})
            # A sampler that finished its epoch starts it again on the next
            # iteration, like a DataLoader's next epoch.
            expected.append(full if point is None else full[point:])
    assert len(cases) >= 60
    restored = _restore_in_a_fresh_process(cases, tmp_path)
    assert [
        c["config"]
        for c, got, want in zip(cases, restored, expected, strict=True)
        if got != want
    ] == []


TF_CHANGES = {
    "seed": {"seed": 6},
    "plan": {"labels": 1},
    "strategy": {"strategy": "sqrt"},
    "epoch mode": "mode",
    "rounding": "rounding",
    "spread": "spread",
}


def _changed(config: dict, change: str) -> dict:
    other = dict(config)
    if change == "epoch mode":
        modes = list(resume_cases.EPOCH_MODES)
        other["mode"] = modes[(modes.index(config["mode"]) + 1) % len(modes)]
    elif change == "rounding":
        other["rounding"] = "stochastic" if config["rounding"] == "exact" else "exact"
    elif change == "spread":
        spreads = resume_cases.SPREADS
        other["spread"] = spreads[(spreads.index(config["spread"]) + 1) % len(spreads)]
    else:
        other.update(TF_CHANGES[change])
    return other


# NOTE: the spread holds nothing where elements have no static shape (the
# per-element bases 3 and 5), so changing it changes nothing there.
CHANGED = [
    (change, base)
    for change in sorted(TF_CHANGES)
    for base in [0, 3, 5, 10]
    if not (change == "spread" and resume_cases.tf_configs()[base]["per_element"])
]


@pytest.mark.parametrize(("change", "base"), CHANGED)
def test_a_stream_state_is_refused_by_another_configuration(change, base, tmp_path):
    tf = pytest.importorskip("tensorflow")
    # NOTE: the check runs where the source is read, so the state is saved
    # while source blocks remain unread (a state saved once the source is read
    # to its end cannot be checked; see the README).
    config = {**resume_cases.tf_configs()[base], "tile": 40, "buffer": 256}
    iterator = iter(resume_cases.pipeline(config))
    for _ in range(5):
        next(iterator)
    path = tf.train.Checkpoint(iterator=iterator).write(str(tmp_path / "ckpt"))
    other = iter(resume_cases.pipeline(_changed(config, change)))
    with pytest.raises(
        (tf.errors.InvalidArgumentError, tf.errors.NotFoundError),
        match=r"another plan or other settings|definition has not changed",
    ):
        tf.train.Checkpoint(iterator=other).read(path).assert_consumed()
        list(other)


SAMPLER_CHANGES = {
    "seed": {"seed": 3},
    "plan": {"labels": 1},
    "strategy": {"kind": "stochastic"},
    "rank": {"rank": 1},
    "replicas": {"replicas": 3},
    "shuffle": {"shuffle": False},
    "batch size": {"batch": 4},
}


@pytest.mark.parametrize("change", sorted(SAMPLER_CHANGES))
@pytest.mark.parametrize("batch", [None, 8])
def test_a_sampler_state_is_refused_by_another_configuration(change, batch):
    config = {
        "kind": "exact",
        "shuffle": True,
        "replicas": 2,
        "rank": 0,
        "epoch": 1,
        "batch": batch,
        "seed": 2,
        "labels": 0,
    }
    made = resume_cases.sampler(config)
    iterator = iter(made)
    next(iterator)
    other = {**config, **SAMPLER_CHANGES[change]}
    if change == "batch size" and batch is None:
        other["batch"] = None
        other["seed"] = 9  # a plain sampler has no batch size; differ in seed
    with pytest.raises(
        ValueError, match=r"another configuration|other batch|another plan"
    ):
        resume_cases.sampler(other).load_state_dict(made.state_dict())
