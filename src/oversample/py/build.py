"""Assembling a balanced Python stream: the decider, the keying, the held
samples and the settings, into one `Balanced`."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from oversample.core import seeding as _seeding
from oversample.core import spread as _spread
from oversample.core.plan import Plan
from oversample.core.settings import Settings
from oversample.core.shard_counts import ShardCounts
from oversample.py import keying as _keying
from oversample.py import passes as _passes
from oversample.py.decide import ClassDecider, SampleDecider
from oversample.py.fields import Field
from oversample.py.held import report
from oversample.py.source import first
from oversample.py.stream import Balanced, Config
from oversample.shards import Shards

AUTO_BLOCK = 4096


def class_stream(
    source: Any,
    field: Field,
    plan: Plan,
    counts: ShardCounts | None,
    found: _passes.Found | None,
    settings: Settings,
    reason: str | None = None,
) -> Balanced:
    decider = ClassDecider(plan)
    starts = None if counts is None else counts.starts
    held = None
    if found is not None:
        # NOTE: the preparation collected `found` only with the spread on.
        held = _passes.hold(plan, found, decider, starts, settings.marking(plan.seed))
        if held is None:
            reason = _spread.none_fits(settings.spread)
    if held is not None:
        classes = np.zeros(len(plan.classes), bool)
        classes[np.unique(held.index)] = True
        decider.held = classes
    spread = report(plan, held, settings.spread, reason)
    return stream(
        source,
        decider,
        field,
        held,
        settings,
        plan.fingerprint,
        plan=plan,
        counts=counts,
        spread=spread,
    )


def sample_stream(source: Any, plan: Plan, settings: Settings) -> Balanced:
    decider = SampleDecider(plan)
    return stream(source, decider, None, None, settings, plan.fingerprint, plan=plan)


def stream(
    source: Any,
    decider: Any,
    field: Field | None,
    held: Any,
    settings: Settings,
    name: str,
    *,
    plan: Plan | None = None,
    counts: ShardCounts | None = None,
    spread: Any = None,
    seed: int | None = None,
) -> Balanced:
    seed_value = plan.seed if plan is not None else _seeding.resolve_seed(seed)
    samples = None if plan is None else plan.num_samples
    class_counts = None if plan is None or plan.kind != "classes" else plan._counts
    if isinstance(source, Shards) and source.stream is not None:
        tag = Field.of(source.tag, first(source), "tag")
        keying = _keying.Keying("tag", source.stream, counts, tag=tag)
    elif isinstance(source, Shards):
        keying = _keying.Keying("shard", source, counts)
    else:
        keying = _keying.Keying("position", source, class_counts, samples=samples)
    epochs = settings.epochs
    block = AUTO_BLOCK if settings.shuffle_buffer is None else settings.shuffle_buffer
    identity = _seeding.derive(
        0,
        "py-stream",
        name,
        epochs,
        block,
        settings.provenance,
        settings.copy_seeds,
        None if held is None else (held.size, held.bytes, held.keys.tobytes()),
        None if counts is None else counts.fingerprint,
    )
    config = Config(
        keying=keying,
        decider=decider,
        label=field,
        held=held,
        seed=seed_value,
        epochs=None if epochs.stream is None else tuple(range(epochs.stream)),
        fixed=epochs.fixed,
        block=block,
        marking=settings.marking(seed_value),
        identity=f"{identity:016x}",
        strings=getattr(decider, "strings", None),
        extra={"streaming": epochs.streaming},
        all_held=held is not None
        and bool(getattr(decider, "held", None) is not None and decider.held.all()),
    )
    if spread is None:
        spread = _spread.nothing(
            settings.spread, "the copies do not come from per-class targets"
        )
    stream_class: type[Balanced] = Balanced
    if "torch" in sys.modules:
        from oversample.py.torch_stream import TorchBalanced

        stream_class = TorchBalanced
    out = stream_class(config, plan, spread)
    out.shard_counts = counts
    return out
