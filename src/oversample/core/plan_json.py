"""A plan as a JSON document: its header (what decides copies), the packed
per-sample arrays, the checksum, and the checked reading back."""

from __future__ import annotations

from typing import Any

import numpy as np

from oversample.core import packing as _packing

FORMAT = "oversample.plan"
VERSION = 2  # 2: a checksum over the content
WHAT = "an oversample plan"


def header(plan: Any, with_format: bool = True) -> dict[str, Any]:
    """Everything but the per-sample arrays; the file format's marker and
    version are left out of the fingerprint, so a new format keeps it."""
    out: dict[str, Any] = {"format": FORMAT, "version": VERSION} if with_format else {}
    out.update(
        seed=plan.seed,
        rounding=plan.rounding,
        strategy=plan.strategy,
        max_factor=plan.max_factor,
        num_samples=plan.num_samples,
        classes=list(plan.classes),
        counts=plan._counts.tolist(),
        targets=plan._targets.tolist(),
        class_factors=(
            None if plan._class_factors is None else plan._class_factors.tolist()
        ),
    )
    if plan._schedule is not None:  # absent otherwise: fingerprints stay
        out["schedule"] = plan._schedule.tolist()
    return out


def to_json(plan: Any) -> str:
    document = header(plan)
    document["codes"] = _packing.pack(plan._codes)
    document["fixed"] = _packing.pack(plan._fixed)
    return _packing.seal(document)


def from_json(cls: Any, text: str, source: str) -> Any:
    document = _packing.load_document(text, FORMAT, VERSION, WHAT, source)
    return _packing.build(lambda d: _plan(cls, d), document, WHAT, source)


def _plan(cls: Any, document: dict[str, Any]) -> Any:
    factors, schedule = document["class_factors"], document.get("schedule")
    return cls(
        classes=tuple(document["classes"]),
        seed=int(document["seed"]),
        rounding=document["rounding"],
        strategy=document["strategy"],
        max_factor=document["max_factor"],
        num_samples=int(document["num_samples"]),
        _counts=np.asarray(document["counts"], dtype=np.int64),
        _targets=np.asarray(document["targets"], dtype=np.int64),
        _codes=_packing.unpack(document["codes"]),
        _fixed=_packing.unpack(document["fixed"]),
        _class_factors=None if factors is None else np.asarray(factors, np.float64),
        _schedule=None if schedule is None else np.asarray(schedule, np.int64),
    )
