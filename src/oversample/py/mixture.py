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

import sys
from collections.abc import Iterable
from typing import Any

from oversample.core.mixture import plan_mixture
from oversample.core.settings import Settings
from oversample.core.validation import describe
from oversample.py.mixed import Mixed

__all__ = ["Mixed", "mix"]


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
    from oversample.py import iterables as _iterables

    def count(name: str, label: Any) -> Any:
        return _iterables.count_labels(sources[name], label, False)

    found = plan_mixture(sizes(sources), rates, samples, seed, balance, count)
    labels = {
        name: value[0] if isinstance(value, tuple) else value
        for name, value in (balance or {}).items()
    }
    stream_class: type[Mixed] = Mixed
    if "torch" in sys.modules:
        from oversample.py.torch_stream import TorchMixed

        stream_class = TorchMixed
    return stream_class(
        dict(sources), found, settings, stratified, labels, _iterables.balance
    )
