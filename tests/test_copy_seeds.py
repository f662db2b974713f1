"""The per-copy augmentation seed (`core.seeding.copy_seeds`): distinct for the
copies of a sample, equal for the same copy in another process, vectorised
equal to one at a time."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from oversample.core.seeding import copy_seeds


def test_copies_of_a_sample_get_distinct_seeds():
    keys = np.repeat(np.arange(200), 50)
    copies = np.tile(np.arange(50), 200)
    seeds = copy_seeds(3, 0, keys, copies)
    assert seeds.dtype == np.uint64
    assert np.unique(seeds).size == seeds.size


def test_the_seed_changes_with_epoch_key_copy_and_plan_seed():
    one = int(copy_seeds(3, 1, 5, 2))
    others = [
        copy_seeds(3, 2, 5, 2),
        copy_seeds(3, 1, 6, 2),
        copy_seeds(3, 1, 5, 3),
        copy_seeds(4, 1, 5, 2),
    ]
    assert all(int(other) != one for other in others)


def test_vectorised_equals_one_at_a_time():
    rng = np.random.default_rng(0)
    keys, copies = rng.integers(0, 10**9, 64), rng.integers(0, 100, 64)
    whole = copy_seeds(11, 7, keys, copies)
    single = [
        int(copy_seeds(11, 7, int(k), int(c)))
        for k, c in zip(keys, copies, strict=True)
    ]
    assert whole.tolist() == single


def test_the_same_copy_gets_the_same_seed_in_another_process():
    keys, copies = np.arange(10), np.arange(10) % 3
    here = copy_seeds(2**63 + 5, 4, keys, copies).tolist()
    code = (
        "import numpy as np; from oversample.core.seeding import copy_seeds;"
        " print(copy_seeds(2**63 + 5, 4, np.arange(10), np.arange(10) % 3).tolist())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == str(here)


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ((0, -1, 0, 0), "epoch"),
        ((0, 0, [1, -2], 0), "keys"),
        ((0, 0, 1, [0.5]), "copies"),
    ],
)
def test_bad_marks_are_refused_naming_the_argument(arguments, named):
    with pytest.raises(ValueError, match=f"`{named}` must be ints >= 0"):
        copy_seeds(*arguments)


def test_a_bad_plan_seed_is_refused():
    with pytest.raises(ValueError, match="seed"):
        copy_seeds(-1, 0, 0, 0)
