"""The commands over TFDS datasets: finding and preparing a builder, reading a
split's labels alone (tf.data, or Apache Beam per shard), `oversample
inspect` and `plan`, and `oversample mix`, the plan of a mixture of TFDS
splits at exact rates from the sizes the datasets declare (nothing is read)."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import math
import sys
from pathlib import Path
from typing import Any

from oversample import cli_output
from oversample.cli_output import UsageError


def find_builder(dataset: str, data_dir: str | None) -> Any:
    import tensorflow_datasets as tfds

    importlib.import_module("oversample.datasets")  # registers digits_lt

    if Path(dataset).is_dir():
        try:
            return tfds.builder_from_directory(dataset)
        except Exception as error:
            raise UsageError(
                f"{dataset!r} is not a prepared TFDS dataset directory ({error})."
            ) from None
    try:
        builder = tfds.builder(dataset, data_dir=data_dir)
    except Exception as error:
        first = str(error).strip().splitlines()[0]
        raise UsageError(f"unknown dataset {dataset!r}: {first}") from None
    if dataset == "digits_lt":
        # NOTE: TFDS reports preparation on stdout; keep stdout for results
        # (--json output must parse).
        with contextlib.redirect_stdout(sys.stderr):
            builder.download_and_prepare()
    elif not builder.is_prepared():
        raise UsageError(
            f"dataset {dataset!r} is not prepared in {builder.data_dir}; prepare it"
            " with `tfds build` or point --data-dir at it (no download is tried)."
        )
    return builder


HELP = "plan a mixture of TFDS splits at exact rates"
EXAMPLE = (
    "oversample mix digits_lt:train=2.5 digits_lt:test=0.3 --seed 0 --plot mix.png"
)


def _label_dataset(builder: Any, split: str, label: str) -> Any:
    """The split, decoding only the label feature."""
    import tensorflow_datasets as tfds

    parts = label.split("/")
    features = builder.info.features
    node = features
    for depth, part in enumerate(parts):
        keys = list(node.keys()) if hasattr(node, "keys") else []
        if part not in keys:
            where = "/".join(parts[:depth]) or "the dataset"
            raise UsageError(
                f"--label {label!r}: {part!r} is not a feature of {where}; the"
                f" features there are {', '.join(map(repr, keys)) or 'none'}."
            )
        node = node[part]
    selection: Any = True
    for part in reversed(parts):
        selection = {part: selection}
    if split not in builder.info.splits:
        raise UsageError(
            f"--split {split!r} is not a split of {builder.name}; the splits are"
            f" {', '.join(map(repr, builder.info.splits))}."
        )
    return builder.as_dataset(
        split=split,
        shuffle_files=False,
        decoders=tfds.decode.PartialDecoding(selection),
    )


def inspect(args: argparse.Namespace) -> int:
    cli_output.check_outputs(args.json, args.plot)
    cli_output.check_runner(args.runner)
    cli_output.start_tensorflow()
    import oversample as ovs
    from oversample import report

    console = report.console()
    builder = find_builder(args.dataset, args.data_dir)
    ds = _label_dataset(builder, args.split, args.label)
    if args.runner == "direct":
        counts = _beam_counts(builder, args.split, args.label).counts
    else:
        counts = ovs.count_labels(ds, label=args.label, progress=True)
    largest, smallest = max(counts.values()), min(counts.values())
    summary = {
        "dataset": builder.name,
        "split": args.split,
        "label": args.label,
        "num_examples": sum(counts.values()),
        "num_classes": len(counts),
        "imbalance_ratio": largest / smallest,
        "counts": {str(k): v for k, v in counts.items()},
    }
    # NOTE: JSON on standard output stands alone there, so that it parses;
    # what is said about it goes to stderr.
    said = report.console(sys.stderr) if args.json == cli_output.STDOUT else console
    if args.json != cli_output.STDOUT:
        table = report.counts_table(counts, title=f"{builder.name} {args.split}")
        console.print(table.rstrip("\n"))
        console.print(
            f"{summary['num_examples']:,} examples, {len(counts)} classes,"
            f" imbalance ratio {summary['imbalance_ratio']:.1f}"
        )
    if args.json is not None:
        text = json.dumps(summary, indent=2)
        cli_output.write_json(text, args.json, "counts", said)
    if args.plot:
        report.plot_counts(counts, args.plot, title=f"{builder.name} {args.split}")
        said.print(f"plot written to {args.plot}")
    return 0


def plan(args: argparse.Namespace) -> int:
    cli_output.check_outputs(args.json, args.plot)
    cli_output.check_runner(args.runner)
    cli_output.start_tensorflow()
    import oversample as ovs
    from oversample.tf import source as tf_labels

    builder = find_builder(args.dataset, args.data_dir)
    ds = _label_dataset(builder, args.split, args.label)
    source: dict[str, Any] = {}
    if args.runner == "direct":
        # NOTE: class counts only: the plan drives streaming over the shards
        # (with the shard counts) and knows no single sample.
        source["counts"] = _beam_counts(builder, args.split, args.label).counts
    else:
        resolved = tf_labels.resolve_label(ds.element_spec, args.label)
        source["labels"] = tf_labels.collect(ds, resolved, progress=True)
    try:
        plan = ovs.plan(
            strategy=args.strategy,
            **source,
            seed=args.seed,
            rounding=args.rounding,
            max_factor=args.max_factor,
            thin=args.thin,
        )
    except ValueError as error:
        # The library's message names its arguments; here they are flags.
        message = str(error).replace("thin=True", "--thin")
        raise UsageError(message.replace("`strategy`=", "--strategy ")) from None
    cli_output.show_plan(plan, args.json, args.plot)
    return 0


def _beam_counts(builder: Any, split: str, label: str) -> Any:
    """Per-shard counts of a TFDS split by Apache Beam's DirectRunner."""
    import tempfile

    from oversample import beam
    from oversample.shards import tfds_reader

    try:
        files, _ = tfds_reader(builder, split, None)
    except ValueError as error:
        raise UsageError(str(error)) from None
    print(
        f"counting {len(files)} shard(s) with Apache Beam (DirectRunner); Beam"
        " reports its progress in its log",
        file=sys.stderr,
    )
    with tempfile.TemporaryDirectory() as folder:
        return beam.count_shards(files, label, output=str(Path(folder) / "counts"))


def _source(text: str) -> tuple[str, str, float]:
    name, equals, rate = text.rpartition("=")
    if not equals or not name:
        raise UsageError(f"a source must read DATASET[:SPLIT]=RATE; got {text!r}.")
    dataset, _, split = name.partition(":")
    try:
        value = float(rate)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise UsageError(
            f"the rate of {name!r} must be a finite number of epochs > 0; got {rate!r}."
        )
    return dataset, split or "train", value


def _size(dataset: str, split: str, data_dir: str | None) -> int:
    splits = find_builder(dataset, data_dir).info.splits
    if split not in splits:
        raise UsageError(
            f"{split!r} is not a split of {dataset!r} (splits: {sorted(splits)})."
        )
    size = int(splits[split].num_examples)
    if size < 1:
        raise UsageError(f"{dataset}:{split} declares no examples; prepare it first.")
    return size


def mix(args: argparse.Namespace) -> int:
    parsed = [_source(text) for text in args.sources]
    rates: dict[str, float] = {}
    for dataset, split, rate in parsed:
        name = f"{dataset}:{split}"
        if name in rates:
            raise UsageError(f"the source {name!r} is given twice.")
        rates[name] = rate
    cli_output.check_outputs(args.json, args.plot)
    cli_output.start_tensorflow()
    import oversample as ovs

    sizes = {
        f"{dataset}:{split}": _size(dataset, split, args.data_dir)
        for dataset, split, _ in parsed
    }
    plan = ovs.mix_plan(sizes, rates, seed=args.seed)
    cli_output.show_plan(plan, args.json, args.plot)
    return 0
