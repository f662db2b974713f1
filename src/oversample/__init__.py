"""oversample: exact, reproducible duplication of training samples.

The core (`plan`, `Plan`, `Sampler`, strategies) needs only NumPy; the tf.data
functions import TensorFlow when first called.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from oversample.batch_sampler import BatchSampler
from oversample.plan import Plan
from oversample.planning import plan
from oversample.sampler import Sampler
from oversample.schedules import Progressive
from oversample.shards import ShardCounts, Shards
from oversample.strategies import Power, RepeatFactor

_LAZY = {"balance", "count_labels", "duplicate"}


def __getattr__(name: str) -> Callable[..., Any]:
    # NOTE: the tf.data functions live in oversample.tfdata, which imports
    # TensorFlow; they load on first use so `import oversample` stays light.
    if name in _LAZY:
        from oversample import tfdata

        function: Callable[..., Any] = getattr(tfdata, name)
        return function
    raise AttributeError(f"module 'oversample' has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    "BatchSampler",
    "Plan",
    "Power",
    "Progressive",
    "RepeatFactor",
    "Sampler",
    "ShardCounts",
    "Shards",
    "__version__",
    "balance",
    "count_labels",
    "duplicate",
    "plan",
]
