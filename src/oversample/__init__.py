"""oversample: exact, reproducible duplication of training samples.

The core (`plan`, `Plan`, `Sampler`, strategies) needs only NumPy; the tf.data
functions import TensorFlow when first called.
"""

from __future__ import annotations

from oversample.plan import Plan, plan
from oversample.strategies import Power, RepeatFactor

__version__ = "0.1.0"

__all__ = [
    "Plan",
    "Power",
    "RepeatFactor",
    "__version__",
    "plan",
]
