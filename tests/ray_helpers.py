"""A local Ray cluster for the tests, and Parquet shards they write: each row
holds its sample id (its place in the files' order), so that what Ray yields
is compared with the plan sample by sample."""

from __future__ import annotations

import json
import logging
import os
import time

import numpy as np

TESTS = os.path.dirname(os.path.abspath(__file__))
# Ray's workers import what the tests hand them (a read function) from here.
RUNTIME_ENV = {"env_vars": {"PYTHONPATH": TESTS}}


def start_ray(**options):
    """Ray on this machine only: 2 CPUs, a small object store, no dashboard;
    results in a fixed order (`preserve_order`) so that orders compare."""
    import ray

    if not ray.is_initialized():
        # NOTE: "local" starts a new cluster even where an earlier one in this
        # process left its address in RAY_ADDRESS.
        ray.init(
            address="local",
            num_cpus=options.pop("num_cpus", 2),
            object_store_memory=options.pop("object_store_memory", 200 << 20),
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,
            runtime_env=RUNTIME_ENV,
            **options,
        )
    quiet_data()
    return ray


def quiet_data(preserve_order: bool = True) -> None:
    import ray.data

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    context.execution_options.preserve_order = preserve_order


def write_parquet(folder, labels, bounds) -> list[str]:
    """The labels cut at `bounds` into Parquet files with an "id" column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cuts = [*bounds, len(labels)]
    os.makedirs(str(folder), exist_ok=True)
    files = []
    for i in range(len(cuts) - 1):
        path = os.path.join(str(folder), f"part-{i:03d}.parquet")
        ids = np.arange(cuts[i], cuts[i + 1], dtype=np.int64)
        pq.write_table(pa.table({"id": ids, "label": np.asarray(labels)[ids]}), path)
        files.append(path)
    return files


def ids_of(dataset) -> list[int]:
    return [int(row["id"]) for row in dataset.iter_rows()]


class LoggedRead:
    """Reads a Parquet file and notes (file, pid, node) in `folder` at each
    read; the read of `slow` sleeps on its first attempt so that a fault lands
    inside it."""

    def __init__(self, folder, slow=None, seconds=20.0):
        self.folder, self.slow, self.seconds = str(folder), slow, seconds

    def __call__(self, name):
        import ray

        node = ray.get_runtime_context().get_node_id()
        stamp = f"{os.path.basename(name)}-{os.getpid()}-{time.monotonic_ns()}"
        with open(os.path.join(self.folder, stamp), "w") as note:
            json.dump({"file": name, "pid": os.getpid(), "node": node}, note)
        import pyarrow.parquet as pq

        table = pq.read_table(name)
        first = not os.path.exists(os.path.join(self.folder, "slowed"))
        if name == self.slow and first:
            with open(os.path.join(self.folder, "slowed"), "w") as note:
                json.dump({"pid": os.getpid(), "node": node}, note)
            time.sleep(self.seconds)
        return table

    def reads(self):
        notes = [f for f in os.listdir(self.folder) if f.endswith(tuple("0123456789"))]
        return [json.load(open(os.path.join(self.folder, f))) for f in notes]
