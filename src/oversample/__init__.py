"""oversample: exact, reproducible duplication of training samples.

The core (`plan`, `Plan`, `Sampler`, strategies, the entry points) needs only
NumPy; an executor imports TensorFlow when it is handed a tf.data source, and
`DistributedSampler` (torch) and `PlanTrainer` (transformers) load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from oversample.api import balance, count_labels, duplicate, mix, mix_plan
from oversample.core.marks import Marks
from oversample.core.plan import Plan
from oversample.core.planning import plan
from oversample.core.schedules import Progressive, Schedule
from oversample.core.strategies import Power, RepeatFactor
from oversample.index.batch_sampler import BatchSampler
from oversample.index.dealt import DealtBatchSampler
from oversample.index.sampler import Sampler
from oversample.shards import ShardCounts, Shards

__version__ = "0.1.0"

if TYPE_CHECKING:
    from oversample.index.distributed import DistributedSampler
    from oversample.index.hf_trainer import PlanTrainer


def __getattr__(name: str) -> Any:
    """The names whose module imports a framework, loaded when first asked
    for, so that `import oversample` loads NumPy alone."""
    value: Any
    try:
        if name == "DistributedSampler":
            from oversample.index import distributed

            value = distributed.DistributedSampler
        elif name == "PlanTrainer":
            from oversample.index import hf_trainer

            value = hf_trainer.PlanTrainer
        else:
            raise AttributeError(f"module 'oversample' has no attribute {name!r}")
    except ImportError as error:
        package = "torch" if name == "DistributedSampler" else "transformers"
        raise ImportError(
            f"ovs.{name} needs {package}: pip install 'oversample[trainers]'"
            " (after the torch wheel for your machine)."
        ) from error
    globals()[name] = value
    return value


__all__ = [
    "BatchSampler",
    "DealtBatchSampler",
    "DistributedSampler",
    "Marks",
    "Plan",
    "PlanTrainer",
    "Power",
    "Progressive",
    "RepeatFactor",
    "Sampler",
    "Schedule",
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
