"""Sharded sources on real engines, and the state they need.

1. count: the per-shard counting pass in one process (tf.data), through the
   tf.data service with 1 and 2 workers, and as an Apache Beam pipeline on the
   DirectRunner with 2 worker processes.
2. stream: a balanced epoch through the tf.data service with 1 and 2 workers
   against the same pipeline without the service.
3. scale: 10,000 shards x 1,000 classes (synthetic counts, no data): shard
   counts, plan, per-shard outputs and the pipeline; and peak RSS while
   streaming from 10^5 to 10^7 source samples.

Every method runs in its own process (medians of --repeats). The service's
dispatcher and workers run inside that process on localhost, so on this
2-core machine its workers share the cores with the consumer.

Run: python benchmarks/bench_shards.py [--repeats 3]
Writes benchmarks/results/shards.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import median_seconds, out_folder, run_in_child, write_results

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CLASSES = 100
FOLDER = Path(tempfile.gettempdir()) / "oversample-bench-shards"
COUNT_METHODS = ["tf.data, one process", "service, 1 worker", "service, 2 workers"]
COUNT_METHODS += ["Beam DirectRunner, 2 processes"]
STREAM_METHODS = ["no service", "service, 1 worker", "service, 2 workers"]


def _files(records: int, files: int) -> list[str]:
    """TFRecord files of long-tailed labels and a 256-byte payload each."""
    import numpy as np
    import tensorflow as tf

    folder = FOLDER / f"{records}-{files}"
    names = [str(folder / f"part-{i:05d}.tfrecord") for i in range(files)]
    if all(os.path.exists(n) for n in names):
        return names
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    labels = np.minimum(rng.zipf(1.5, records) - 1, CLASSES - 1)
    payload = bytes(256)
    for name, chunk in zip(names, np.array_split(labels, files), strict=True):
        with tf.io.TFRecordWriter(name) as writer:
            for label in chunk.tolist():
                feature = {
                    "label": tf.train.Feature(
                        int64_list=tf.train.Int64List(value=[label])
                    ),
                    "payload": tf.train.Feature(
                        bytes_list=tf.train.BytesList(value=[payload])
                    ),
                }
                example = tf.train.Example(features=tf.train.Features(feature=feature))
                writer.write(example.SerializeToString())
    return names


def _shards(records: int, files: int) -> Any:
    import tensorflow as tf

    import oversample as ovs

    spec = {
        "label": tf.io.FixedLenFeature([], tf.int64),
        "payload": tf.io.FixedLenFeature([], tf.string),
    }

    def read(name: Any) -> Any:
        records = tf.data.TFRecordDataset(name)
        return records.map(lambda r: tf.io.parse_single_example(r, spec))

    return ovs.Shards(_files(records, files), read)


class _Service:
    """A dispatcher and `workers` workers in this process, on localhost."""

    def __init__(self, workers: int) -> None:
        import tensorflow as tf

        service = tf.data.experimental.service
        self.service = service
        self.dispatcher = service.DispatchServer(service.DispatcherConfig(port=0))
        address = self.dispatcher.target.split("://")[1]
        self.workers = [
            service.WorkerServer(service.WorkerConfig(dispatcher_address=address))
            for _ in range(workers)
        ]

    def distribute(self, ds: Any) -> Any:
        mode = "distributed_epoch"
        return ds.apply(self.service.distribute(mode, service=self.dispatcher.target))

    def stop(self) -> None:
        for worker in self.workers:
            worker._stop()
        self.dispatcher._stop()


def count(method: str, repeats: int, records: int, files: int) -> dict[str, Any]:
    import oversample as ovs
    from oversample import beam as ovs_beam
    from oversample.tf import shards as tf_shards
    from oversample.tf import source as tf_source

    shards = _shards(records, files)
    reference = ovs.count_labels(shards)
    label = tf_source.resolve_label(tf_shards.element_spec(shards), "label")
    workers = {"service, 1 worker": 1, "service, 2 workers": 2}.get(method)
    server = _Service(workers) if workers else None
    results: list[Any] = []

    def run() -> None:
        if method == COUNT_METHODS[0]:
            results.append(ovs.count_labels(shards))
        elif server is not None:
            batches = server.distribute(tf_shards.count_dataset(shards, label))
            results.append(tf_shards.shard_counts(shards, batches))
        else:
            from apache_beam.options.pipeline_options import PipelineOptions

            options = PipelineOptions(
                runner="DirectRunner",
                direct_num_workers=2,
                direct_running_mode="multi_processing",
            )
            output = tempfile.mkdtemp() + "/counts"
            results.append(
                ovs_beam.count_shards(shards.files, output=output, options=options)
            )

    seconds, _ = median_seconds(run, repeats)
    if server is not None:
        server.stop()
    assert all(r == reference for r in results), method
    return {"seconds": seconds, "records": records, "equal_to_tf_data": True}


def stream(method: str, repeats: int, records: int, files: int) -> dict[str, Any]:
    import numpy as np

    import oversample as ovs

    shards = _shards(records, files)
    counts = ovs.count_labels(shards)
    plan = ovs.plan(counts=counts.counts, strategy="sqrt", seed=0)
    balanced = ovs.balance(shards, counts=counts, plan=plan, epoch=0)
    batches = balanced.map(lambda e: e["label"]).batch(256)
    workers = {"service, 1 worker": 1, "service, 2 workers": 2}.get(method)
    server = _Service(workers) if workers else None
    totals: list[np.ndarray] = []

    def run() -> None:
        source = batches if server is None else server.distribute(batches)
        got = np.zeros(CLASSES, np.int64)
        for labels in source:
            got += np.bincount(labels.numpy(), minlength=CLASSES)
        totals.append(got)

    seconds, _ = median_seconds(run, repeats)
    if server is not None:
        server.stop()
    expected = [plan.targets.get(c, 0) for c in range(CLASSES)]
    assert all(t.tolist() == expected for t in totals), method
    return {"seconds": seconds, "elements": plan.total, "exact": True}


def _synthetic(shards: int, classes: int, samples: int) -> Any:
    """Per-shard counts of a long tail spread over shards at random (no data)."""
    import numpy as np

    import oversample as ovs

    rng = np.random.default_rng(0)
    profile = 100.0 ** (-np.arange(classes) / max(classes - 1, 1))
    sizes = np.maximum(1, np.round(profile / profile.sum() * samples)).astype(np.int64)
    table = np.stack([rng.multinomial(n, np.full(shards, 1 / shards)) for n in sizes])
    files = tuple(f"virtual-{i:06d}" for i in range(shards))
    return ovs.ShardCounts(files, tuple(range(classes)), table.T.copy())


def plan_at_scale(shards: int, classes: int, samples: int) -> dict[str, Any]:
    """Counts -> JSON -> plan -> per-shard outputs, timed step by step."""
    import oversample as ovs

    start = time.perf_counter()
    counts = _synthetic(shards, classes, samples)
    made = time.perf_counter()
    text = counts.to_json()
    again = ovs.ShardCounts.from_json(text)
    saved = time.perf_counter()
    plan = ovs.plan(counts=again.counts, seed=0)
    planned = time.perf_counter()
    outputs = again.outputs(plan, epoch=3)
    done = time.perf_counter()
    assert int(outputs.sum()) == plan.total
    return {
        "samples": counts.num_samples,
        "json_mib": len(text) / 2**20,
        "seconds": done - start,
        "seconds_json": saved - made,
        "seconds_plan": planned - saved,
        "seconds_outputs": done - planned,
    }


def stream_at_scale(
    shards: int, classes: int, samples: int, take: int
) -> dict[str, Any]:
    """Builds the balanced pipeline over synthetic files (empty on disk; `read`
    makes each shard's labels from the counts) and streams `take` elements."""
    import numpy as np
    import tensorflow as tf

    import oversample as ovs

    counts = _synthetic(shards, classes, samples)
    folder = Path(tempfile.mkdtemp())
    files = [str(folder / f"shard-{i:06d}") for i in range(shards)]
    for name in files:
        Path(name).touch()
    ends = tf.constant(np.cumsum(counts.table, axis=1))

    def read(name: Any) -> Any:
        place = tf.strings.to_number(
            tf.strings.regex_replace(name, ".*-", ""), tf.int64
        )
        row = tf.gather(ends, place)
        labels = tf.data.Dataset.range(row[-1])
        return labels.map(
            lambda p: {"label": tf.searchsorted(row, p[None], side="right")[0]}
        )

    counts = ovs.ShardCounts(tuple(files), counts.classes, counts.table)
    start = time.perf_counter()
    balanced = ovs.balance(ovs.Shards(files, read), counts=counts, seed=0, epoch=0)
    built = time.perf_counter()
    seen = 0
    for batch in balanced.batch(1024).take(max(1, take // 1024)):
        seen += int(batch["label"].shape[0])
    done = time.perf_counter()
    return {
        "samples": counts.num_samples,
        "seconds_build": built - start,
        "streamed": seen,
        "elements_per_second": seen / (done - built),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--scale-shards", type=int, default=10_000)
    parser.add_argument("--scale-classes", type=int, default=1_000)
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e5, 1e6, 1e7])
    parser.add_argument("--take", type=int, default=100_000)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    data = {"records": args.records, "files": args.files}
    rows: list[dict[str, Any]] = []
    for section, methods, function in (
        ("count", COUNT_METHODS, "count"),
        ("stream", STREAM_METHODS, "stream"),
    ):
        base = None
        for method in methods:
            result = run_in_child(
                "bench_shards", function, method=method, repeats=args.repeats, **data
            )
            base = base or result["seconds"]
            note = "equal to the tf.data count"
            if section == "stream":
                note = f"{result['elements']:,} elements, class totals exact"
            rows.append(
                {
                    "section": section,
                    "method": method,
                    "seconds": result["seconds"],
                    "ratio_to_first": result["seconds"] / base,
                    "peak_rss_mib": result["peak_rss_mib"],
                    "note": note,
                }
            )
            print(rows[-1])
    wide = {"shards": args.scale_shards, "classes": args.scale_classes}
    largest = int(max(args.sizes))
    big = run_in_child("bench_shards", "plan_at_scale", **wide, samples=largest)
    rows.append(
        {
            "section": "scale",
            "method": f"{args.scale_shards:,} shards x {args.scale_classes:,}"
            " classes: counts, JSON, plan, per-shard outputs",
            "seconds": big["seconds"],
            "ratio_to_first": None,
            "peak_rss_mib": big["peak_rss_mib"],
            "note": f"{big['samples']:,} samples; JSON {big['json_mib']:.1f} MiB;"
            f" outputs {big['seconds_outputs']:.2f} s",
        }
    )
    print(rows[-1])
    runs = [(args.scale_shards, args.scale_classes, largest)]
    runs += [(args.scale_shards // 10, args.scale_classes, int(n)) for n in args.sizes]
    for shards, classes, samples in runs:
        result = run_in_child(
            "bench_shards",
            "stream_at_scale",
            shards=shards,
            classes=classes,
            samples=samples,
            take=args.take,
        )
        rows.append(
            {
                "section": "scale",
                "method": f"stream {shards:,} shards x {classes:,} classes,"
                f" {samples:,} samples",
                "seconds": result["seconds_build"],
                "ratio_to_first": None,
                "peak_rss_mib": result["peak_rss_mib"],
                "note": f"build; then {result['streamed']:,} elements at"
                f" {result['elements_per_second']:,.0f}/s",
            }
        )
        print(rows[-1])
    meta = {**data, "classes": CLASSES, "repeats": args.repeats}
    write_results("shards", rows, meta, out_folder(args.out))


if __name__ == "__main__":
    main()
