"""oversample: exact, reproducible duplication of training samples.

The core (`plan`, `Plan`, `Sampler`, strategies, the entry points) needs only
NumPy; an executor imports TensorFlow when it is handed a tf.data source.
"""

from __future__ import annotations

from oversample.api import balance, count_labels, duplicate, mix, mix_plan
from oversample.core.marks import Marks
from oversample.core.plan import Plan
from oversample.core.planning import plan
from oversample.core.schedules import Progressive
from oversample.core.strategies import Power, RepeatFactor
from oversample.index.batch_sampler import BatchSampler
from oversample.index.sampler import Sampler
from oversample.shards import ShardCounts, Shards

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
    "mix",
    "mix_plan",
    "plan",
]
