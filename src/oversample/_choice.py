"""How the caller asked to plan (`balance`'s and `duplicate`'s planning
arguments), turned into a `Plan` the same way by every executor."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from oversample._validation import check_choice, describe
from oversample.plan import Plan
from oversample.planning import plan as make_plan
from oversample.rounding import ROUNDINGS

_DEFAULTS = (
    ("strategy", "not majority"),
    ("rounding", "exact"),
    ("max_factor", None),
    ("counts", None),
    ("seed", None),
)


@dataclass(frozen=True)
class Choice:
    """The planning arguments of one call; the rounding is checked at once
    (a call that needs no plan still refuses a bad one), the rest when a plan
    is made."""

    strategy: object = "not majority"
    seed: int | None = None
    rounding: str = "exact"
    max_factor: float | None = None
    counts: Any = None
    plan: Any = None

    def __post_init__(self) -> None:
        check_choice(self.rounding, "rounding", ROUNDINGS)

    def given_plan(self, with_counts: bool = False) -> Plan | None:
        """The ready `plan`, checked to be a Plan given alone (or with its
        `counts`, for shards), or None."""
        if self.plan is None:
            return None
        if not isinstance(self.plan, Plan):
            raise TypeError(
                f"`plan` must be an ovs.Plan; got plan={describe(self.plan)}."
            )
        given = [
            name
            for name, default in _DEFAULTS
            if not _is_default(getattr(self, name), default)
            and not (with_counts and name == "counts")
        ]
        if given:
            raise ValueError(
                f"`plan` already fixes {', '.join(given)}; pass either a plan or"
                " those arguments."
            )
        return self.plan

    def from_counts(self, counts: Mapping[Any, int]) -> Plan:
        return make_plan(counts=counts, **self._options())

    def from_labels(self, labels: object) -> Plan:
        return make_plan(labels, **self._options())

    def _options(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "seed": self.seed,
            "rounding": self.rounding,
            "max_factor": self.max_factor,
        }


def _is_default(value: object, default: object) -> bool:
    return value is default or (isinstance(value, str) and value == default)
