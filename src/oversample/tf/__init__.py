"""The tf.data executor (one stream, keyed, shards): the only TensorFlow imports,
loaded when a tf.data source is given."""

from __future__ import annotations

import os
import sys
from typing import Any

INT64_MAX = 2**63 - 1


def quiet_start(level: str = "1") -> None:
    """Keeps TensorFlow's C++ start-up lines (CPU features, oneDNN) out of the
    user's terminal: sets `TF_CPP_MIN_LOG_LEVEL` (1: warnings and errors only)
    before TensorFlow is first imported, unless the user has set it."""
    if "tensorflow" not in sys.modules:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", level)


def quiet_command() -> None:
    """For the command line: TensorFlow's C++ lines at errors only (unless
    the user set the level) and absl's Python log at errors."""
    quiet_start("2")
    import absl.logging

    absl.logging.set_verbosity(absl.logging.ERROR)


def tf() -> Any:
    """TensorFlow, imported on first use, with an install hint when missing."""
    quiet_start()
    try:
        import tensorflow
    except ImportError:
        raise ImportError(
            "oversample's tf.data functions need TensorFlow: pip install"
            " 'oversample[tf]'."
        ) from None
    return tensorflow
