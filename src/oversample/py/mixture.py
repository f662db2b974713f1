"""The Python-stream executor of a mixture: several iterables in, one stream.

The same passes and schedule as the tf.data mixture: in epoch t, pass j of
source s yields the samples whose copies (the plan's rule for class s at
their position) exceed j, and the mixture's schedule says which source gives
the next output. In a DataLoader with workers (and over ranks), reader r of R
yields the outputs r, r + R, ... of the epoch, so the union over readers is
exactly the plan's epoch; every reader reads every source. Build the mixture
in the main process: a pass that yields another number of samples than the
plan's (a source that splits itself among workers) is refused.

`state_dict()` on the stream is (epoch, outputs yielded): a restore reads the
sources again up to that point, deciding nothing anew.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from oversample.core import rule as _rule
from oversample.core import seeding as _seeding
from oversample.core import states as _states
from oversample.core.interleave import batch_counts, batch_order, schedule_piece
from oversample.core.marks import Marking
from oversample.core.mixture import Mixture
from oversample.core.prepare import Choice
from oversample.core.settings import Epochs, Settings, auto_buffer
from oversample.core.validation import check_int, check_split
from oversample.py import keying as _keying
from oversample.py.stream import EpochCell

__all__ = ["Mixed"]

STATE_VERSION = 2  # 2: the copy rule's version is saved (`core.rule.VERSION`)
BLOCK = 4096


class Mixed:
    """Sources mixed at exact rates: iterate it for one epoch (or `epochs=E`
    back to back); `set_epoch(e)` chooses the next iteration's epoch."""

    def __init__(
        self,
        sources: dict[str, Any],
        found: Mixture,
        settings: Settings,
        stratified: int | None,
        labels: dict[str, Any] | None = None,
        balance: Callable[..., Any] | None = None,
    ) -> None:
        self.sources = sources
        self.labels = labels or {}
        self.balance = balance  # the executor's `balance`, for `within`
        self.mixture = found
        self.plan = found.plan
        self.settings = settings
        self.stratified = stratified
        self._epoch = EpochCell(settings.epochs.fixed or 0)
        self._resume: dict[str, Any] | None = None
        self._yielded = 0
        self._current = self._epoch.get()
        self._split: tuple[int, int] | None = None

    def __len__(self) -> int:
        epochs = self.settings.epochs
        if epochs.streaming and epochs.stream is None:
            raise TypeError("an endless mixture (epochs=None) has no length")
        if epochs.streaming:
            assert epochs.stream is not None
            return sum(self.plan.total_at(epoch) for epoch in range(epochs.stream))
        fixed = epochs.fixed
        return self.plan.total_at(self._epoch.get() if fixed is None else fixed)

    def set_epoch(self, epoch: int) -> None:
        self._epoch.set(check_int(epoch, "epoch"))

    def split(self, num_replicas: int, rank: int) -> Mixed:
        """This rank's share, when ranks are not set by torch.distributed."""
        split = check_split(num_replicas, rank)
        other = type(self)(
            self.sources,
            self.mixture,
            self.settings,
            self.stratified,
            self.labels,
            self.balance,
        )
        other._split = split
        return other

    def _identity(self) -> dict[str, Any]:
        settings = self.settings
        identity = _seeding.derive(
            0,
            "py-mixture",
            self.plan.base_fingerprint,  # NOTE: the rates by epoch: the history
            settings.epochs,
            settings.shuffle_buffer,
            settings.copy_seeds,
            self.stratified,
        )
        return {
            "version": STATE_VERSION,
            "rule": _rule.VERSION,
            "identity": f"{identity:016x}",
            "reader": list(_keying.reader(self._split)),
        }

    def state_dict(self) -> dict[str, Any]:
        if self._resume is not None:
            # NOTE: restored and not read yet: the state is the one restored
            return dict(self._resume)
        return {
            **self._identity(),
            "epoch": self._current,
            "history": self.plan.history(self._current),
            "yielded": self._yielded,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        names = ("identity", "reader")
        _states.check("mixture", state, self._identity(), names, self.plan)
        self._resume = dict(state)

    def _epochs(self, resumed: int | None) -> Iterator[int]:
        epochs = self.settings.epochs
        if epochs.fixed is not None:
            return iter([epochs.fixed])
        if epochs.streaming:
            first = resumed or 0
            if epochs.stream is None:
                return itertools.count(first)
            return iter(range(first, epochs.stream))
        return iter([self._epoch.get() if resumed is None else resumed])

    def __iter__(self) -> Iterator[Any]:
        reader, readers = _keying.reader(self._split)
        resume, self._resume = self._resume, None
        skip = 0 if resume is None else int(resume["yielded"])
        first = None if resume is None else int(resume["epoch"])
        self._yielded = 0
        for epoch in self._epochs(first):
            self._current = epoch
            outputs = self._epoch_stream(epoch)
            outputs = itertools.islice(outputs, reader, None, readers)
            for element in outputs:
                if skip:
                    skip -= 1
                    self._yielded += 1
                    continue
                self._yielded += 1
                yield element
            self._yielded = 0

    def _buffer(self, total: int) -> int:
        given = self.settings.shuffle_buffer
        return auto_buffer(total, None) if given is None else given

    def _rng(self, name: str, epoch: int) -> np.random.Generator:
        return np.random.default_rng(
            _seeding.derive(self.plan.seed, "mixture-shuffle", name, epoch)
        )

    def _epoch_stream(self, epoch: int) -> Iterator[Any]:
        found = self.mixture
        targets = found.targets_at(epoch)
        marking = self.settings.marking(self.plan.seed)
        streams = []
        for i, name in enumerate(found.names):
            if name in found.within:
                streams.append(self._balanced(name, epoch))
                continue
            copies = _passes(self.sources[name], found, i, epoch)
            stream = _marked(copies, found.offsets[i], marking, epoch)
            buffer = self._buffer(targets[i])
            streams.append(_shuffle(stream, buffer, self._rng(name, epoch)))
        if self.stratified is not None:
            table = batch_counts(targets, self.stratified)
            chosen = (batch_order(row) for row in table)
        else:
            pieces = found.pieces(epoch)
            chosen = (schedule_piece(targets, p, pieces) for p in range(pieces))
        for piece in chosen:
            for source in piece.tolist():
                yield next(streams[source])

    def _balanced(self, name: str, epoch: int) -> Iterator[Any]:
        """A source whose classes are balanced inside the mixture: the Python
        executor's `balance` with its class plan, read whole by this reader
        (the mixture splits the outputs among readers). Its copy seeds are
        those of its class plan."""
        inner = self.mixture.within[name]
        choice = Choice(
            strategy=inner.targets, seed=inner.seed, counts=inner.counts, thin=True
        )
        settings = Settings(
            Epochs(fixed=epoch, stream=None, streaming=False),
            self.settings.shuffle_buffer,
            provenance=False,
            copy_seeds=self.settings.copy_seeds,
        )
        assert self.balance is not None
        stream = self.balance(self.sources[name], self.labels[name], choice, settings)
        return iter(stream.whole())


def _passes(
    source: Any, found: Mixture, i: int, epoch: int
) -> Iterator[tuple[int, int, Any]]:
    """Source i's copies in `epoch` as (position, pass, element): pass j yields
    the samples with more than j copies, by the plan's rule for its class."""
    rule = found.plan.class_rule.at(epoch)
    c = found.code[i]
    size, base, extra = found.sizes[i], int(rule.base[c]), int(rule.extras[c])
    for j in range(base + (extra > 0)):
        examples = enumerate(source)
        read = 0
        while chunk := list(itertools.islice(examples, BLOCK)):
            read += len(chunk)
            if j < base:
                yield from ((p, j, e) for p, e in chunk)
                continue
            positions = np.fromiter((p for p, _ in chunk), np.int64, len(chunk))
            more = rule.copies(np.full(positions.size, c), positions) > j
            kept = zip(chunk, more.tolist(), strict=True)
            yield from ((p, j, e) for (p, e), keep in kept if keep)
        if read != size:
            _short(found.names[i], read, size)


def _marked(
    copies: Iterator[tuple[int, int, Any]], offset: int, marking: Marking, epoch: int
) -> Iterator[Any]:
    """The elements of `copies`, with the marks `marking` asks for; a sample's
    key is its place in the concatenation of the sources (as in `mix_plan`)."""
    if not marking.wanted:
        yield from (element for _, _, element in copies)
        return
    while chunk := list(itertools.islice(copies, BLOCK)):
        positions, numbers, elements = zip(*chunk, strict=True)
        keys = offset + np.asarray(positions, np.int64)
        yield from marking.pairs(elements, keys, np.asarray(numbers), epoch)


def _short(name: str, read: int, size: int) -> None:
    raise ValueError(
        f"`sources[{name!r}]` yielded {read} samples in this pass, not the {size} it"
        " had when the mixture was planned. A mixture reads every source whole in"
        " each reader: a source that splits itself among DataLoader workers or"
        " ranks (a Hugging Face IterableDataset with shards, a WebDataset with"
        " nodesplitter) gives each reader only part of it; give the unsplit"
        " source, or one whose order does not change."
    )


def _shuffle(
    items: Iterator[Any], buffer: int, rng: np.random.Generator
) -> Iterator[Any]:
    """A seeded shuffle buffer: each new item takes a random slot's place."""
    if buffer <= 1:
        yield from items
        return
    pool: list[Any] = []
    for item in items:
        if len(pool) < buffer:
            pool.append(item)
            continue
        slot = int(rng.integers(buffer))
        yield pool[slot]
        pool[slot] = item
    order = rng.permutation(len(pool))
    for slot in order.tolist():
        yield pool[slot]
