"""JSON documents of plans and counts: per-sample arrays as zlib + base64
text, and the checked reading of a document."""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any

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


def load_document(text: str, marker: str, version: int, what: str) -> dict[str, Any]:
    """Parses `text` and checks its format marker and version."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"`text` is not JSON: {error}.") from None
    if not isinstance(document, dict) or document.get("format") != marker:
        raise ValueError(f"`text` is not {what} (no 'format' marker).")
    if document.get("version") != version:
        raise ValueError(
            f"{what}: format version {document.get('version')!r} is not supported;"
            f" this oversample reads version {version}."
        )
    return document
