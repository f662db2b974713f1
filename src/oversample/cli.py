"""The `oversample` command line: demo, inspect, plan and mix."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from oversample import cli_tfds
from oversample.cli_tfds import UsageError
from oversample.cli_tfds import builder as _builder
from oversample.tf import quiet_command

_EXAMPLES = """examples:
  oversample demo
  oversample inspect digits_lt --plot counts.png
  oversample inspect mnist --data-dir ~/tensorflow_datasets --json
  oversample plan digits_lt --strategy sqrt --max-factor 10 --json plan.json
  oversample plan /data/my_dataset/1.0.0 --label objects/label --strategy power:0.7
  oversample plan digits_lt --strategy median --thin
"""

_STRATEGY_HELP = (
    "'not majority' (default), 'all', 'minority', 'not minority', 'sqrt',"
    " 'median', 'mean' or an int size (with --thin), power:A, repeat-factor:T,"
    " or a JSON object of targets such as '{\"7\": 500}'"
)


def parse_strategy(text: str) -> object:
    """Turns the --strategy text into a strategy of the grammar."""
    from oversample.core.strategies import PRESETS, SIZES, Power, RepeatFactor

    if text in PRESETS or text in SIZES:
        return text
    if text.isdigit():
        return int(text)
    if text.startswith("{"):
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as error:
            raise UsageError(f"--strategy is not valid JSON: {error}") from None
        if not isinstance(raw, dict):
            raise UsageError("--strategy JSON must be an object {label: target}.")
        return {int(k) if k.lstrip("-").isdigit() else k: v for k, v in raw.items()}
    name, _, value = text.partition(":")
    makers = {"power": Power, "repeat-factor": RepeatFactor}
    if name in makers and value:
        try:
            return makers[name](float(value))
        except ValueError as error:
            raise UsageError(f"--strategy {text!r}: {error}") from None
    raise UsageError(f"--strategy must be {_STRATEGY_HELP}; got {text!r}.")


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


def _inspect(args: argparse.Namespace) -> int:
    quiet_command()
    import oversample as ovs
    from oversample import report

    builder = _builder(args.dataset, args.data_dir)
    ds = _label_dataset(builder, args.split, args.label)
    if args.runner == "direct":
        counts = _beam_counts(builder, args.split, args.label).counts
    else:
        counts = ovs.count_labels(ds, label=args.label, progress=not args.json)
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
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(report.counts_table(counts, title=f"{builder.name} {args.split}"))
        print(
            f"{summary['num_examples']:,} examples, {len(counts)} classes,"
            f" imbalance ratio {summary['imbalance_ratio']:.1f}"
        )
    if args.plot:
        report.plot_counts(counts, args.plot, title=f"{builder.name} {args.split}")
        if not args.json:
            print(f"plot written to {args.plot}")
    return 0


def _plan(args: argparse.Namespace) -> int:
    quiet_command()
    import oversample as ovs
    from oversample.tf import source as tf_labels

    strategy = parse_strategy(args.strategy)
    builder = _builder(args.dataset, args.data_dir)
    ds = _label_dataset(builder, args.split, args.label)
    source: dict[str, Any] = {}
    if args.runner == "direct":
        # NOTE: class counts only: the plan drives streaming over the shards
        # (with the shard counts) and knows no single sample.
        source["counts"] = _beam_counts(builder, args.split, args.label).counts
    else:
        resolved = tf_labels.resolve_label(ds.element_spec, args.label)
        source["labels"] = tf_labels.collect(ds, resolved, progress=True)
    plan = ovs.plan(
        strategy=strategy,
        **source,
        seed=args.seed,
        rounding=args.rounding,
        max_factor=args.max_factor,
        thin=args.thin,
    )
    print(plan.summary())
    if args.json:
        plan.save(args.json)  # atomic: a crash leaves no half-written plan
        print(f"plan written to {args.json} (fingerprint {plan.fingerprint})")
    if args.plot:
        plan.plot(args.plot)
        print(f"plot written to {args.plot}")
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


def _demo(args: argparse.Namespace) -> int:
    quiet_command()
    from oversample import demo

    out = Path(args.out)
    return demo.run(out=out, seeds=args.seeds, steps=args.steps)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oversample",
        description="Exact, reproducible duplication of training samples.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser(
        "demo",
        help="count, plan, stream and train on the embedded digits20_lt dataset",
        epilog="example:\n  oversample demo --seeds 5 --out oversample-demo",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument(
        "--out", default="oversample-demo", help="folder for plots and JSON"
    )
    demo.add_argument("--seeds", type=int, default=3, help="training seeds per method")
    demo.add_argument(
        "--steps", type=int, default=1200, help="optimisation steps per run"
    )
    demo.set_defaults(run=_demo)

    for name, run, text in (
        ("inspect", _inspect, "count the classes of a TFDS dataset"),
        ("plan", _plan, "plan duplication for a TFDS dataset"),
    ):
        sub = commands.add_parser(
            name,
            help=text,
            epilog=_EXAMPLES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.add_argument(
            "dataset", help="a TFDS name (e.g. digits_lt) or a prepared dataset folder"
        )
        sub.add_argument("--split", default="train")
        sub.add_argument("--label", default="label", help="feature key, nested as a/b")
        sub.add_argument("--data-dir", default=None, help="TFDS data folder")
        sub.add_argument(
            "--runner",
            choices=["tfdata", "direct"],
            default="tfdata",
            help="count with tf.data in this process (default) or with Apache"
            " Beam's DirectRunner per shard (needs the beam extra)",
        )
        sub.set_defaults(run=run)
        if name == "inspect":
            sub.add_argument(
                "--json", action="store_true", help="print JSON instead of a table"
            )
            sub.add_argument("--plot", metavar="PATH", help="write a bar chart (PNG)")
        else:
            sub.add_argument("--strategy", default="not majority", help=_STRATEGY_HELP)
            sub.add_argument("--seed", type=int, default=None)
            sub.add_argument(
                "--rounding", default="exact", choices=["exact", "stochastic"]
            )
            sub.add_argument("--max-factor", type=float, default=None)
            sub.add_argument("--thin", action="store_true", help="allow thinning")
            sub.add_argument("--json", metavar="PATH", help="write the plan as JSON")
            sub.add_argument("--plot", metavar="PATH", help="write before/after (PNG)")
    cli_tfds.add(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `oversample` console script."""
    args = _parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except (UsageError, ValueError, TypeError, ImportError, OSError) as error:
        print(f"oversample {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"oversample {args.command}: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
