"""One battery, every executor: for the same labels, strategy, seed and epoch,
the NumPy plan, the Sampler, the Python-stream executor (by position, over
shards it reads, over tagged shards) and the tf.data executor (by position, by
key and over shards) give every sample the same copies, deterministically, and
resume exactly."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import tempfile

import numpy as np
import pytest

import oversample as ovs
from oversample.index import order as _order

CASES = [
    ("not majority", "exact", False),
    ("sqrt", "exact", False),
    ({1: 30, 4: 9}, "exact", False),
    ("not majority", "stochastic", False),
    (ovs.Progressive(epochs=4), "exact", False),
    (ovs.Progressive(epochs=4, end="sqrt"), "stochastic", False),
    # Thinning: the head below its count (b = 0), the tail above (b >= 1).
    ("median", "exact", True),
    ({0: 11, 1: 30, 5: 4}, "exact", True),
    (9, "stochastic", True),
]
EPOCHS = [0, 2, 5]


def _labels(seed: int = 0) -> np.ndarray:
    sizes = [40, 25, 13, 7, 3, 1]
    return np.random.default_rng(seed).permutation(np.repeat(np.arange(6), sizes))


class NumpyPlan:
    name = "plan"
    resumable = False

    def order(self, labels, strategy, rounding, seed, epoch, thin=False):
        plan = ovs.plan(labels, strategy, seed=seed, rounding=rounding, thin=thin)
        return plan.indices(epoch).tolist()


class SamplerExecutor:
    name = "sampler"
    resumable = True

    def order(self, labels, strategy, rounding, seed, epoch, thin=False):
        plan = ovs.plan(labels, strategy, seed=seed, rounding=rounding, thin=thin)
        sampler = ovs.Sampler(plan)
        sampler.set_epoch(epoch)
        return list(sampler)

    def resume(self, labels, seed, consumed, tmp_path):
        sampler = ovs.Sampler(ovs.plan(labels, seed=seed))
        iterator = iter(sampler)
        head = [next(iterator) for _ in range(consumed)]
        state = sampler.state_dict()
        again = ovs.Sampler(ovs.plan(labels, seed=seed))
        again.load_state_dict(state)
        return head, list(iterator), list(again)


class SamplerNumpy(SamplerExecutor):
    """The Sampler with its NumPy reference loops instead of the compiled ones."""

    name = "sampler numpy"

    def order(self, *args, **kwargs):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(_order, "use_kernels", False)
            return super().order(*args, **kwargs)

    def resume(self, *args):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(_order, "use_kernels", False)
            return super().resume(*args)


class TfDataExecutor:
    """The default spread: these small data are held whole, so every element
    comes from memory in a global order."""

    name = "tf.data"
    resumable = True
    key: str | None = None
    spread: object = "auto"

    def _dataset(self, labels):
        import tensorflow as tf

        features = {"label": labels, "id": np.arange(labels.size, dtype=np.int64) * 3}
        return tf.data.Dataset.from_tensor_slices(features)

    def _balanced(self, labels, strategy, rounding, seed, **kwargs):
        return ovs.balance(
            self._dataset(labels),
            strategy=strategy,
            rounding=rounding,
            seed=seed,
            key=self.key,
            spread=self.spread,
            **kwargs,
        )

    def order(self, labels, strategy, rounding, seed, epoch, thin=False):
        out = self._balanced(labels, strategy, rounding, seed, epoch=epoch, thin=thin)
        return [int(e["id"]) // 3 for e in out]

    def resume(self, labels, seed, consumed, tmp_path):
        import tensorflow as tf

        out = self._balanced(labels, "not majority", "exact", seed)
        iterator = iter(out)
        head = [int(next(iterator)["id"]) // 3 for _ in range(consumed)]
        checkpoint = tf.train.Checkpoint(iterator=iterator)
        path = checkpoint.save(str(tmp_path / "ckpt"))
        rest = [int(e["id"]) // 3 for e in iterator]
        again = iter(self._balanced(labels, "not majority", "exact", seed))
        tf.train.Checkpoint(iterator=again).restore(path)
        return head, rest, [int(e["id"]) // 3 for e in again]


class TfDataPartlyHeld(TfDataExecutor):
    """The three smallest classes held (11 samples, 24 bytes each while
    collected), the others streamed through the shuffle buffer."""

    name = "tf.data partly held"
    spread = 11 * 24


class TfDataNoSpread(TfDataExecutor):
    name = "tf.data no spread"
    spread = None


class TfDataByKey(TfDataExecutor):
    name = "tf.data keyed"
    key = "id"


class TfDataByKeyPartlyHeld(TfDataPartlyHeld):
    name = "tf.data keyed partly held"
    key = "id"


class TfDataPerElement(TfDataExecutor):
    """A ragged feature sends the pipeline down its one-element-at-a-time path."""

    name = "tf.data per element"

    def _dataset(self, labels):
        import tensorflow as tf

        ragged = tf.ragged.constant([[1] * (i % 3) for i in range(labels.size)])
        return tf.data.Dataset.from_tensor_slices(
            {"label": labels, "id": np.arange(labels.size) * 3, "ragged": ragged}
        )


class TfDataShards:
    """The labels written over 5 uneven TFRecord shards, read 3 files at a
    time; copies keyed by (shard, position in the shard)."""

    name = "tf.data shards"
    resumable = True
    spread: object = "auto"

    def __init__(self) -> None:
        self.folder = tempfile.TemporaryDirectory()
        self.written: dict[bytes, list[str]] = {}

    def _balanced(self, labels, strategy, rounding, seed, epoch, thin=False):
        from shard_helpers import read, write_shards

        key = labels.tobytes()
        if key not in self.written:
            folder = os.path.join(self.folder.name, str(len(self.written)))
            os.makedirs(folder)
            self.written[key] = write_shards(folder, labels, num_shards=5)
        shards = ovs.Shards(self.written[key], read, cycle_length=3)
        counts = ovs.count_labels(shards)
        return ovs.balance(
            shards,
            strategy=strategy,
            counts=counts,
            rounding=rounding,
            seed=seed,
            epoch=epoch,
            spread=self.spread,
            thin=thin,
        )

    def order(self, labels, strategy, rounding, seed, epoch, thin=False):
        out = self._balanced(labels, strategy, rounding, seed, epoch, thin)
        return [int(e["id"]) for e in out]

    def resume(self, labels, seed, consumed, tmp_path):
        import tensorflow as tf

        iterator = iter(self._balanced(labels, "not majority", "exact", seed, 0))
        head = [int(next(iterator)["id"]) for _ in range(consumed)]
        path = tf.train.Checkpoint(iterator=iterator).save(str(tmp_path / "ckpt"))
        rest = [int(e["id"]) for e in iterator]
        again = iter(self._balanced(labels, "not majority", "exact", seed, 0))
        tf.train.Checkpoint(iterator=again).restore(path)
        return head, rest, [int(e["id"]) for e in again]


class TfDataShardsPartlyHeld(TfDataShards):
    """Two classes held (4 samples, 40 bytes each while collected: place,
    position, label and id), emitted by the blocks that own their slots."""

    name = "tf.data shards partly held"
    spread = 4 * 40


class PythonStream:
    """The Python-stream executor over a list of dicts, keyed by position."""

    name = "python stream"
    resumable = True
    spread: object = "auto"

    def _source(self, labels):
        return [{"label": int(y), "id": i} for i, y in enumerate(labels)]

    def _balanced(self, labels, strategy, rounding, seed, **kwargs):
        return ovs.balance(
            self._source(labels),
            strategy=strategy,
            rounding=rounding,
            seed=seed,
            spread=self.spread,
            **kwargs,
        )

    def order(self, labels, strategy, rounding, seed, epoch, thin=False):
        out = self._balanced(labels, strategy, rounding, seed, epoch=epoch, thin=thin)
        return [e["id"] for e in out]

    def resume(self, labels, seed, consumed, tmp_path):
        out = self._balanced(labels, "not majority", "exact", seed, epoch=0)
        iterator = iter(out)
        head = [next(iterator)["id"] for _ in range(consumed)]
        state = json.loads(json.dumps(iterator.state_dict()))
        rest = [e["id"] for e in iterator]
        again = iter(self._balanced(labels, "not majority", "exact", seed, epoch=0))
        again.load_state_dict(state)
        return head, rest, [e["id"] for e in again]


class PythonStreamPartlyHeld(PythonStream):
    """The three smallest classes held (11 dicts of about 200 bytes)."""

    name = "python stream partly held"
    spread = 11 * 200


class PythonStreamNoSpread(PythonStream):
    name = "python stream no spread"
    spread = None


class PythonShards(PythonStream):
    """The labels over 5 uneven shards read by a Python function."""

    name = "python shards"
    bounds = (0, 17, 40, 41, 70)

    def _source(self, labels):
        cuts = [*self.bounds, labels.size]
        files = [f"part-{i}" for i in range(len(cuts) - 1)]
        rows = super()._source(labels)

        def read(name):
            place = files.index(name)
            return rows[cuts[place] : cuts[place + 1]]

        return ovs.Shards(files, read)


class PythonShardsPartlyHeld(PythonShards):
    name = "python shards partly held"
    spread = 11 * 200


class PythonTagged(PythonShards):
    """A stream whose examples name their shard, as WebDataset's do."""

    name = "python tagged shards"

    def _source(self, labels):
        shards = super()._source(labels)
        stream = [dict(e, shard=f) for f in shards.files for e in shards.read(f)]
        return ovs.Shards.tagged(stream, shards.files, tag="shard")


class RayShards(PythonShards):
    """The Ray Data executor over the same uneven shards as Parquet files, one
    Ray task per file, in Ray's global order (`random_shuffle`)."""

    name = "ray shards"
    resumable = False

    def order(self, labels, strategy, rounding, seed, epoch, thin=False):
        import pyarrow.parquet as pq

        from ray_helpers import ids_of, start_ray, write_parquet

        start_ray()
        folder = tempfile.mkdtemp(prefix="oversample-ray-")
        files = write_parquet(folder, labels, self.bounds)
        out = ovs.balance(
            ovs.Shards(files, read=pq.read_table, engine="ray"),
            strategy=strategy,
            rounding=rounding,
            seed=seed,
            epoch=epoch,
            thin=thin,
        )
        return ids_of(out)


@pytest.fixture(scope="module", autouse=True)
def _shut_ray_down():
    yield
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()


def _executors():
    executors = [
        NumpyPlan(),
        SamplerExecutor(),
        SamplerNumpy(),
        PythonStream(),
        PythonStreamPartlyHeld(),
        PythonStreamNoSpread(),
        PythonShards(),
        PythonShardsPartlyHeld(),
        PythonTagged(),
    ]
    if importlib.util.find_spec("ray") is not None:
        executors.append(RayShards())
    if importlib.util.find_spec("tensorflow") is None:
        return executors
    tf_executors = [
        TfDataExecutor(),
        TfDataPartlyHeld(),
        TfDataNoSpread(),
        TfDataByKey(),
        TfDataByKeyPartlyHeld(),
        TfDataPerElement(),
    ]
    return [*executors, *tf_executors, TfDataShards(), TfDataShardsPartlyHeld()]


EXECUTORS = _executors()


@pytest.mark.parametrize("executor", EXECUTORS, ids=lambda e: e.name)
@pytest.mark.parametrize(("strategy", "rounding", "thin"), CASES)
@pytest.mark.parametrize("epoch", EPOCHS)
def test_executor_gives_every_sample_the_plans_copies(
    executor, strategy, rounding, thin, epoch
):
    labels = _labels()
    plan = ovs.plan(labels, strategy, seed=21, rounding=rounding, thin=thin)
    order = executor.order(labels, strategy, rounding, 21, epoch, thin=thin)
    counted = np.bincount(order, minlength=labels.size)
    assert counted.tolist() == plan.copies(epoch).tolist()


@pytest.mark.parametrize("executor", EXECUTORS, ids=lambda e: e.name)
def test_executor_is_deterministic_and_seed_sensitive(executor):
    labels = _labels()
    a = executor.order(labels, "not majority", "exact", 3, 1)
    assert executor.order(labels, "not majority", "exact", 3, 1) == a
    assert executor.order(labels, "not majority", "exact", 4, 1) != a


@pytest.mark.parametrize(
    "executor", [e for e in EXECUTORS if e.resumable], ids=lambda e: e.name
)
@pytest.mark.parametrize("consumed", [1, 100, 239])
def test_executor_resumes_exactly(executor, consumed, tmp_path):
    head, rest, resumed = executor.resume(_labels(), 8, consumed, tmp_path)
    assert resumed == rest
    assert len(head) + len(rest) == 240
