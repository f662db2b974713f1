"""Internals of the tf.data executor; imported only through `oversample.tfdata`."""

from __future__ import annotations

from typing import Any

INT64_MAX = 2**63 - 1


def tf() -> Any:
    """TensorFlow, imported on first use, with an install hint when missing."""
    try:
        import tensorflow
    except ImportError:
        raise ImportError(
            "oversample's tf.data functions need TensorFlow: pip install"
            " 'oversample[tf]'."
        ) from None
    return tensorflow
