"""One block of a Python stream laid out: every streamed copy and every held
copy the block owns, in the block's seeded order."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from oversample.core import seeding as _seeding
from oversample.py.fields import labels_of


def lay_out(
    config: Any,
    keying: Any,
    unit: Any,
    state: dict[str, Any],
    examples: list[Any],
    epoch: int,
) -> list[Any]:
    """One block's output: every streamed copy and every held copy it owns, in
    a seeded order."""
    decider, count = config.decider, len(examples)
    index = None
    places = None
    if decider.by_class:
        assert config.label is not None
        labels = labels_of(config.label, examples, config.strings)
        index = decider.index(labels)
    if hasattr(keying, "places"):
        places = keying.places(examples)
        block = keying.block(unit, state, count, index, places)
    else:
        block = keying.block(unit, state, count, index)
    if decider.by_class:
        copies = decider.copies(index, block.occurrence, block.keys, epoch)
    else:
        copies = decider.copies(examples, block.keys, epoch)
    mine = block.mine
    if mine is not None:
        copies = np.where(mine, copies, 0)
    rows = np.repeat(np.arange(count), copies)
    held: np.ndarray | list[Any] = []
    if config.held is not None:
        owners = block.keys if mine is None else block.keys[mine]
        held = config.held.owned(owners, epoch)
    if config.marking.wanted:
        first = np.repeat(np.cumsum(copies) - copies, copies)
        numbers = np.arange(rows.size) - first
        streamed = [examples[r] for r in rows.tolist()]
        out = config.marking.pairs(streamed, block.keys[rows], numbers, epoch)
        out += list(held)
        if config.block and len(out) > 1:
            order = _order_of(config, block.keys, epoch, len(out))
            laid = np.fromiter(out, dtype=object, count=len(out))
            return laid[order].tolist()
        return out
    # NOTE: one gather of object references builds the whole block: the
    # streamed copies' rows and the held copies, in the block's seeded order.
    pool = np.fromiter(
        itertools.chain(examples, held), dtype=object, count=count + len(held)
    )
    rows = np.concatenate([rows, np.arange(count, pool.size)])
    if config.block and rows.size > 1:
        rows = rows[_order_of(config, block.keys, epoch, rows.size)]
    return pool[rows].tolist()


def _order_of(config: Any, keys: np.ndarray, epoch: int, size: int) -> np.ndarray:
    """The seeded order of a block, from its first key."""
    words = _seeding.raw_words(config.seed, 2, "py-block", epoch)
    rng = np.random.Generator(np.random.Philox(key=int(words[0]) ^ int(keys[0])))
    return rng.permutation(size)
