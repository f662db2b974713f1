"""Per-sample arrays of a plan as JSON-safe text: zlib, then base64."""

from __future__ import annotations

import base64
import zlib

import numpy as np


def pack(array: np.ndarray | None) -> dict[str, str] | None:
    if array is None:
        return None
    data = base64.b64encode(zlib.compress(np.ascontiguousarray(array).tobytes(), 6))
    return {"dtype": array.dtype.str, "data": data.decode("ascii")}


def unpack(packed: dict[str, str] | None) -> np.ndarray | None:
    if packed is None:
        return None
    raw = zlib.decompress(base64.b64decode(packed["data"]))
    return np.frombuffer(raw, dtype=np.dtype(packed["dtype"])).copy()
