"""Restoring a sampler's saved state: refused from another configuration, and
kept through the `set_epoch` that trainers call at the start of an epoch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oversample.core.validation import describe

# NOTE: states saved before copy seeds existed had none.
_DEFAULTS = {"copy_seeds": False}


def check_same(
    what: str, state: object, mine: Mapping[str, Any], names: tuple[str, ...]
) -> None:
    """Refuses a state that is not a dict or differs from `mine` in `names`,
    naming every difference.

    Args:
        what: the kind of sampler, for the message.
        state: the state to restore.
        mine: the state of the sampler it is restored into.
        names: the entries that must agree.
    """
    if not isinstance(state, dict) or state.get("version") != mine.get("version"):
        raise ValueError(
            f"`state` is not a {what} state of version {mine.get('version')}; got"
            f" {describe(state)}."
        )
    saved = {**_DEFAULTS, **state}
    differ = [
        f"{name}: saved {saved.get(name)!r}, here {mine[name]!r}"
        for name in names
        if saved.get(name) != mine[name]
    ]
    if differ:
        raise ValueError(
            f"`state` was saved from a {what} with another configuration ("
            + "; ".join(differ)
            + "); restore it into the same plan, seed, split and settings."
        )


def keeps_position(epoch: int, restored: int, position: int, length: int) -> bool:
    """Whether `set_epoch(epoch)` keeps a position restored in epoch `restored`.

    A restored position stays when its epoch is set again; setting another
    epoch would discard the rest of that epoch, which is refused.
    """
    if position == 0 or (position == length and epoch != restored):
        return False
    if epoch != restored:
        raise ValueError(
            f"`epoch`={epoch} would discard the position {position:,} of epoch"
            f" {restored} restored by load_state_dict; set the restored epoch"
            f" (under Accelerate, `loader.set_epoch({restored})` before the loop)."
        )
    return True
