"""Per-shard label counts as an Apache Beam pipeline (the `beam` extra).

The same count as `ovs.count_labels(ovs.Shards(...))`, for datasets too big to
count in one process: the DirectRunner here, and unchanged on Dataflow, Flink
or Spark by passing their pipeline options. Records are `tf.train.Example`
TFRecords (what TFDS writes); the label is a feature name or a callable
record bytes -> label.

Example (see examples/beam_count.py):

    from oversample import beam as ovs_beam
    counts = ovs_beam.count_shards(files, "label", output="gs://bucket/counts")
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from typing import Any

from oversample.core.shard_counts import ShardCounts, checked_files
from oversample.core.validation import describe

Labeller = Callable[[bytes], int | str]


def example_label(feature: str) -> Labeller:
    """Reads one int64 or bytes feature of a serialized `tf.train.Example`."""

    def label_of(record: bytes) -> int | str:
        from tensorflow.core.example import example_pb2

        example = example_pb2.Example.FromString(record)
        found = example.features.feature.get(feature)
        if found is None:
            raise ValueError(
                f"a record has no feature {feature!r}; its features are"
                f" {sorted(example.features.feature)}."
            )
        values = found.int64_list.value or found.bytes_list.value
        if len(values) != 1:
            raise ValueError(
                f"feature {feature!r} must hold one int or bytes value per record;"
                f" a record holds {list(values)[:5]!r}."
            )
        value = values[0]
        return value.decode("utf-8") if isinstance(value, bytes) else int(value)

    return label_of


class _Placed:
    """Maps a file name Beam reports back to its place in the file list."""

    def __init__(self, files: Sequence[str]) -> None:
        self.places = {os.path.normpath(f): place for place, f in enumerate(files)}

    def __call__(self, name: str) -> int:
        place = self.places.get(os.path.normpath(name))
        if place is None:
            raise ValueError(f"Beam read {name!r}, which is not in `files`.")
        return place


def count_shards(
    files: Sequence[str],
    label: str | Labeller = "label",
    *,
    output: str,
    options: Any = None,
) -> ShardCounts:
    """Counts each class in each TFRecord file with Apache Beam.

    Args:
        files: the shard files, in the order the pipeline will list them.
        label: a `tf.train.Example` feature name, or a callable record -> label.
        output: a path prefix (local, gs://, ...) where the pipeline writes its
            counts as JSON lines; read back when the pipeline ends.
        options: `apache_beam.options.pipeline_options.PipelineOptions` (runner,
            workers); by default the DirectRunner.

    Returns:
        `ovs.ShardCounts`, equal to what `ovs.count_labels(shards)` gives.
    """
    import apache_beam as beam
    from apache_beam.io import tfrecordio
    from apache_beam.options.pipeline_options import PipelineOptions

    names = checked_files(files)
    if isinstance(label, str):
        label_of = example_label(label)
    elif callable(label):
        label_of = label
    else:
        raise TypeError(
            "`label` must be a feature name or a callable record -> label; got"
            f" label={describe(label)}."
        )
    if not isinstance(output, str) or not output:
        raise TypeError(f"`output` must be a path prefix; got output={output!r}.")
    from oversample.tf import tf

    if tf().io.gfile.glob(output + "*.jsonl"):
        raise ValueError(
            f"`output`={output!r} already holds counts from another run; give a"
            " new prefix (old files would be read back with the new ones)."
        )
    placed = _Placed(names)
    with beam.Pipeline(options=options or PipelineOptions()) as pipeline:
        _ = (
            pipeline
            | "Files" >> beam.Create(list(names))
            | "Read" >> tfrecordio.ReadAllFromTFRecord(with_filename=True)
            | "Label" >> beam.Map(lambda pair: (placed(pair[0]), label_of(pair[1])))
            | "Count" >> beam.combiners.Count.PerElement()
            | "Json" >> beam.Map(lambda item: json.dumps([*item[0], item[1]]))
            | "Write" >> beam.io.WriteToText(output, file_name_suffix=".jsonl")
        )
    return _read_counts(names, output)


def _read_counts(names: tuple[str, ...], output: str) -> ShardCounts:
    from oversample.tf import tf

    gfile = tf().io.gfile
    pairs: dict[tuple[int, int | str], int] = {}
    for path in sorted(gfile.glob(output + "*.jsonl")):
        with gfile.GFile(path) as lines:
            for line in lines:
                place, value, count = json.loads(line)
                pairs[(int(place), value)] = pairs.get((int(place), value), 0) + count
    if not pairs:
        raise ValueError(f"the Beam pipeline wrote no counts under {output!r}.")
    from oversample.tf.shards import file_sizes

    return ShardCounts.from_pairs(names, pairs, file_sizes(names))
