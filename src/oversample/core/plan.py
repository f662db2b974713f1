"""`Plan`: every duplication decision, as a frozen NumPy value (`ovs.plan`
in `planning` makes one), its rule view for the executors and its JSON
document."""

from __future__ import annotations

import hashlib
import html
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from oversample.core import packing as _packing
from oversample.core import rule as _rule
from oversample.core import seeding as _seeding
from oversample.core.rule import ClassRule, Members, WeightRule, WholeRule
from oversample.core.validation import check_bool, check_epoch, check_int

FORMAT = "oversample.plan"
VERSION = 2  # 2: a checksum over the content
MAX_TOTAL = 2**63 - 1  # copies in one epoch: positions are int64
WHAT = "an oversample plan"


@dataclass(frozen=True, eq=False)
class Plan(_packing.Saved):
    """How many copies each source sample gets in each epoch.

    Make one with `ovs.plan(...)`; every executor (tf.data, Python streams,
    `Sampler`, Ray) carries it out through its `rule` and none re-decides. A
    plan made from labels knows each sample; one made from class counts only
    knows the classes (enough for streaming). `ovs.duplicate` with whole
    copies makes a plan of kind "whole", whose copies are fixed by its
    arguments.

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

    _document = WHAT
    classes: tuple[int | str, ...]
    seed: int
    rounding: str
    strategy: str
    max_factor: float | None
    num_samples: int | None
    _counts: np.ndarray = field(repr=False)
    _targets: np.ndarray = field(repr=False)
    _codes: np.ndarray | None = field(default=None, repr=False)
    _weights: np.ndarray | None = field(default=None, repr=False)  # 32.32 fixed
    _class_factors: np.ndarray | None = field(default=None, repr=False)
    _schedule: np.ndarray | None = field(default=None, repr=False)  # (rows, C)
    _starts: np.ndarray | None = field(default=None, repr=False)  # a row's epoch
    _whole: WholeRule | None = field(default=None, repr=False)
    # NOTE: classes that are contiguous ranges of the samples (a mixture's
    # sources) are known by each one's first sample: nothing per sample.
    _ranges: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        arrays = (
            self._counts,
            self._targets,
            self._codes,
            self._ranges,
            self._weights,
            self._schedule,
            self._starts,
        )
        for array in (*arrays, self._class_factors):
            if array is not None:
                array.flags.writeable = False
        if self._counts.size and int(self._counts.max()) > _rule.MAX_CLASS_SIZE:
            column = int(np.argmax(self._counts))
            raise ValueError(
                f"class {self.classes[column]!r} holds {int(self._counts[column])}"
                f" samples; at most {_rule.MAX_CLASS_SIZE} per class are supported."
            )
        rows = [self._targets] if self._schedule is None else list(self._schedule)
        for row in rows:
            total = sum(row.tolist())  # Python ints: an int64 sum could wrap
            if total > MAX_TOTAL:
                raise ValueError(
                    f"the targets add up to {total} copies in an epoch; at most"
                    f" 2**63 - 1 = {MAX_TOTAL} are supported (positions are int64)."
                )

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

    def targets_at(self, epoch: int) -> dict[int | str, int]:
        """Copies per class in `epoch` (the same in every epoch unless the
        strategy is epoch-dependent)."""
        values = self._targets_of(epoch).tolist()
        return dict(zip(self.classes, values, strict=True))

    def _targets_of(self, epoch: int) -> np.ndarray:
        epoch = check_epoch(epoch)
        if self._schedule is None:
            return self._targets
        starts = (
            np.arange(len(self._schedule)) if self._starts is None else self._starts
        )
        row = int(np.searchsorted(starts, epoch, side="right")) - 1
        return self._schedule[row]

    def total_at(self, epoch: int) -> int:
        """Elements in `epoch` (the expectation under stochastic rounding)."""
        epoch = check_epoch(epoch)
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
        """ "classes" (per-class targets), "weights" (per-sample factors) or
        "whole" (whole copies fixed by `ovs.duplicate`'s arguments)."""
        if self._whole is not None:
            return "whole"
        return "classes" if self._weights is None else "weights"

    @property
    def knows_samples(self) -> bool:
        """False for a plan made from class counts only, or whose copies are
        decided from each element as it streams."""
        if self._whole is not None:
            return self._whole.selection in ("all", "indices") and (
                self.num_samples is not None
            )
        return any(
            array is not None for array in (self._codes, self._ranges, self._weights)
        )

    @property
    def total(self) -> int:
        """Elements per epoch (the expectation under stochastic rounding)."""
        if self._whole is not None:
            return self._whole_total()
        if self._weights is not None:
            rule = self.rule
            assert isinstance(rule, _rule.WeightRule)
            return rule.base_total + rule.extra_total
        return int(self._targets.sum())

    def _whole_total(self) -> int:
        whole = self._whole
        assert whole is not None
        if self.num_samples is None or whole.selection in ("where", "classes"):
            raise ValueError(
                "the copies of this plan are decided from each element as it"
                " streams (or the source's size is unknown), so its total is known"
                " only once the stream has been read."
            )
        if whole.selection == "all":
            return self.num_samples * whole.factor
        assert whole.indices is not None
        return self.num_samples + (whole.factor - 1) * int(whole.indices.size)

    def __len__(self) -> int:
        return self.total

    # The rule: what every executor reads.

    @cached_property
    def rule(self) -> ClassRule | WeightRule | WholeRule:
        """The copy rule every executor carries out: a `ClassRule` (per-class
        targets; `rule.at(epoch)` gives one epoch's arrays and
        `copies(codes, occurrences)`), a `WeightRule` (per-sample factors) or
        a `WholeRule` (whole copies fixed by `duplicate`)."""
        if self._whole is not None:
            return self._whole
        if self._weights is not None:
            return _rule.WeightRule.build(
                self.seed, self.rounding, self._weights, self._class_factors
            )
        rows = self._targets[None] if self._schedule is None else self._schedule
        return _rule.ClassRule.build(
            self.seed, self.rounding, self._counts, rows, self._starts
        )

    @property
    def class_rule(self) -> ClassRule:
        """The rule of a class plan (kind "classes"); refused for the others."""
        rule = self.rule
        if not isinstance(rule, _rule.ClassRule):
            raise ValueError(
                f"this plan's copies come from {self.kind}, not per-class targets."
            )
        return rule

    @cached_property
    def members(self) -> Members:
        """Which sample is occurrence k of class c (a plan made from labels, or
        a mixture's, whose classes are ranges of the samples)."""
        if self._ranges is not None:
            return _rule.Members.ranges(self._ranges, self._counts)
        if self._codes is None:
            raise ValueError(
                "this plan was made from class counts and knows no samples; make it"
                " with ovs.plan(labels, ...) to ask for per-sample copies."
            )
        return _rule.Members.of(self._codes, self._counts)

    @property
    def unknown_identity(self) -> str | None:
        """Why no saved state can be checked against this plan (a predicate
        whose decisions cannot be fingerprinted), or None."""
        return None if self._whole is None else self._whole.unknown

    # Per-sample decisions.

    def copies(self, epoch: int = 0) -> np.ndarray:
        """Copies of every source sample in `epoch`, as int64 of shape (N,).

        Examples:
            >>> import oversample as ovs
            >>> ovs.plan([5, 5, 5, 9], seed=0).copies(epoch=0).tolist()
            [1, 1, 1, 3]
        """
        epoch = check_epoch(epoch)
        rule = self.rule
        if isinstance(rule, _rule.WeightRule):
            return rule.copies(epoch)
        if isinstance(rule, _rule.WholeRule):
            if not self.knows_samples:
                raise ValueError(
                    "the copies of this plan are decided from each element as it"
                    " streams; it knows no samples."
                )
            assert self.num_samples is not None
            return rule.copies_at(np.arange(self.num_samples, dtype=np.int64))
        members = self.members
        if self.rounding == "exact":
            return rule.all_copies(members, epoch)
        keys = np.arange(members.codes.size, dtype=np.uint64)
        return rule.copies(members.codes, members.occurrences, epoch, keys)

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

    # The document and the fingerprint.

    def _described(self, with_format: bool = True) -> dict[str, Any]:
        """Everything but the per-sample arrays; the file format's marker and
        version are left out of the fingerprint, so a new format keeps it."""
        out: dict[str, Any] = (
            {"format": FORMAT, "version": VERSION} if with_format else {}
        )
        out.update(
            seed=self.seed,
            rounding=self.rounding,
            strategy=self.strategy,
            max_factor=self.max_factor,
            num_samples=self.num_samples,
            classes=list(self.classes),
            counts=self._counts.tolist(),
            targets=self._targets.tolist(),
            class_factors=(
                None if self._class_factors is None else self._class_factors.tolist()
            ),
        )
        if self._schedule is not None:
            out["schedule"] = self._schedule.tolist()
        if self._starts is not None:  # absent for a row per epoch
            out["starts"] = self._starts.tolist()
        if self._whole is not None:
            out["whole"] = self._whole.describe()
        if self._ranges is not None:
            out["ranges"] = self._ranges.tolist()
        return out

    def to_json(self) -> str:
        """The whole plan as JSON text with a checksum; per-sample data is zlib
        + base64 packed."""
        whole = self._whole
        if whole is not None and whole.selection == "where":
            raise ValueError(
                "a plan decided by a predicate (`where=`) cannot be written as JSON:"
                " the predicate is code. Save the arguments that build the stream."
            )
        document = self._described()
        document["codes"] = _packing.pack(self._codes)
        document["fixed"] = _packing.pack(self._weights)
        if whole is not None and whole.indices is not None:
            document["indices"] = _packing.pack(whole.indices)
        return _packing.seal(document)

    @classmethod
    def from_json(cls, text: str) -> Plan:
        """Reads a plan written by `to_json`; a truncated, corrupted,
        hand-edited or other-version document is refused."""
        return cls._from_text(text, "`text`")

    @classmethod
    def _from_text(cls, text: str, source: str) -> Plan:
        document = _packing.load_document(text, FORMAT, VERSION, WHAT, source)
        return _packing.build(cls._of_document, document, WHAT, source)

    @classmethod
    def _of_document(cls, document: dict[str, Any]) -> Plan:
        factors, schedule = document["class_factors"], document.get("schedule")
        starts = document.get("starts")
        whole, ranges = document.get("whole"), document.get("ranges")
        size = document["num_samples"]
        return cls(
            classes=tuple(document["classes"]),
            seed=int(document["seed"]),
            rounding=document["rounding"],
            strategy=document["strategy"],
            max_factor=document["max_factor"],
            num_samples=None if size is None else int(size),
            _counts=np.asarray(document["counts"], dtype=np.int64),
            _targets=np.asarray(document["targets"], dtype=np.int64),
            _codes=_packing.unpack(document["codes"]),
            _weights=_packing.unpack(document["fixed"]),
            _class_factors=None if factors is None else np.asarray(factors, np.float64),
            _schedule=None if schedule is None else np.asarray(schedule, np.int64),
            _starts=None if starts is None else np.asarray(starts, np.int64),
            _whole=None if whole is None else _whole_of(whole, document),
            _ranges=None if ranges is None else np.asarray(ranges, np.int64),
        )

    @cached_property
    def fingerprint(self) -> str:
        """A stable hash of everything that decides copies, the rule's version
        included (hex, 32 characters)."""
        digest = hashlib.blake2b(digest_size=16)
        header = {**self._described(with_format=False), "rule": _rule.VERSION}
        digest.update(json.dumps(header, sort_keys=True).encode())
        for array in (self._codes, self._weights):
            digest.update(b"\x00" if array is None else array.tobytes())
        return digest.hexdigest()

    @cached_property
    def base_fingerprint(self) -> str:
        """A hash of everything that decides copies but the targets of each
        epoch (which a schedule sets, and may change on resume)."""
        digest = hashlib.blake2b(digest_size=16)
        header = {**self._described(with_format=False), "rule": _rule.VERSION}
        for name in ("strategy", "max_factor", "targets", "schedule", "starts"):
            header.pop(name, None)
        digest.update(json.dumps(header, sort_keys=True).encode())
        for array in (self._codes, self._weights):
            digest.update(b"\x00" if array is None else array.tobytes())
        return digest.hexdigest()

    @cached_property
    def phases(self) -> list[list[Any]]:
        """[first epoch, hash of its targets] of each run of epochs with the
        same targets, from epoch 0: what a saved state's history is made of."""
        rows = self._targets[None] if self._schedule is None else self._schedule
        starts = range(len(rows)) if self._starts is None else self._starts.tolist()
        out: list[list[Any]] = []
        for start, row in zip(starts, rows, strict=True):
            digest = hashlib.blake2b(row.tobytes(), digest_size=8).hexdigest()
            if not out or out[-1][1] != digest:
                out.append([int(start), digest])
        return out

    def history(self, epoch: int) -> dict[str, Any]:
        """What decides the epochs 0 to `epoch` (JSON-able): a saved state of
        `epoch` restores into a plan of the same history, whose targets may
        change after it (weights changed on resume, `ovs.Schedule`)."""
        epoch = check_epoch(epoch)
        phases = [phase for phase in self.phases if phase[0] <= epoch]
        out: dict[str, Any] = {"base": self.base_fingerprint, "phases": phases}
        if self._ranges is not None:
            out["members"] = "ranges"  # NOTE: absent from states saved before
        return out

    def first_difference(self, history: object, epoch: int) -> int | None:
        """The first epoch, up to `epoch`, whose copies this plan decides
        otherwise than the plan of `history` (a `history(epoch)` of another
        plan); None when they agree; -1 when they differ beyond their targets
        (samples, seed, rounding, the rule)."""
        mine = self.history(epoch)
        if not isinstance(history, dict) or history.get("base") != mine["base"]:
            return -1
        theirs = {int(s): d for s, d in history.get("phases", [])}
        ours = {s: d for s, d in mine["phases"]}
        now: dict[str, Any] = {"theirs": None, "ours": None}
        for start in sorted(theirs.keys() | ours.keys()):
            now["theirs"] = theirs.get(start, now["theirs"])
            now["ours"] = ours.get(start, now["ours"])
            if now["theirs"] != now["ours"]:
                return start
        return None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Plan):
            return NotImplemented
        return self.fingerprint == other.fingerprint

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def __repr__(self) -> str:
        if self._whole is not None:
            described = ", ".join(
                f"{k}={v!r}" for k, v in self._whole.describe().items()
            )
            return f"Plan(whole copies: {described}, seed={self.seed})"
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
        if self._whole is not None:
            return repr(self)
        return report.summary(self, max_rows=max_rows)

    def _repr_html_(self) -> str:
        """Jupyter's view: counts before and after per class, and the plot."""
        from oversample import report

        if self._whole is not None:
            return f"<pre>{html.escape(repr(self))}</pre>"
        return report.plan_html(self)

    def plot(self, path: str) -> str:
        """Draws counts before and after per class to `path` (PNG); needs matplotlib."""
        from oversample import report

        if self._whole is not None:
            raise ValueError("a plan of whole copies has no classes to plot.")
        return report.plot(self, path)


def _whole_of(described: dict[str, Any], document: dict[str, Any]) -> WholeRule:
    table = described.get("table")
    return _rule.WholeRule(
        selection=described["selection"],
        factor=int(described["factor"]),
        indices=_packing.unpack(document.get("indices")),
        table=None if table is None else {k: int(v) for k, v in table},
    )
