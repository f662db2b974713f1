"""What a caller chose for a stream, checked before any data flows: epochs, the
shuffle buffer, the marks (provenance, copy seeds) and the spread's budget.
Shared by every stream executor (tf.data, Python iterables)."""

from __future__ import annotations

from dataclasses import dataclass

from oversample.core.marks import Marking
from oversample.core.spread import check_spread
from oversample.core.validation import check_bool, check_int, describe

INT64_MAX = 2**63 - 1
FRESH = "fresh"  # `epochs` not given: every iteration is a fresh epoch
BUFFER_FLOOR = 1024
BUFFER_CAP = 16384
BUFFER_BYTES = 24 << 20


@dataclass(frozen=True)
class Epochs:
    """How epochs map onto iterations of the returned dataset."""

    fixed: int | None  # epoch=k: that epoch on every iteration
    stream: int | None  # epochs=E back to back (None with streaming: endless)
    streaming: bool  # True when `epochs=` was given

    @property
    def fresh(self) -> bool:
        return self.fixed is None and not self.streaming


def check_epochs(epoch: object, epochs: object) -> Epochs:
    """`epoch=k`, `epochs=E` (or None, endless) or `epochs="fresh"` (the
    default: each iteration a fresh epoch), checked."""
    if isinstance(epochs, str) and epochs != FRESH:
        raise ValueError(
            f"`epochs` must be an int >= 1, None (endless) or {FRESH!r} (each"
            f" iteration a fresh epoch); got epochs={describe(epochs)}."
        )
    if epoch is not None and epochs != FRESH:
        raise ValueError(
            "give `epoch` (one chosen epoch) or `epochs` (several back to back), not"
            f" both; got epoch={describe(epoch)}, epochs={describe(epochs)}."
        )
    if epoch is not None:
        value = check_int(epoch, "epoch")
        if value > INT64_MAX:
            raise ValueError(f"`epoch` must be < 2**63; got epoch={value}.")
        return Epochs(fixed=value, stream=None, streaming=False)
    if epochs == FRESH:
        return Epochs(fixed=None, stream=None, streaming=False)
    if epochs is None:
        return Epochs(fixed=None, stream=None, streaming=True)
    count = check_int(epochs, "epochs", minimum=1)
    return Epochs(fixed=None, stream=count, streaming=True)


def agreed_epochs(epochs: Epochs, who: str, then: str = "one per fit") -> list[int]:
    """The epochs that every worker (or task) decides alike: `epoch=k` or
    `epochs=E`; the fresh default and endless epochs are refused."""
    if epochs.fixed is not None:
        return [epochs.fixed]
    if epochs.stream is not None:
        return list(range(epochs.stream))
    raise ValueError(
        f"{who} must decide the same epoch: give `epoch=k` (the same k"
        f" everywhere, {then}) or `epochs=E`; without them each would draw its"
        " own random epoch, and endless epochs are not supported."
    )


def check_buffer(shuffle_buffer: object) -> int | None:
    """The buffer size; None means automatic and 0 turns shuffling off."""
    if shuffle_buffer is None:
        return 0
    if isinstance(shuffle_buffer, str):
        if shuffle_buffer != "auto":
            raise ValueError(
                "`shuffle_buffer` must be 'auto', an int >= 0 or None; got"
                f" shuffle_buffer={shuffle_buffer!r}."
            )
        return None
    return check_int(shuffle_buffer, "shuffle_buffer")


def auto_buffer(total: int | None, element_bytes: int | None) -> int:
    """The default shuffle buffer: total / 16 within [1024, 16384] elements, and
    at most 24 MiB when the element size is known."""
    size = BUFFER_CAP if total is None or total <= 0 else min(total // 16, BUFFER_CAP)
    size = max(size, BUFFER_FLOOR)
    if element_bytes:
        size = min(size, max(BUFFER_FLOOR, BUFFER_BYTES // element_bytes))
    return int(min(size, total)) if total else size


@dataclass(frozen=True)
class Settings:
    """What the caller chose, checked; shared by balance and duplicate."""

    epochs: Epochs
    shuffle_buffer: int | None
    provenance: bool
    spread: int = 0  # bytes the spread may hold; 0: off
    copy_seeds: bool = False
    stratified: int | None = None  # batches by class of this size (`balance`)

    def marking(self, seed: int) -> Marking:
        """What each output element carries besides itself, for a plan seed."""
        return Marking(self.provenance, self.copy_seeds, seed)


def checked(
    epoch: object,
    epochs: object,
    shuffle_buffer: object,
    provenance: object,
    spread: object = None,
    copy_seeds: object = False,
) -> Settings:
    """The stream settings, each argument checked."""
    return Settings(
        epochs=check_epochs(epoch, epochs),
        shuffle_buffer=check_buffer(shuffle_buffer),
        provenance=check_bool(provenance, "provenance"),
        spread=check_spread(spread),
        copy_seeds=check_bool(copy_seeds, "copy_seeds"),
    )
