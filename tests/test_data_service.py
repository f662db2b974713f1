"""The tf.data service, for real: a dispatcher and two workers in this process
on localhost. Over every consumer, each source sample appears exactly its
planned number of copies."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest

import oversample as ovs
from shard_helpers import service_data, tf

service = tf.data.experimental.service
ROUNDS = 20_000  # bound on next() calls when two consumers alternate


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def cluster():
    """A dispatcher and two workers with fixed localhost addresses (FILE
    sharding needs them); stopped at the end."""
    ports = [_free_port() for _ in range(2)]
    addresses = [f"localhost:{port}" for port in ports]
    dispatcher = service.DispatchServer(
        service.DispatcherConfig(port=0, worker_addresses=addresses)
    )
    target = dispatcher.target.split("://")[1]
    workers = [
        service.WorkerServer(
            service.WorkerConfig(
                dispatcher_address=target, worker_address=address, port=port
            )
        )
        for address, port in zip(addresses, ports, strict=True)
    ]
    yield dispatcher
    for worker in workers:
        worker._stop()
    dispatcher._stop()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return service_data(tmp_path_factory.mktemp("service"))


def _through(cluster, ds, mode, job=None):
    """`ds` read through the service with processing mode `mode`."""
    distribute = service.distribute(
        processing_mode=mode, service=cluster.target, job_name=job
    )
    return ds.apply(distribute)


def _keys(consumers) -> list[int]:
    """Alternates between consumers until all are exhausted (bounded in rounds
    and time); every consumer must receive something."""
    iterators = [iter(c) for c in consumers]
    received: list[list[int]] = [[] for _ in consumers]
    live = set(range(len(consumers)))
    started = time.monotonic()
    for _ in range(ROUNDS):
        if not live or time.monotonic() - started > 120:
            break
        for index in sorted(live):
            try:
                _, marks = next(iterators[index])
            except StopIteration:
                live.discard(index)
                continue
            received[index].append(int(marks["key"]))
    assert not live, "the consumers did not finish within the bound"
    assert all(received), [len(r) for r in received]
    return [key for part in received for key in part]


@pytest.mark.parametrize(
    ("policy", "consumers"),
    [("DYNAMIC", 1), ("DYNAMIC", 2), ("FILE", 1)],
    ids=["dynamic", "dynamic-two-consumers", "file"],
)
@pytest.mark.parametrize("rounding", ["exact", "stochastic"])
def test_union_over_consumers_is_the_plans_epoch(
    cluster, data, policy, consumers, rounding
):
    labels, shards, counts = data
    out = ovs.balance(
        shards, counts=counts, seed=5, epoch=3, rounding=rounding, provenance=True
    )
    mode = getattr(service.ShardingPolicy, policy)
    job = f"{policy}-{consumers}-{rounding}"
    keys = _keys([_through(cluster, out, mode, job) for _ in range(consumers)])
    plan = ovs.plan(labels, seed=5, rounding=rounding)
    assert np.bincount(keys, minlength=labels.size).tolist() == (
        plan.copies(3).tolist()
    )
    totals = np.bincount(labels[keys], minlength=6).tolist()
    assert totals == np.bincount(labels, weights=plan.copies(3), minlength=6).tolist()


def test_epochs_through_the_service_are_each_exact(cluster, data):
    labels, shards, counts = data
    out = ovs.balance(shards, counts=counts, seed=1, epochs=2, provenance=True)
    keys = _keys([_through(cluster, out, "distributed_epoch")])
    plan = ovs.plan(labels, seed=1)
    expected = plan.copies(0) + plan.copies(1)
    assert np.bincount(keys, minlength=labels.size).tolist() == expected.tolist()


def test_parallel_epochs_give_each_worker_a_whole_exact_epoch(cluster, data):
    labels, shards, counts = data
    out = ovs.balance(shards, counts=counts, seed=7, epoch=0, provenance=True)
    keys = _keys([_through(cluster, out, "parallel_epochs")])
    copies = ovs.plan(labels, seed=7).copies(0)
    assert np.bincount(keys, minlength=labels.size).tolist() == (2 * copies).tolist()
