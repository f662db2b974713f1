"""Under load: the Sampler and BatchSampler in a DataLoader with 4 persistent
workers over 20 epochs, the Python stream there with `set_epoch` (which must
reach persistent workers) and with `epochs=20`: exact in every epoch. Memory
over the epochs is measured in benchmarks/bench_endurance.py."""

from __future__ import annotations

import numpy as np
import pytest

import oversample as ovs

torch = pytest.importorskip("torch")
EPOCHS, WORKERS = 20, 4
# 4 workers on this 2-core machine is the point of the test, not a mistake.
pytestmark = [
    pytest.mark.filterwarnings("ignore:This DataLoader will create"),
    pytest.mark.heavy,  # the second tier (README, Testing)
]


def _labels() -> np.ndarray:
    rng = np.random.default_rng(5)
    return rng.permutation(np.repeat(np.arange(4), [300, 71, 23, 7]))


def _count(ids) -> list[int]:
    return np.bincount(np.asarray(ids), minlength=_labels().size).tolist()


def _copies(epoch: int) -> list[int]:
    return ovs.plan(_labels(), seed=11).copies(epoch).tolist()


def test_the_epochs_differ_so_a_stale_epoch_would_show():
    assert len({tuple(_copies(e)) for e in range(EPOCHS)}) > EPOCHS // 2


@pytest.mark.timeout(300)
@pytest.mark.parametrize("batched", [False, True])
def test_sampler_with_persistent_workers_is_exact_every_epoch(batched):
    dataset = torch.utils.data.TensorDataset(torch.arange(_labels().size))
    sampler = ovs.Sampler(ovs.plan(_labels(), seed=11))
    if batched:
        batches = ovs.BatchSampler(sampler, 32)
        loader = torch.utils.data.DataLoader(
            dataset, batch_sampler=batches, num_workers=WORKERS, persistent_workers=True
        )
    else:
        loader = torch.utils.data.DataLoader(
            dataset,
            sampler=sampler,
            batch_size=32,
            num_workers=WORKERS,
            persistent_workers=True,
        )
    for epoch in range(EPOCHS):
        sampler.set_epoch(epoch)
        ids = torch.cat([batch[0] for batch in loader]).numpy()
        assert _count(ids) == _copies(epoch), epoch


def _examples() -> list[dict[str, int]]:
    return [{"label": int(label), "id": i} for i, label in enumerate(_labels())]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_set_epoch_reaches_persistent_stream_workers(context):
    stream = ovs.balance(_examples(), seed=11)
    workers = WORKERS if context == "fork" else 2
    epochs = EPOCHS if context == "fork" else 3  # spawn starts slowly
    loader = torch.utils.data.DataLoader(
        stream,
        batch_size=32,
        num_workers=workers,
        persistent_workers=True,
        multiprocessing_context=context,
    )
    for epoch in range(epochs):
        stream.set_epoch(epoch)
        ids = torch.cat([batch["id"] for batch in loader]).numpy()
        assert _count(ids) == _copies(epoch), epoch


@pytest.mark.timeout(300)
def test_a_stream_of_twenty_epochs_in_four_workers_is_exact():
    stream = ovs.balance(_examples(), seed=11, epochs=EPOCHS)
    loader = torch.utils.data.DataLoader(stream, batch_size=64, num_workers=WORKERS)
    ids = torch.cat([batch["id"] for batch in loader]).numpy()
    assert _count(ids) == np.sum([_copies(e) for e in range(EPOCHS)], axis=0).tolist()


def test_a_split_stream_keeps_its_own_epoch():
    stream = ovs.balance(_examples(), seed=11)
    part = stream.split(2, 1)
    stream.set_epoch(4)
    assert part.epoch == 0 and stream.epoch == 4


def test_a_pickled_stream_keeps_its_epoch_but_not_the_link():
    import pickle

    stream = ovs.balance(_examples(), seed=11)
    stream.set_epoch(3)
    copy = pickle.loads(pickle.dumps(stream))
    stream.set_epoch(5)
    assert copy.epoch == 3
