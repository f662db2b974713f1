from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest

# NOTE: TFDS builds the embedded datasets of the docs' code blocks and of the
# tests that name no folder in a temporary one, never in the home folder.
os.environ.setdefault("TFDS_DATA_DIR", tempfile.mkdtemp(prefix="oversample-tfds-"))

# Child scripts the tests start as processes, not test modules: they import
# torch or torchdata at the top, which a checkout without them lacks.
collect_ignore = ["stream_child.py", "kill_child.py"]


def long_tail(
    num_classes: int, largest: int, ratio: float, seed: int = 0
) -> np.ndarray:
    """Shuffled labels with an exponential long-tailed profile."""
    sizes = np.maximum(
        1,
        np.round(
            largest * ratio ** (-np.arange(num_classes) / max(num_classes - 1, 1))
        ),
    ).astype(np.int64)
    labels = np.repeat(np.arange(num_classes), sizes)
    return np.random.default_rng(seed).permutation(labels)


@pytest.fixture
def tail_labels() -> np.ndarray:
    return long_tail(num_classes=6, largest=40, ratio=10)
