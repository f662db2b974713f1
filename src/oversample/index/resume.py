"""A sampler's restored position, kept through the `set_epoch` that trainers
call at the start of an epoch (the state itself is checked by
`oversample.core.states`)."""

from __future__ import annotations


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
