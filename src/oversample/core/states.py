"""Saved states (a Sampler's, a Python stream's, a mixture's): the one check
of a state against the configuration it is restored into: its kind and
version, the version of the copy rule it was saved under, and each setting
that must agree, every difference named."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from oversample.core import rule as _rule
from oversample.core.schedules import check_fresh
from oversample.core.settings import Epochs
from oversample.core.validation import describe

# NOTE: states saved before copy seeds existed had none.
_DEFAULTS = {"copy_seeds": False}


def check(
    what: str,
    state: object,
    mine: Mapping[str, Any],
    names: tuple[str, ...],
    plan: Any = None,
) -> None:
    """Refuses `state` unless it is a state of `what` of `mine`'s version,
    saved under this copy rule, that agrees with `mine` in `names` and, when
    `plan` is given, whose plan decided every epoch up to the one it was saved
    in as `plan` does (its "history"; later epochs may differ).

    Args:
        what: the kind of object, for the message ("Sampler", ...).
        state: the state to restore.
        mine: the state of the object it is restored into.
        names: the entries that must agree.
        plan: the plan of the object it is restored into.
    """
    if not isinstance(state, dict) or "version" not in state:
        raise ValueError(
            f"`state` is not a {what} state of version {mine['version']}; got"
            f" {describe(state)}."
        )
    saved = {**_DEFAULTS, **state}
    rule = saved.get("rule", 1)
    if rule != _rule.VERSION and all(name in saved for name in names):
        raise ValueError(
            f"`state` was saved under version {rule} of oversample's copy rule;"
            f" this oversample decides copies by version {_rule.VERSION}"
            f" ({_rule.CHANGED}), so the rest of that epoch would not be the one"
            " the state began. Start the epoch again, and save states with this"
            " version."
        )
    if saved["version"] != mine["version"]:
        raise ValueError(
            f"`state` is not a {what} state of version {mine['version']}; got"
            f" {describe(state)}."
        )
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
    if plan is not None:
        _check_history(what, saved, plan)


def _check_history(what: str, saved: Mapping[str, Any], plan: Any) -> None:
    """The saved plan decided the epochs up to the saved one as `plan` does."""
    epoch = saved.get("epoch")
    if epoch is None:
        return  # NOTE: saved at the end of a run: no epoch is under way
    if "history" not in saved and saved.get("plan") == plan.fingerprint:
        return  # NOTE: saved before states kept a history: the same whole plan
    history = saved.get("history")
    first = plan.first_difference(history, int(epoch))
    if first == -1 and _before_ranges(history, plan.history(int(epoch))):
        raise ValueError(
            f"`state` was saved from a {what} of another plan, or of this"
            " mixture plan as an earlier oversample held it (a source per"
            " sample; a mixture plan now holds each source as a range, so such"
            " a state cannot be checked against it). Restore it into the plan"
            " it was saved from, or start the epoch again."
        )
    if first == -1:
        raise ValueError(
            f"`state` was saved from a {what} of another plan (its samples, seed,"
            " rounding or copy rule differ); restore it into the same plan."
        )
    if first is not None:
        raise ValueError(
            f"`state` was saved in epoch {epoch} under targets that differ from"
            f" this plan's from epoch {first} on; a resume may change the targets"
            f" (a schedule's phases, a mixture's rates) only after epoch {epoch}."
        )


def plan_identity(plan: Any, epochs: Epochs) -> str:
    """What a pipeline's saved state must have been saved under: the plan's
    history up to the epoch when the pipeline runs that one epoch (its targets
    may change after it), else the whole plan (a pipeline of several epochs
    computes ahead: its buffers may hold elements of the next epoch). A plan
    whose targets change by epoch has no identity in the fresh-epoch mode:
    refused there, before any data flows."""
    check_fresh(plan, epochs)
    epoch = epochs.fixed
    if epoch is None:
        return str(plan.fingerprint)
    return json.dumps(plan.history(epoch), sort_keys=True)


def _before_ranges(saved: object, mine: Mapping[str, Any]) -> bool:
    """A history saved before mixture plans held their sources as ranges,
    checked against a plan that does."""
    return isinstance(saved, Mapping) and "members" not in saved and "members" in mine
