"""The Sampler with the loaders people use: NumPy, PyTorch, Grain over a TFDS
ArrayRecord data_source, and Hugging Face datasets. Each runs where its library
is installed (CI installs them all)."""

from __future__ import annotations

import importlib
from itertools import chain

import numpy as np
import pytest

import oversample as ovs


def _data():
    labels = np.random.default_rng(1).permutation(
        np.repeat(np.arange(4), [50, 20, 7, 3])
    )
    features = np.arange(labels.size, dtype=np.float32)[:, None] * 10
    return labels, features


def test_numpy_fancy_indexing():
    labels, features = _data()
    plan = ovs.plan(labels, seed=0)
    sampler = ovs.Sampler(plan)
    chosen = sampler.indices()
    x, y = features[chosen], labels[chosen]
    assert np.bincount(y).tolist() == [50, 50, 50, 50]
    assert np.array_equal(x[:, 0] / 10, chosen)
    assert chosen.tolist() == list(sampler)


def test_pytorch_dataloader_with_two_workers():
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader, TensorDataset

    labels, features = _data()
    plan = ovs.plan(labels, seed=0)
    data = TensorDataset(torch.from_numpy(features), torch.from_numpy(labels))
    sampler = ovs.Sampler(plan)
    loader = DataLoader(data, batch_size=16, sampler=sampler, num_workers=2)
    for epoch in range(2):
        sampler.set_epoch(epoch)
        seen = torch.cat([x[:, 0] for x, _ in loader]).numpy() / 10
        counted = np.bincount(seen.astype(np.int64), minlength=labels.size)
        assert counted.tolist() == plan.copies(epoch).tolist()


def test_pytorch_dataloader_with_a_batch_sampler():
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader, TensorDataset

    labels, features = _data()
    plan = ovs.plan(labels, seed=0)
    data = TensorDataset(torch.from_numpy(features), torch.from_numpy(labels))
    sampler = ovs.Sampler(plan, num_replicas=2, rank=1)
    batches = ovs.BatchSampler(sampler, 16)
    loader = DataLoader(data, batch_sampler=batches, num_workers=2)
    sampler.set_epoch(3)
    seen = [(x[:, 0] / 10).long().tolist() for x, _ in loader]
    assert [len(b) for b in seen] == [len(b) for b in batches]
    assert list(chain.from_iterable(seen)) == sampler.indices().tolist()


def test_pytorch_distributed_ranks_share_the_epoch():
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader, TensorDataset

    labels, features = _data()
    plan = ovs.plan(labels, seed=0)
    data = TensorDataset(torch.from_numpy(features), torch.from_numpy(labels))
    seen = []
    for rank in range(3):
        sampler = ovs.Sampler(plan, num_replicas=3, rank=rank)
        loader = DataLoader(data, batch_size=8, sampler=sampler)
        seen.append(torch.cat([x[:, 0] for x, _ in loader]).numpy() / 10)
    assert len({s.size for s in seen}) == 1
    counted = np.bincount(np.concatenate(seen).astype(np.int64), minlength=labels.size)
    assert counted.sum() == plan.total + ovs.Sampler(plan, num_replicas=3).num_padded
    assert counted.min() >= 1


@pytest.fixture(scope="module")
def digits_source(tmp_path_factory):
    tfds = pytest.importorskip("tensorflow_datasets")
    importlib.import_module("oversample.datasets")  # registers digits_lt

    data_dir = str(tmp_path_factory.mktemp("tfds"))
    builder = tfds.builder("digits_lt", data_dir=data_dir, file_format="array_record")
    builder.download_and_prepare()
    return tfds.data_source("digits_lt", split="train", data_dir=data_dir)


def test_grain_map_dataset_over_a_tfds_array_record_source(digits_source):
    grain = pytest.importorskip("grain")
    labels = np.array(
        [int(digits_source[i]["label"]) for i in range(len(digits_source))]
    )
    plan = ovs.plan(labels, seed=3)
    sampler = ovs.Sampler(plan)
    sampler.set_epoch(1)
    dataset = (
        grain.MapDataset.source(sampler)
        .map(lambda index: digits_source[index])
        .batch(32, drop_remainder=False)
    )
    got = np.concatenate([batch["label"] for batch in dataset.to_iter_dataset()])
    assert np.bincount(got, minlength=10).tolist() == [
        plan.targets[c] for c in range(10)
    ]


def test_grain_iterator_checkpoint_resumes(digits_source):
    grain = pytest.importorskip("grain")
    labels = np.array(
        [int(digits_source[i]["label"]) for i in range(len(digits_source))]
    )
    sampler = ovs.Sampler(ovs.plan(labels, seed=3))
    dataset = grain.MapDataset.source(sampler).map(
        lambda i: int(digits_source[i]["label"])
    )
    iterator = dataset.to_iter_dataset().__iter__()
    head = [next(iterator) for _ in range(100)]
    state = iterator.get_state()
    rest = list(iterator)
    again = dataset.to_iter_dataset().__iter__()
    again.set_state(state)
    assert list(again) == rest and len(head) + len(rest) == len(sampler)


def test_hugging_face_select():
    datasets = pytest.importorskip("datasets")
    labels, features = _data()
    table = datasets.Dataset.from_dict({"x": features[:, 0], "label": labels})
    plan = ovs.plan(labels, seed=0)
    balanced = table.select(ovs.Sampler(plan).indices())
    assert np.bincount(balanced["label"]).tolist() == [50, 50, 50, 50]
