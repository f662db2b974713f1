"""`Plan`: every duplication decision, as a frozen NumPy value (`ovs.plan`
in `planning` makes one)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from oversample.core import packing as _packing
from oversample.core import plan_json as _plan_json
from oversample.core import rounding as _rounding
from oversample.core import seeding as _seeding
from oversample.core.validation import check_bool, check_int

_MAX_EPOCH = 2**63 - 1


@dataclass(frozen=True, eq=False)
class Plan(_packing.Saved):
    """How many copies each source sample gets in each epoch.

    Make one with `ovs.plan(...)`; every executor (tf.data, `Sampler`) carries
    it out and none re-decides. A plan made from labels knows each sample; one
    made from class counts only knows the classes (enough for streaming).

    Examples:
        >>> import oversample as ovs
        >>> p = ovs.plan([0, 0, 0, 0, 1, 2, 2], seed=7)
        >>> p.targets
        {0: 4, 1: 4, 2: 4}
        >>> len(p), int(p.copies(epoch=0).sum())
        (12, 12)
        >>> ovs.Plan.from_json(p.to_json()) == p
        True
    """

    _document = "an oversample plan"
    classes: tuple[int | str, ...]
    seed: int
    rounding: str
    strategy: str
    max_factor: float | None
    num_samples: int
    _counts: np.ndarray = field(repr=False)
    _targets: np.ndarray = field(repr=False)
    _codes: np.ndarray | None = field(default=None, repr=False)
    _fixed: np.ndarray | None = field(default=None, repr=False)
    _class_factors: np.ndarray | None = field(default=None, repr=False)
    _schedule: np.ndarray | None = field(default=None, repr=False)  # (epochs, C)

    def __post_init__(self) -> None:
        arrays = (self._counts, self._targets, self._codes, self._fixed, self._schedule)
        for array in arrays:
            if array is not None:
                array.flags.writeable = False

    # Per-class views.

    @property
    def counts(self) -> dict[int | str, int]:
        """Samples per class before duplication."""
        return dict(zip(self.classes, self._counts.tolist(), strict=True))

    @property
    def targets(self) -> dict[int | str, int]:
        """Copies per class per epoch after duplication (expected, for multi-label;
        epoch 0's for an epoch-dependent strategy, see `targets_at`)."""
        return dict(zip(self.classes, self._targets.tolist(), strict=True))

    @property
    def epoch_dependent(self) -> bool:
        """True when the targets change from epoch to epoch (`ovs.Progressive`)."""
        return self._schedule is not None

    def _row(self, epoch: int) -> int:
        """The schedule row of `epoch`: the last row holds for later epochs."""
        rows = 1 if self._schedule is None else len(self._schedule)
        return min(_check_epoch(epoch), rows - 1)

    def targets_at(self, epoch: int) -> dict[int | str, int]:
        """Copies per class in `epoch` (the same in every epoch unless the
        strategy is epoch-dependent)."""
        values = self._targets_of(epoch).tolist()
        return dict(zip(self.classes, values, strict=True))

    def _targets_of(self, epoch: int) -> np.ndarray:
        rows = self._targets[None] if self._schedule is None else self._schedule
        return rows[self._row(epoch)]

    def total_at(self, epoch: int) -> int:
        """Elements in `epoch` (the expectation under stochastic rounding)."""
        epoch = _check_epoch(epoch)
        return (
            self.total if self._schedule is None else int(self._targets_of(epoch).sum())
        )

    @property
    def factors(self) -> dict[int | str, float]:
        """targets / counts per class."""
        ratios = (self._targets / self._counts).tolist()
        return dict(zip(self.classes, ratios, strict=True))

    @property
    def kind(self) -> str:
        """ "classes" (per-class targets) or "weights" (per-sample factors)."""
        return "classes" if self._fixed is None else "weights"

    @property
    def knows_samples(self) -> bool:
        """False for a plan made from class counts only."""
        return self._codes is not None or self._fixed is not None

    @property
    def total(self) -> int:
        """Elements per epoch (the expectation under stochastic rounding)."""
        if self._fixed is not None:
            rule = self._weight_rule
            return rule.base_total + rule.extra_total
        return int(self._targets.sum())

    def __len__(self) -> int:
        return self.total

    # Per-sample decisions.

    @cached_property
    def _rules(self) -> dict[int, _rounding.ClassRule]:
        return {}

    def _rule_at(self, epoch: int) -> _rounding.ClassRule:
        """The class rule of `epoch`, one per row of targets, built once."""
        row = self._row(epoch)
        if row not in self._rules:
            targets = self._targets_of(epoch)
            self._rules[row] = _rounding.class_rule(self.seed, self._counts, targets)
        return self._rules[row]

    @property
    def _rule(self) -> _rounding.ClassRule:
        return self._rule_at(0)

    @cached_property
    def _weight_rule(self) -> _rounding.WeightRule:
        assert self._fixed is not None
        return _rounding.weight_rule(self.seed, self._fixed)

    @cached_property
    def _order(self) -> np.ndarray:
        """Sample indices grouped by class, source order within a class."""
        assert self._codes is not None
        order = np.argsort(self._codes, kind="stable")
        if order.size < 2**31:
            order = order.astype(np.int32)
        order.flags.writeable = False
        return order

    def copies(self, epoch: int = 0) -> np.ndarray:
        """Copies of every source sample in `epoch`, as int64 of shape (N,).

        Examples:
            >>> import oversample as ovs
            >>> ovs.plan([5, 5, 5, 9], seed=0).copies(epoch=0).tolist()
            [1, 1, 1, 3]
        """
        epoch = _check_epoch(epoch)
        if self._fixed is not None:
            if self.rounding == "exact":
                return _rounding.exact_weight_copies(
                    self._weight_rule, self._fixed, epoch
                )
            keys = np.arange(self.num_samples, dtype=np.uint64)
            return _rounding.stochastic_weight_copies(
                self.seed, self._fixed, keys, epoch
            )
        if self._codes is None:
            raise ValueError(
                "this plan was made from class counts and knows no samples; make it"
                " with ovs.plan(labels, ...) to ask for per-sample copies."
            )
        codes = self._codes
        if self.rounding == "exact":
            rule = self._rule_at(epoch)
            return _rounding.exact_class_copies(rule, codes, self._order, epoch)
        keys = np.arange(self.num_samples, dtype=np.uint64)
        return _rounding.stochastic_class_copies(
            self._rule_at(epoch), self.seed, codes, keys, epoch
        )

    def indices(self, epoch: int = 0, shuffle: bool = True) -> np.ndarray:
        """Source indices of `epoch`, each repeated by its copies, int64 (total,).

        Args:
            epoch: which epoch of the plan.
            shuffle: a seeded permutation (per seed and epoch) when True; source
                order, copies adjacent, when False.
        """
        shuffle = check_bool(shuffle, "shuffle")
        copies = self.copies(epoch)
        indices = np.repeat(np.arange(copies.size, dtype=np.int64), copies)
        if shuffle:
            _seeding.rng(self.seed, "indices", int(epoch)).shuffle(indices)
        return indices

    # Serialisation (oversample.core.plan_json).

    def to_json(self) -> str:
        """The whole plan as JSON text with a checksum; per-sample data is zlib
        + base64 packed."""
        return _plan_json.to_json(self)

    @classmethod
    def from_json(cls, text: str) -> Plan:
        """Reads a plan written by `to_json`; a truncated, corrupted,
        hand-edited or other-version document is refused."""
        return cls._from_text(text, "`text`")

    @classmethod
    def _from_text(cls, text: str, source: str) -> Plan:
        return _plan_json.from_json(cls, text, source)

    @cached_property
    def fingerprint(self) -> str:
        """A stable hash of everything that decides copies (hex, 32 characters)."""
        digest = hashlib.blake2b(digest_size=16)
        # NOTE: the file format's marker and version are not part of what
        # decides copies, so a new format keeps every plan's fingerprint.
        header = _plan_json.header(self, with_format=False)
        digest.update(json.dumps(header, sort_keys=True).encode())
        for array in (self._codes, self._fixed):
            digest.update(b"\x00" if array is None else array.tobytes())
        return digest.hexdigest()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Plan):
            return NotImplemented
        return self.fingerprint == other.fingerprint

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def __repr__(self) -> str:
        return (
            f"Plan(classes={len(self.classes)}, samples={self.num_samples},"
            f" total={self.total}, strategy={self.strategy!r},"
            f" rounding={self.rounding!r}, seed={self.seed})"
        )

    # Reports.

    def summary(self, max_rows: int = 40) -> str:
        """A table of counts, targets and factors per class."""
        from oversample import report

        max_rows = check_int(max_rows, "max_rows", minimum=2)
        return report.summary(self, max_rows=max_rows)

    def _repr_html_(self) -> str:
        """Jupyter's view: counts before and after per class, and the plot."""
        from oversample import report

        return report.plan_html(self)

    def plot(self, path: str) -> str:
        """Draws counts before and after per class to `path` (PNG); needs matplotlib."""
        from oversample import report

        return report.plot(self, path)


def _check_epoch(epoch: object) -> int:
    value = check_int(epoch, "epoch")
    if value > _MAX_EPOCH:
        raise ValueError(f"`epoch` must be < 2**63; got epoch={value}.")
    return value
