"""TFDS datasets for the command line: finding and preparing a builder, and
`oversample mix`, the plan of a mixture of TFDS splits at exact rates from the
sizes the datasets declare (nothing is read), as a table, JSON and plot."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
from pathlib import Path
from typing import Any


class UsageError(Exception):
    """A problem with what the user asked for; printed as one line."""


def builder(dataset: str, data_dir: str | None) -> Any:
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


EXAMPLE = """example:
  oversample mix digits_lt:train=2.5 digits_lt:test=0.3 --seed 0 --plot mix.png
"""


def add(commands: Any) -> None:
    """Adds the `mix` subcommand."""
    sub = commands.add_parser(
        "mix",
        help="plan a mixture of TFDS splits at exact rates",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.add_argument(
        "sources",
        nargs="+",
        metavar="DATASET[:SPLIT]=RATE",
        help="a TFDS name or folder, its split (default train) and its rate in"
        " epochs per epoch of the mixture",
    )
    sub.add_argument("--data-dir", default=None, help="TFDS data folder")
    sub.add_argument("--seed", type=int, default=None)
    sub.add_argument("--json", metavar="PATH", help="write the plan as JSON")
    sub.add_argument("--plot", metavar="PATH", help="write before/after (PNG)")
    sub.set_defaults(run=run)


def _source(text: str) -> tuple[str, str, float]:
    name, equals, rate = text.rpartition("=")
    if not equals or not name:
        raise UsageError(f"a source must read DATASET[:SPLIT]=RATE; got {text!r}.")
    dataset, _, split = name.partition(":")
    try:
        value = float(rate)
    except ValueError:
        raise ValueError(
            f"the rate of {name!r} must be a number; got {rate!r}."
        ) from None
    return dataset, split or "train", value


def _size(dataset: str, split: str, data_dir: str | None) -> int:
    splits = builder(dataset, data_dir).info.splits
    if split not in splits:
        raise UsageError(
            f"{split!r} is not a split of {dataset!r} (splits: {sorted(splits)})."
        )
    size = int(splits[split].num_examples)
    if size < 1:
        raise UsageError(f"{dataset}:{split} declares no examples; prepare it first.")
    return size


def run(args: argparse.Namespace) -> int:
    import oversample as ovs
    from oversample.tf import quiet_command

    quiet_command()
    parsed = [_source(text) for text in args.sources]
    sizes, rates = {}, {}
    for dataset, split, rate in parsed:
        name = f"{dataset}:{split}"
        if name in sizes:
            raise UsageError(f"the source {name!r} is given twice.")
        sizes[name] = _size(dataset, split, args.data_dir)
        rates[name] = rate
    plan = ovs.mix_plan(sizes, rates, seed=args.seed)
    print(plan.summary())
    if args.json:
        plan.save(args.json)
        print(f"plan written to {args.json} (fingerprint {plan.fingerprint})")
    if args.plot:
        plan.plot(args.plot)
        print(f"plot written to {args.plot}")
    return 0
