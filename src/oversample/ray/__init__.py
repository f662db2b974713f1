"""The Ray Data executor: `ovs.Shards(files, read, engine="ray")` in, a lazy
`ray.data.Dataset` out. Loaded when such shards are given; Ray is imported
then, with an install hint when missing (the `ray` extra).

A sample's key is (shard, position in the shard), as for every sharded source:
a Ray task reads one file whole, and decides each sample's copies from the
plan's rule, the per-shard counts and the epoch alone. Tasks are pure
functions of (plan, counts, shard, epoch), so whichever worker or node runs a
task, and however often Ray runs it again after a fault, the epoch that
arrives is exactly the plan's. The counting pass is Ray tasks too (one per
shard), and gives an `ovs.ShardCounts` to save with the plan.

Why files and not any Ray Dataset: Ray's `read_*` may split a file over
several read tasks and regroup rows into blocks, so a row's position in its
file is not visible downstream; a file read whole by one task keys every row
stably at no cost.

The order of the epoch (`shuffle_buffer`): "auto", a global order by Ray's
`random_shuffle`, seeded per epoch; an int, the cheap order: each shard's
copies shuffled inside its task and the blocks in a seeded random order (give
`local_shuffle_buffer_size` when iterating to mix across shards); 0 or None,
each shard's copies in file order.

Marks are columns: with `provenance=True` each row gets "key" (its sample's
place in the files' order) and "copy" (its number among the sample's copies),
with `copy_seeds=True` "seed" (uint64, the copy's augmentation seed); the same
values as the Python and tf.data executors give for the same files.
"""

from __future__ import annotations

from typing import Any

from oversample.core import seeding as _seeding
from oversample.core.keying import Keying
from oversample.core.marks import Marking
from oversample.core.plan import Plan
from oversample.core.prepare import Choice, Counted, prepare
from oversample.core.settings import (
    FRESH,
    Epochs,
    Settings,
    agreed_epochs,
    check_epochs,
)
from oversample.core.shard_counts import ShardCounts, local_sizes
from oversample.ray import tasks as _tasks
from oversample.shards import Shards

UNHELD = "Ray orders the epoch with its own shuffle (shuffle_buffer='auto')"


def ray() -> Any:
    """Ray, imported on first use, with an install hint when missing."""
    try:
        import ray as module
        import ray.data
    except ImportError:
        raise ImportError(
            "ovs.Shards(..., engine='ray') needs Ray Data: pip install"
            " 'oversample[ray]'."
        ) from None
    return module


def count_labels(
    shards: Shards, label: object, progress: bool, *, keying: Keying
) -> ShardCounts:
    """Samples per class in each shard, counted by one Ray task per shard."""
    found = RayReader(shards, label).count(progress).shard_counts
    assert found is not None
    return found


def balance(
    shards: Shards,
    label: object,
    choice: Choice,
    settings: Settings,
    *,
    keying: Keying,
    progress: bool,
) -> Any:
    """The plan's epoch (or epochs) as a lazy Ray Dataset; see the module."""
    epochs = _epochs(settings.epochs)
    reader = RayReader(shards, label, settings.marking(0))
    prepared = prepare(reader, choice, settings, progress)
    plan, counts = prepared.plan, prepared.counts
    return epoch_dataset(shards, label, plan, counts, settings, epochs)


def epoch_dataset(
    shards: Shards,
    label: object,
    plan: Plan,
    counts: ShardCounts,
    settings: Settings,
    epochs: list[int],
) -> Any:
    """The lazy dataset of `epochs`, one Ray task per (epoch, shard), each epoch
    in its order; `.with_epoch(k)` on it gives epoch k, counted once."""
    data = ray().data
    buffer = settings.shuffle_buffer
    local = bool(buffer)  # an int: the cheap order
    marking = settings.marking(plan.seed)
    copy = _tasks.CopyShard(
        tuple(shards.files), shards.read, label, plan, counts, local, marking
    )
    parts = []
    for epoch in epochs:
        items = [{_tasks.EPOCH: epoch, _tasks.PLACE: p} for p in shards.places]
        part = data.from_items(items, override_num_blocks=len(items))
        part = part.map_batches(copy, batch_size=1, **_task_options(shards))
        seed = _seeding.derive(plan.seed, "ray-order", epoch) % 2**32
        if buffer is None:
            part = part.random_shuffle(seed=seed)
        elif local:
            part = part.randomize_block_order(seed=seed)
        parts.append(part)
    out = parts[0] if len(parts) == 1 else parts[0].union(*parts[1:])
    out.plan, out.shard_counts, out.epochs = plan, counts, tuple(epochs)

    def with_epoch(epoch: int) -> Any:
        """Epoch `epoch` of the same plan and counts (nothing is counted again)."""
        chosen = _epochs(check_epochs(epoch, FRESH))
        return epoch_dataset(shards, label, plan, counts, settings, chosen)

    out.with_epoch = with_epoch
    return out


def _epochs(epochs: Epochs) -> list[int]:
    return agreed_epochs(epochs, "on Ray every task", "`.with_epoch(k + 1)` next")


def _task_options(shards: Shards) -> dict[str, Any]:
    return (
        {}
        if shards.num_parallel_calls is None
        else {"concurrency": shards.num_parallel_calls}
    )


class RayReader:
    """Shards read by Ray tasks, for the one preparation: counting is one task
    per shard; nothing is held (Ray orders the epoch)."""

    sharded = True
    once = False

    def __init__(
        self, shards: Shards, label: object, marking: Marking | None = None
    ) -> None:
        self.shards, self.label = shards, label
        ray()
        if shards.selected is not None:
            raise ValueError(
                "give Ray the whole file list (not `shards.shard(...)`): Ray"
                " spreads the files over its workers itself."
            )
        if shards.stream is not None:
            raise TypeError(
                "a tagged stream is read by its own library; on Ray give"
                " ovs.Shards(files, read, engine='ray')."
            )
        _probe(shards, label, marking or Marking())

    def check(self, counts: Any, plan: Plan | None) -> None:
        if counts is not None:
            counts.check_files(list(self.shards.files), local_sizes(self.shards.files))
            if plan is not None:
                counts.check_plan(plan)

    def unheld(self, plan: Plan | None) -> str | None:
        return UNHELD

    def count(self, progress: bool) -> Counted:
        shards = self.shards
        data = ray().data
        items = [{_tasks.PLACE: p} for p in shards.places]
        counting = data.from_items(items, override_num_blocks=len(items))
        count = _tasks.CountShard(tuple(shards.files), shards.read, self.label)
        rows = counting.map_batches(count, batch_size=1, **_task_options(shards))
        pairs: dict[tuple[int, Any], int] = {}
        for row in rows.take_all():
            value = row["label"]
            value = value if isinstance(value, str) else int(value)
            pairs[(int(row[_tasks.PLACE]), value)] = int(row["count"])
        if not pairs:
            raise ValueError("the shards hold no sample; there is nothing to count.")
        found = ShardCounts.from_pairs(
            list(shards.files), pairs, local_sizes(shards.files)
        )
        return Counted(pairs, shard_counts=found)

    def collect(self, budget: int, plan: Plan | None, progress: bool) -> Any:
        raise AssertionError("the Ray executor holds nothing")


def _probe(shards: Shards, label: object, marking: Marking) -> None:
    """Reads the first file in a Ray task and checks the label there (and that
    the marks' columns are free), so that bad input is refused before the
    epoch's tasks start (no data reaches the driver)."""
    module = ray()
    if not module.is_initialized():
        module.init()
    check = module.remote(_check_first)
    probe = check.remote(shards.read, shards.files[0], label, marking)
    try:
        module.get(probe)
    except module.exceptions.RayTaskError as error:
        cause = error.cause if isinstance(error.cause, Exception) else error
        raise cause from None


def _check_first(read: Any, name: str, label: object, marking: Marking) -> None:
    shard = _tasks.read_shard(read, name, label)
    if not shard.size:
        raise ValueError(f"the first shard {name!r} holds no sample.")
    _tasks.check_free(shard, marking, name)
