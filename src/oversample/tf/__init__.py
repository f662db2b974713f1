"""The tf.data executor (one stream, keyed, shards): the only TensorFlow imports,
loaded when a tf.data source is given."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

INT64_MAX = 2**63 - 1

# absl's log line header: severity, date, time, thread, file:line]
_HEADER = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] ")
_NOISE = (
    "WARNING: All log messages before absl::InitializeLog() is called",
    "To enable the following instructions:",  # the CPU-feature line's second line
)


def quiet_start(level: str = "1") -> None:
    """Keeps TensorFlow's C++ start-up lines (CPU features, oneDNN) out of the
    user's terminal: sets `TF_CPP_MIN_LOG_LEVEL` (1: warnings and errors only)
    before TensorFlow is first imported, unless the user has set it."""
    if "tensorflow" not in sys.modules:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", level)


def quiet_command() -> None:
    """For the command line: TensorFlow's C++ lines at errors only (unless
    the user set the level), TensorFlow imported now, and absl's Python log
    at errors."""
    quiet_start("2")
    tf()
    import absl.logging

    absl.logging.set_verbosity(absl.logging.ERROR)


def tf() -> Any:
    """TensorFlow, imported on first use, with an install hint when missing."""
    quiet_start()
    try:
        with _below_level_dropped("tensorflow" not in sys.modules):
            import tensorflow
    except ImportError:
        raise ImportError(
            "oversample's tf.data functions need TensorFlow: pip install"
            " 'oversample[tf]'."
        ) from None
    return tensorflow


def plain(fn: Callable[..., Any]) -> Any:
    """Marks a graph function as needing no autograph conversion.

    NOTE: the library's graph functions use no Python control flow on
    tensors; skipping the conversion saves about half a second of pipeline
    construction.
    """
    return tf().autograph.experimental.do_not_convert(fn)


@contextlib.contextmanager
def _below_level_dropped(first_import: bool) -> Iterator[None]:
    """Catches what is written to the process's stderr during TensorFlow's
    first import and writes it back without the lines below
    `TF_CPP_MIN_LOG_LEVEL`.

    NOTE: some builds log at start-up before absl's log is initialised, and
    those lines ignore the level (oneDNN's line on CPUs where it is on by
    default); everything else written meanwhile is kept, in order.
    """
    level = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0")
    if not first_import or not level.isdigit() or int(level) < 1:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            lines = caught.read().decode(errors="replace").splitlines(keepends=True)
            kept = [line for line in lines if not _below(line, int(level))]
            os.write(2, "".join(kept).encode())


def _below(line: str, level: int) -> bool:
    """A start-up line of a severity below `level` (0 info ... 3 fatal)."""
    if line.startswith(_NOISE):
        return True
    header = _HEADER.match(line)
    return header is not None and "IWEF".index(header.group(1)) < level
