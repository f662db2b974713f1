"""The `oversample` command line: demo, inspect, plan and mix."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import oversample
from oversample import cli_output, cli_tfds
from oversample.cli_output import UsageError

EXAMPLES = {
    "demo": ["oversample demo --seeds 5 --out oversample-demo"],
    "inspect": [
        "oversample inspect digits_lt --plot counts.png",
        "oversample inspect mnist --data-dir ~/tensorflow_datasets --json",
        "oversample inspect /data/my_dataset/1.0.0 --label objects/label"
        " --json counts.json",
        "oversample inspect digits_lt --runner direct",
    ],
    "plan": [
        "oversample plan digits_lt --strategy sqrt --max-factor 10 --json plan.json",
        "oversample plan /data/my_dataset/1.0.0 --label objects/label"
        " --strategy power:0.7",
        "oversample plan digits_lt --strategy median --thin --plot plan.png",
        "oversample plan digits_lt --seed 0 --json > plan.json",
    ],
    "mix": [cli_tfds.EXAMPLE],
}


def _epilog(*commands: str) -> str:
    lines = [line for name in commands for line in EXAMPLES[name]]
    return "examples:\n" + "".join(f"  {line}\n" for line in lines)


_STRATEGY_HELP = (
    "'not majority' (default), 'all', 'minority', 'not minority', 'sqrt',"
    " 'median', 'mean' or an int size (with --thin), power:A, repeat-factor:T,"
    " or a JSON object of targets such as '{\"7\": 500}'"
)


def parse_strategy(text: str) -> object:
    """The --strategy text as a strategy of the grammar (argparse's `type`:
    refused while the arguments are read, before any work)."""
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


def _checked(read: Callable[[str], object]) -> Callable[[str], object]:
    """An argparse `type` from a reader that raises UsageError or ValueError:
    the reader's own message, and the value refused before any work."""

    def checked(text: str) -> object:
        try:
            return read(text)
        except (UsageError, ValueError) as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return checked


def _seed(text: str) -> int:
    from oversample.core.validation import check_seed

    if not text.lstrip("-").isdigit():
        raise UsageError(f"`--seed` must be an int >= 0; got {text!r}.")
    return check_seed(int(text), "--seed")


def _at_least_one(name: str) -> Callable[[str], int]:
    def read(text: str) -> int:
        if not text.isdigit() or int(text) < 1:
            raise UsageError(f"`{name}` must be an int >= 1; got {text!r}.")
        return int(text)

    return read


def _max_factor(text: str) -> float:
    from oversample.core.validation import check_factor

    try:
        number = float(text)
    except ValueError:
        raise UsageError(
            f"`--max-factor` must be a finite number >= 1; got {text!r}."
        ) from None
    return check_factor(number, "--max-factor")


def _demo(args: argparse.Namespace) -> int:
    cli_output.start_tensorflow()
    from oversample import demo

    out = Path(args.out)
    return demo.run(out=out, seeds=args.seeds, steps=args.steps)


def _json_option(sub: argparse.ArgumentParser, what: str) -> None:
    sub.add_argument(
        "--json",
        nargs="?",
        const=cli_output.STDOUT,
        metavar="PATH",
        help=f"write {what} as JSON to PATH, or to standard output when PATH is"
        " left out or '-' (then only the JSON is written there)",
    )


def _data_dir_option(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--data-dir",
        default=None,
        help="TFDS data folder (default: TFDS's own, $TFDS_DATA_DIR or"
        " ~/tensorflow_datasets)",
    )


def _seed_option(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--seed",
        type=_checked(_seed),
        default=None,
        help="the plan's seed, an int >= 0 (default: one drawn at random and"
        " recorded in the plan)",
    )


def _command(commands: Any, name: str, text: str) -> argparse.ArgumentParser:
    return commands.add_parser(
        name,
        help=text,
        description=text[0].upper() + text[1:] + ".",
        epilog=_epilog(name),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oversample",
        description="Exact, reproducible duplication of training samples.",
        epilog=_epilog("demo", "inspect", "plan", "mix"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"oversample {oversample.__version__}"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo = _command(
        commands,
        "demo",
        "count, plan, stream and train on the embedded digits20_lt dataset",
    )
    demo.add_argument(
        "--out",
        default="oversample-demo",
        help="folder for plots and JSON (default: %(default)s)",
    )
    demo.add_argument(
        "--seeds",
        type=_checked(_at_least_one("--seeds")),
        default=3,
        help="training seeds per method (default: %(default)s)",
    )
    demo.add_argument(
        "--steps",
        type=_checked(_at_least_one("--steps")),
        default=1200,
        help="optimisation steps per run (default: %(default)s)",
    )
    demo.set_defaults(run=_demo)

    for name, run, text in (
        ("inspect", cli_tfds.inspect, "count the classes of a TFDS dataset"),
        ("plan", cli_tfds.plan, "plan duplication for a TFDS dataset"),
    ):
        sub = _command(commands, name, text)
        sub.add_argument(
            "dataset", help="a TFDS name (e.g. digits_lt) or a prepared dataset folder"
        )
        sub.add_argument(
            "--split", default="train", help="the split to read (default: %(default)s)"
        )
        sub.add_argument(
            "--label",
            default="label",
            help="the feature holding the class, nested as a/b (default: %(default)s)",
        )
        _data_dir_option(sub)
        sub.add_argument(
            "--runner",
            choices=["tfdata", "direct"],
            default="tfdata",
            help="count with tf.data in this process (default) or with Apache"
            " Beam's DirectRunner per shard (needs the beam extra)",
        )
        sub.set_defaults(run=run)
        if name == "inspect":
            _json_option(sub, "the counts")
            sub.add_argument("--plot", metavar="PATH", help="write a bar chart (PNG)")
        else:
            sub.add_argument(
                "--strategy",
                type=_checked(parse_strategy),
                default="not majority",
                help=_STRATEGY_HELP,
            )
            _seed_option(sub)
            sub.add_argument(
                "--rounding",
                default="exact",
                choices=["exact", "stochastic"],
                help="exact: every class at its target in every epoch;"
                " stochastic: at its target on average (default: %(default)s)",
            )
            sub.add_argument(
                "--max-factor",
                type=_checked(_max_factor),
                default=None,
                metavar="F",
                help="cap on every class's factor, a number >= 1 (default: no cap)",
            )
            sub.add_argument(
                "--thin",
                action="store_true",
                help="allow targets below the counts (each sample 0 or 1 copies"
                " per epoch, rotating)",
            )
            _json_option(sub, "the plan")
            sub.add_argument("--plot", metavar="PATH", help="write before/after (PNG)")
    mix = _command(commands, "mix", cli_tfds.HELP)
    mix.add_argument(
        "sources",
        nargs="+",
        metavar="DATASET[:SPLIT]=RATE",
        help="a TFDS name or folder, its split (default train) and its rate in"
        " epochs per epoch of the mixture",
    )
    _data_dir_option(mix)
    _seed_option(mix)
    _json_option(mix, "the plan")
    mix.add_argument("--plot", metavar="PATH", help="write before/after (PNG)")
    mix.set_defaults(run=cli_tfds.mix)
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
