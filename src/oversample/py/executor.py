"""The Python-stream executor: `ovs.count_labels`, `ovs.balance`,
`ovs.duplicate` and `ovs.mix` on iterables of examples (dicts or tuples):
PyTorch IterableDatasets, Hugging Face IterableDatasets, WebDataset
pipelines, lists, anything that starts over on every `iter()`. NumPy only.

Three keyings, as `oversample.sources` chose them (see `oversample.py.keying`):

- an iterable, by position. Read by several readers (DataLoader workers,
  ranks), reader g of G streams the positions p % G == g, every reader
  reading the whole source;
- `ovs.Shards(files, read)` with `read(file)` an iterable of examples, by
  (shard, position in the shard); reader g reads the files g, g + G, ...;
- `ovs.Shards.tagged(stream, files)`: a stream that another library splits
  by shard (WebDataset's split_by_node / split_by_worker), each example
  naming its shard.

Every form is a plan first, and the plan's own rule decides every copy (see
`oversample.py.stream`). With torch imported, the result is a
`torch.utils.data.IterableDataset`.

Example:
    >>> import oversample as ovs
    >>> examples = [{"label": 0}, {"label": 0}, {"label": 0}, {"label": 1}]
    >>> stream = ovs.balance(examples, seed=0)
    >>> sorted(e["label"] for e in stream)
    [0, 0, 0, 1, 1, 1]
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

import numpy as np

from oversample.core import copies as _copies
from oversample.core import identity as _identity
from oversample.core import seeding as _seeding
from oversample.core import spread as _spread
from oversample.core.copies import Copies
from oversample.core.keying import POSITION, Keying
from oversample.core.mixture import plan_mixture
from oversample.core.plan import Plan
from oversample.core.planning import plan as make_plan
from oversample.core.prepare import Choice, Counted, FactorChoice, prepare
from oversample.core.settings import Settings
from oversample.core.shard_counts import ShardCounts
from oversample.core.validation import describe
from oversample.py import keying as _keying
from oversample.py import source as _source
from oversample.py import spread as _held
from oversample.py.mixture import Mixed
from oversample.py.source import Field
from oversample.py.stream import Balanced, Config, Rule

__all__ = ["balance", "count_labels", "duplicate", "mix"]


class IterableReader:
    """The reader of a Python source for the one preparation, read as its
    keying says (`oversample.py.keying`)."""

    def __init__(self, source: Any, label: Any, keying: Keying) -> None:
        self.keying = _keying.KEYINGS[keying.by]
        self.sharded = self.keying.sharded
        self.name = type(source).__name__
        self.once = False
        if self.sharded:
            first = self.keying.first(source)
        else:
            examples = iter(source)
            self.once = examples is source
            first = _source.head(examples)
            if self.once:
                source = _source.Once(first, examples, self.name)
        self.source = source
        self.field = Field.of(label, first)

    def check(self, counts: ShardCounts | None, plan: Plan | None) -> None:
        if self.sharded and counts is not None:
            counts.check_files(list(self.source.files), _source.sizes(self.source))
            if plan is not None:
                counts.check_plan(plan)

    def unheld(self, plan: Plan | None) -> str | None:
        return self.keying.unheld

    def count(self, progress: bool) -> Counted:
        return self.collect(0, None, progress)[1]

    def collect(
        self, budget: int, plan: Plan | None, progress: bool
    ) -> tuple[_source.Found, Counted]:
        pieces = self.keying.pieces(self.source)
        found = _source.read(pieces, self.field, budget, plan, progress)
        counts = None
        if self.sharded and plan is None:
            counts = _source.shard_counts(self.source, found)
        return found, Counted(found.pairs, shard_counts=counts)


def count_labels(source: Any, label: Any, progress: bool, *, keying: Keying) -> Any:
    """Samples per label (per shard, an `ovs.ShardCounts`, for shards)."""
    counted = IterableReader(source, label, keying).count(progress)
    return counted.shard_counts if keying.sharded else counted.counts


def balance(
    source: Any,
    label: Any,
    choice: Choice,
    settings: Settings,
    *,
    keying: Keying,
    progress: bool,
) -> Balanced:
    """A Python source balanced by the plan the preparation chooses."""
    reader = IterableReader(source, label, keying)
    prepared = prepare(reader, choice, settings, progress)
    counts = prepared.counts if reader.sharded else None
    return build(
        reader.source,
        keying,
        prepared.plan,
        settings,
        field=reader.field if prepared.plan.kind == "classes" else None,
        counts=counts,
        found=prepared.found,
        reason=prepared.reason,
    )


def duplicate(
    source: Any,
    form: Copies,
    *,
    label: Any,
    choice: Choice,
    settings: Settings,
    keying: Keying,
) -> Balanced:
    """`ovs.duplicate` on a Python stream: every form becomes a plan first."""
    first = _keying.KEYINGS[keying.by].first(source)
    plan = choice.given_plan()
    by_class = plan.kind == "classes" if plan is not None else form.per_class
    if by_class and not _copies.by_table(form, settings):
        # NOTE: a class plan, given or of per-class factors (count x factor),
        # goes through the one preparation, as `balance` does.
        if plan is None:
            choice = FactorChoice(
                seed=choice.seed, rounding=choice.rounding, factors=form.per_class
            )
        return balance(source, label, choice, settings, keying=keying, progress=False)
    chosen = plan if plan is not None else _plan_of(source, form, choice)
    field = None if label is None else Field.of(label, first)
    return build(source, keying, chosen, settings, field=field)


def _plan_of(source: Any, form: Copies, choice: Choice) -> Plan:
    """The plan of a form of `duplicate` that needs no class counts."""
    seed, rounding = choice.seed, choice.rounding
    if form.weight is not None:
        weights = [float(form.weight(e)) for e in source]
        return make_plan(weights=weights, seed=seed, rounding=rounding)
    if form.kind == "fraction":
        size = sum(1 for _ in source)
        return make_plan(
            weights=np.full(size, form.factor), seed=seed, rounding=rounding
        )
    if form.where is not None:
        identity, unknown = _identity.of_callable(form.where)
        return _copies.whole_plan(form, seed, None, identity=identity, unknown=unknown)
    if form.indices is not None:
        size = sum(1 for _ in source)
        indices = _copies.positions(form.indices, lambda: size)
        return _copies.whole_plan(form, seed, size, indices=indices)
    return _copies.whole_plan(form, seed, None)


AUTO_BLOCK = 4096


def build(
    source: Any,
    keying: Keying,
    plan: Plan,
    settings: Settings,
    *,
    field: Field | None = None,
    counts: ShardCounts | None = None,
    found: Any = None,
    reason: str | None = None,
) -> Balanced:
    """The stream that carries `plan` out: its rule, its keys for each
    reader, what it holds for the spread (of what the preparation's read
    `found`) and the settings, in one `Config`."""
    rule = Rule(plan, field)
    held = None
    if found is not None and plan.kind == "classes":
        # NOTE: the preparation collected `found` only with the spread on.
        starts = None if counts is None else counts.starts
        held = _held.hold(plan, found, starts, settings.marking(plan.seed))
        if held is None:
            reason = _spread.none_fits(settings.spread)
    if held is not None:
        rule.held = held.sizes > 0
    if plan.kind == "classes":
        spread = _held.report(plan, held, settings.spread, reason)
    else:
        spread = _spread.nothing(
            settings.spread, "the copies do not come from per-class targets"
        )
    class_counts = plan.class_rule.counts if rule.by_class else None
    reading = _keying.KEYINGS[keying.by]
    keys = reading.keys(
        source, counts if reading.sharded else class_counts, plan.num_samples
    )
    epochs = settings.epochs
    block = AUTO_BLOCK if settings.shuffle_buffer is None else settings.shuffle_buffer
    identity = _seeding.derive(
        0,
        "py-stream",
        plan.base_fingerprint,  # NOTE: the targets by epoch: the state's history
        epochs,
        block,
        settings.provenance,
        settings.copy_seeds,
        None if counts is None else counts.fingerprint,
        settings.stratified,
    )
    # NOTE: apart from the identity: new targets on resume may hold other
    # samples, and the state names that difference on its own.
    holding = "none" if held is None else held.fingerprint()
    config = Config(
        keying=keys,
        rule=rule,
        held=held,
        seed=plan.seed,
        epochs=None if epochs.stream is None else tuple(range(epochs.stream)),
        fixed=epochs.fixed,
        block=block,
        marking=settings.marking(plan.seed),
        identity=f"{identity:016x}",
        holding=holding,
        extra={"streaming": epochs.streaming},
        all_held=held is not None and bool(rule.held is not None and rule.held.all()),
        stratified=settings.stratified,
    )
    if config.stratified is not None:
        _check_stratified(config, plan, spread, reading.sharded)
    stream_class: type[Balanced] = Balanced
    if "torch" in sys.modules:
        from oversample.py.torch_stream import TorchBalanced

        stream_class = TorchBalanced
    out = stream_class(config, plan, spread)
    out.shard_counts = counts
    return out


def _check_stratified(config: Config, plan: Plan, spread: Any, sharded: bool) -> None:
    """Batches by class need the whole epoch's copies at hand: every class
    held by the spread, one stream (not shards), one epoch per iteration and
    an epoch of a batch."""
    size = config.stratified
    assert size is not None
    elsewhere = (
        " Or read the source by index: ovs.BatchSampler(ovs.Sampler(plan),"
        f" batch_size={size}, stratified=True)."
    )
    if plan.kind != "classes":
        raise ValueError(
            f"`stratified`={size} lays batches out by class, and this stream's"
            " copies come from per-sample weights, which have no classes."
        )
    if sharded:
        raise ValueError(
            f"`stratified`={size} needs one stream of the whole epoch; shards are"
            " read by many readers, each its own part." + elsewhere
        )
    if config.extra.get("streaming"):
        given = "endless" if config.epochs is None else len(config.epochs)
        raise ValueError(
            f"`stratified`={size} lays out one epoch at a time, and `epochs`="
            f"{given!r} streams the epochs back to back, where a batch would"
            " straddle two epochs' layouts. Build a stream per epoch"
            " (`epoch=k`), or call set_epoch(k) before each iteration."
        )
    if not config.all_held:
        budget = (
            " Give a `spread` budget that holds the whole source (its size in"
            " memory, e.g. spread='4GiB')."
            if spread.reason is None or spread.budget == 0 or "budget" in spread.reason
            else ""
        )
        raise ValueError(
            f"`stratified`={size} lays each epoch out by class from the samples"
            " the spread holds in memory, so every class must be held; this"
            f" stream's {spread}.{budget}" + elsewhere
        )
    totals = plan.class_rule.targets.sum(axis=1)
    if int(totals.min()) < size:
        row = int(np.argmin(totals))
        raise ValueError(
            f"`stratified`={size} is more than the {int(totals[row])} elements of"
            f" epoch {int(plan.class_rule.starts[row])}: use stratified <="
            f" {int(totals.min())}."
        )


def sizes(sources: dict[str, Any]) -> dict[str, int]:
    """Each source's size: `len()`, or one counting pass when it has none."""
    found = {}
    for name, source in sources.items():
        if not isinstance(source, Iterable) or isinstance(source, str | bytes | dict):
            raise TypeError(
                f"`sources[{name!r}]` must be an iterable of examples (a list, a"
                " dataset object); got"
                f" {type(source).__name__} {describe(source)}."
            )
        if iter(source) is source:
            raise TypeError(
                f"`sources[{name!r}]` is a one-shot iterator"
                f" ({type(source).__name__}); a mixture reads each source once per"
                " pass and epoch: give an iterable that starts over on every iter()."
            )
        try:
            found[name] = len(source)  # type: ignore[arg-type]
        except TypeError:
            found[name] = sum(1 for _ in source)
    return found


def mix(
    sources: dict[str, Any],
    rates: Any,
    samples: Any,
    seed: int | None,
    settings: Settings,
    stratified: int | None,
    balance: Any = None,
) -> Mixed:
    """One Python stream of the sources mixed at their exact rates."""

    def count(name: str, label: Any) -> Any:
        return count_labels(sources[name], label, False, keying=POSITION)

    found = plan_mixture(
        sizes(sources), rates, samples, seed, balance, count, stratified
    )
    labels = {
        name: value[0] if isinstance(value, tuple) else value
        for name, value in (balance or {}).items()
    }
    stream_class: type[Mixed] = Mixed
    if "torch" in sys.modules:
        from oversample.py.torch_stream import TorchMixed

        stream_class = TorchMixed
    return stream_class(dict(sources), found, settings, stratified, labels, _within)


def _within(source: Any, label: Any, choice: Choice, settings: Settings) -> Balanced:
    """A source balanced inside a mixture: `balance`, keyed by position."""
    return balance(source, label, choice, settings, keying=POSITION, progress=False)
