"""What the command line writes and when: its outputs checked before any
work, JSON to a file or to standard output, and something on the terminal
while TensorFlow starts."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any


class UsageError(Exception):
    """A problem with what the user asked for; printed as one line."""


STDOUT = "-"  # `--json` bare or `--json -`: the JSON on standard output


def check_outputs(json_path: str | None, plot_path: str | None) -> None:
    """Refuses, before any data is read, an output that could not be written
    at the end: a folder that does not exist or is not writable, a path that
    is a folder, or `--plot` without matplotlib."""
    if plot_path is not None and importlib.util.find_spec("matplotlib") is None:
        raise UsageError(
            "--plot needs matplotlib, which is not installed: pip install"
            " 'oversample[plot]'."
        )
    for flag, given in (("--json", json_path), ("--plot", plot_path)):
        if given is None or given == STDOUT:
            continue
        path = Path(given)
        folder = path.parent
        if path.is_dir():
            raise UsageError(f"{flag} {given!r} is a folder; give a file name.")
        if not folder.is_dir():
            raise UsageError(f"{flag} {given!r}: the folder '{folder}' does not exist.")
        if not os.access(folder, os.W_OK):
            raise UsageError(
                f"{flag} {given!r}: the folder '{folder}' is not writable."
            )


def check_runner(runner: str) -> None:
    """`--runner direct` counts with Apache Beam: refused, with the install
    line, where Beam is absent."""
    if runner == "direct" and importlib.util.find_spec("apache_beam") is None:
        raise UsageError(
            "--runner direct counts with Apache Beam, which is not installed:"
            " pip install 'oversample[beam]'."
        )


def write_json(text: str, target: str, what: str, console: Any) -> None:
    """`text` to standard output (`target` "-"), or atomically to the file
    `target` with a line saying so."""
    from oversample.core.packing import write_atomic

    if target == STDOUT:
        sys.stdout.write(text.rstrip("\n") + "\n")
        sys.stdout.flush()
        return
    write_atomic(target, text.rstrip("\n") + "\n")
    console.print(f"{what} written to {target}")


def show_plan(plan: Any, json_path: str | None, plot_path: str | None) -> None:
    """A plan's table, its JSON (`--json`) and its plot (`--plot`).

    NOTE: JSON on standard output stands alone there, so that it parses;
    what is said about it then goes to stderr.
    """
    from oversample import report

    console = report.console()
    on_stdout = json_path == STDOUT
    said = report.console(sys.stderr) if on_stdout else console
    if not on_stdout:
        console.print(plan.summary().rstrip("\n"))
    if json_path is not None:
        what = f"plan (fingerprint {plan.fingerprint})"
        write_json(plan.to_json(), json_path, what, said)
    if plot_path is not None:
        plan.plot(plot_path)
        said.print(f"plot written to {plot_path}")


def start_tensorflow() -> None:
    """Imports TensorFlow now (it takes seconds), with a spinner on a
    terminal meanwhile; nothing is written when stderr is not a terminal.

    NOTE: the spinner writes to a copy of stderr's descriptor: TensorFlow's
    first import catches descriptor 2 to drop its start-up lines
    (`oversample.tf`), and the spinner must reach the terminal meanwhile.
    `sys.stdout` and `sys.stderr` are left alone (no redirection through the
    spinner), so that a log handler made during the import keeps the real
    streams.
    """
    from rich.console import Console
    from rich.live import Live
    from rich.spinner import Spinner

    from oversample.tf import quiet_command

    sys.stderr.flush()
    with os.fdopen(os.dup(2), "w") as terminal:
        spinner = Spinner("dots", "starting TensorFlow")
        with Live(
            spinner,
            console=Console(file=terminal),
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        ):
            quiet_command()
