"""A tf.data service worker killed in the middle of an epoch, for real: a
dispatcher and two workers on localhost, one stopped after the consumer has
read a quarter of the epoch and started again at its address. What the
consumer then receives is counted against the plan's epoch, and the recipe
(FILE sharding, `provenance=True`, repeats dropped with `ovs.Marks`) gives
exactly the plan's epoch."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest

import oversample as ovs
from shard_helpers import service_data, tf

pytestmark = pytest.mark.heavy  # the second tier (README, Testing)

service = tf.data.experimental.service
BEFORE_KILL = 600
DEADLINE_S = 60


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return int(probe.getsockname()[1])


class Cluster:
    """A dispatcher and two workers at fixed localhost addresses; a worker can
    be stopped and started again at its address."""

    def __init__(self, static: bool) -> None:
        self.ports = [_free_port() for _ in range(2)]
        addresses = [f"localhost:{port}" for port in self.ports]
        self.dispatcher = service.DispatchServer(
            service.DispatcherConfig(
                port=0,
                worker_addresses=addresses if static else None,
                worker_timeout_ms=1000,
            )
        )
        self.target = self.dispatcher.target
        self.workers = [self._worker(place) for place in range(2)]

    def _worker(self, place: int):
        port = self.ports[place]
        return service.WorkerServer(
            service.WorkerConfig(
                dispatcher_address=self.target.split("://")[1],
                worker_address=f"localhost:{port}",
                port=port,
                heartbeat_interval_ms=200,
            )
        )

    def restart(self, place: int) -> None:
        self.workers[place]._stop()
        time.sleep(1.5)  # longer than the dispatcher's worker timeout
        self.workers[place] = self._worker(place)

    def stop(self) -> None:
        for worker in self.workers:
            worker._stop()
        self.dispatcher._stop()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return service_data(tmp_path_factory.mktemp("faults"))


def _receive_with_a_restart(
    policy: str, data
) -> tuple[list[tuple[int, int, int]], object]:
    """(key, copy, label) of every element the consumer receives while worker 0
    is stopped and started again after BEFORE_KILL elements."""
    _, shards, counts = data
    cluster = Cluster(static=policy == "FILE")
    try:
        out = ovs.balance(shards, counts=counts, seed=5, epoch=0, provenance=True)
        distribute = service.distribute(
            processing_mode=getattr(service.ShardingPolicy, policy),
            service=cluster.target,
            job_name=f"faults-{policy}",
        )
        iterator = iter(out.apply(distribute))
        got = []
        started = time.monotonic()
        while time.monotonic() - started < DEADLINE_S:
            if len(got) == BEFORE_KILL:
                cluster.restart(0)
            try:
                element, marks = next(iterator)
            except StopIteration:
                break
            got.append((int(marks["key"]), int(marks["copy"]), int(element["label"])))
        else:
            pytest.fail(f"the consumer did not finish within {DEADLINE_S} s")
        return got, out.plan
    finally:
        cluster.stop()


def _measured(policy: str, data):
    """What the consumer received around a restart, and its count (printed:
    run with -s to see the figures)."""
    got, plan = _receive_with_a_restart(policy, data)
    counted = _counted(got, data[0])
    print(f"{policy} sharding, worker 0 restarted: {counted}")
    return got, plan, counted


def _checked(got, plan):
    """The received marks through `ovs.Marks`: it, the keys, the first arrivals."""
    marks = ovs.Marks(plan, epoch=0)
    keys, copies, classes = (np.array(column) for column in zip(*got, strict=True))
    return marks, keys, marks.keep(keys, copies, labels=classes)


def _counted(got, labels) -> dict[str, int]:
    copies = ovs.plan(labels, seed=5).copies(0)
    pairs = {(k, c) for k, c, _ in got}
    assert all(c < copies[k] for k, c in pairs), "a mark the epoch does not hold"
    return {
        "received": len(got),
        "expected": int(copies.sum()),
        "repeated": len(got) - len(pairs),
        "lost": int(copies.sum()) - len(pairs),
    }


@pytest.mark.timeout(180)
def test_file_sharding_repeats_and_the_marks_recipe_restores_the_exact_epoch(data):
    labels = data[0]
    got, plan, counted = _measured("FILE", data)
    assert counted["lost"] == 0, counted  # the restarted worker reads its files again
    marks, keys, kept = _checked(got, plan)
    assert marks.repeated == counted["repeated"]
    assert marks.complete
    expected = ovs.plan(labels, seed=5).copies(0)
    assert np.bincount(keys[kept], minlength=labels.size).tolist() == expected.tolist()


@pytest.mark.timeout(180)
def test_dynamic_sharding_loses_and_the_marks_count_what(data):
    got, plan, counted = _measured("DYNAMIC", data)
    marks, _, _ = _checked(got, plan)
    missing = sum(marks.missing().values())
    assert missing == counted["lost"] and marks.complete == (counted["lost"] == 0)
    assert all(value >= 0 for value in marks.missing().values())
