"""oversample: exact, reproducible duplication of training samples.

The core (`plan`, `Plan`, `Sampler`, strategies, the entry points) needs only
NumPy; an executor imports TensorFlow when it is handed a tf.data source.
"""

from __future__ import annotations

from oversample.api import balance, count_labels, duplicate
from oversample.batch_sampler import BatchSampler
from oversample.marks import Marks
from oversample.plan import Plan
from oversample.planning import plan
from oversample.sampler import Sampler
from oversample.schedules import Progressive
from oversample.shards import ShardCounts, Shards
from oversample.strategies import Power, RepeatFactor

__version__ = "0.1.0"

__all__ = [
    "BatchSampler",
    "Marks",
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
