"""Human-readable views of class counts and plans: terminal tables, the
Jupyter view and the console of the command line (the plots: `plots`)."""

from __future__ import annotations

import base64
import html as _html
import importlib.util
import io
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any, ClassVar, Protocol

from oversample import plots

Label = int | str
PIPE_WIDTH = 240  # a table's room off a terminal: wide enough for any we draw
RULE_WIDTH = 100


class Planned(Protocol):
    """What a report reads of a plan.

    NOTE: a protocol rather than `Plan` itself, so that this module does not
    depend on the plan module, which calls it for `summary()` and `plot()`.
    """

    @property
    def classes(self) -> tuple[Label, ...]: ...

    @property
    def strategy(self) -> str: ...

    @property
    def rounding(self) -> str: ...

    @property
    def seed(self) -> int: ...

    @property
    def num_samples(self) -> int | None: ...

    @property
    def counts(self) -> dict[Label, int]: ...

    @property
    def targets(self) -> dict[Label, int]: ...

    @property
    def total(self) -> int: ...


def _render(table: object, header: str = "") -> str:
    from rich.console import Console

    buffer = io.StringIO()
    if header:
        buffer.write(header + "\n")
    Console(file=buffer, width=PIPE_WIDTH, color_system=None).print(table)
    return buffer.getvalue()


def console(file: IO[str] | None = None) -> Any:
    """A rich console for the CLI and the demo. On a terminal, its width; in a
    pipe or a log file, as wide as a table needs, so that no header wraps, with
    text left unwrapped.

    NOTE: off a terminal rich takes 80 columns, or `COLUMNS`, which test
    runners and CI shells export as 80 whatever the log's reader has.
    """
    from rich.console import Console

    numbers = _number_highlighter()
    found = Console(file=file, highlighter=numbers)
    if found.is_terminal:
        return found
    return Console(file=file, width=PIPE_WIDTH, soft_wrap=True, highlighter=numbers)


# A number as a person reads it: sign, digits with their thousands commas,
# decimals, a percent sign; not the digits inside a word (digits20_lt).
NUMBER = r"(?<![\w.])[-+]?\d[\d,]*(?:\.\d+)?%?(?![\w])"


def _number_highlighter() -> Any:
    """Colours whole numbers, commas and decimals included (rich's own
    highlighter colours "1" and "234" of "1,234" and leaves the comma)."""
    from rich.highlighter import RegexHighlighter

    class Numbers(RegexHighlighter):
        base_style: ClassVar[str] = "repr."
        highlights: ClassVar[list[str]] = [rf"(?P<number>{NUMBER})"]

    return Numbers()


def progress(transient: bool = False) -> Any:
    """A progress bar (description, bar, done of total, time) on stderr, so
    that standard output keeps the results; `transient`: gone once done, and
    not shown at all where stderr is not a terminal (a log keeps no trace)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    console = Console(stderr=True)
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=transient,
        disable=transient and not console.is_interactive,
        redirect_stdout=False,
        redirect_stderr=False,
    )


def rule(console: Any, title: str) -> None:
    """A section line, at most `RULE_WIDTH` wide (a log file has no edge)."""
    from rich.rule import Rule

    console.print(Rule(title), width=min(console.width, RULE_WIDTH))


def _shown(labels: list[Label], key: Mapping[Label, int], max_rows: int) -> list[Any]:
    """All labels, or the largest and smallest halves around a `None` marker."""
    if len(labels) <= max_rows:
        return list(labels)
    ranked = sorted(labels, key=key.__getitem__, reverse=True)
    half = max(max_rows // 2, 1)
    return [*ranked[:half], None, *ranked[-half:]]


def counts_table(
    counts: Mapping[Label, int], title: str = "", max_rows: int = 40
) -> str:
    """Per-class counts and shares, largest first for long tails."""
    from rich.table import Table

    table = Table()
    for name in ("class", "count", "share"):
        table.add_column(name, justify="left" if name == "class" else "right")
    total = sum(counts.values())
    labels = list(counts)
    for label in _shown(labels, counts, max_rows):
        if label is None:
            table.add_row(f"... {len(labels) - max_rows // 2 * 2} more", "", "")
            continue
        table.add_row(str(label), f"{counts[label]:,}", f"{counts[label] / total:.1%}")
    table.add_section()
    table.add_row("total", f"{total:,}", "100.0%")
    return _render(table, title)


def _thinned(plan: Planned) -> bool:
    return any(plan.targets[c] < plan.counts[c] for c in plan.classes)


def plan_rows(plan: Planned, max_rows: int = 40) -> list[tuple[str, ...]]:
    """(class, count, target, factor, added) per class and a total row; long
    tails keep their largest and smallest classes around a '... more' row.
    Where a class is thinned the last column is the signed change."""
    counts, targets = plan.counts, plan.targets
    signed = _thinned(plan)

    def row(name: str, count: int, target: int) -> tuple[str, ...]:
        change = target - count
        added = f"{change:+,}" if signed and change else f"{change:,}"
        ratio = f"{target / max(count, 1):.2f}"
        return (name, f"{count:,}", f"{target:,}", ratio, added)

    labels = list(plan.classes)
    rows: list[tuple[str, ...]] = []
    for label in _shown(labels, counts, max_rows):
        if label is None:
            rows.append((f"... {len(labels) - max_rows // 2 * 2} more", "", "", "", ""))
        else:
            rows.append(row(str(label), counts[label], targets[label]))
    samples = plan.num_samples or sum(counts.values())
    rows.append(row("total", samples, plan.total))
    return rows


def _mixture(plan: Planned) -> bool:
    return plan.strategy == "mixture"


def plan_columns(plan: Planned) -> tuple[str, ...]:
    """A mixture's classes are its sources, its factors epochs of each; where
    a class is thinned, "added" is the signed "change"."""
    first, factor = ("source", "epochs") if _mixture(plan) else ("class", "factor")
    return (first, "count", "target", factor, "change" if _thinned(plan) else "added")


def heading(plan: Planned) -> str:
    """The line above a plan's table: what it is and how it was made."""
    if _mixture(plan):
        return f"oversample mixture of {len(plan.classes)} sources: seed={plan.seed}"
    return (
        f"oversample plan: strategy={plan.strategy}, rounding={plan.rounding},"
        f" seed={plan.seed}"
    )


def summary(plan: Planned, max_rows: int = 40) -> str:
    """Counts, targets and factors per class; long tails are shortened."""
    from rich.table import Table

    table = Table()
    for place, name in enumerate(plan_columns(plan)):
        table.add_column(name, justify="right" if place else "left")
    rows = plan_rows(plan, max_rows)
    for row in rows[:-1]:
        table.add_row(*row)
    table.add_section()
    table.add_row(*rows[-1])
    return _render(table, heading(plan))


def html(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    figure: Callable[[Any], object] | None = None,
) -> str:
    """A Jupyter table (`_repr_html_`), the total last, the figure inline."""
    escape = _html.escape
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = []
    for place, row in enumerate(rows):
        cells = "".join(
            f"<td style='text-align:{'left' if i == 0 else 'right'}'>{escape(c)}</td>"
            for i, c in enumerate(row)
        )
        style = " style='border-top:1px solid'" if place == len(rows) - 1 else ""
        body.append(f"<tr{style}>{cells}</tr>")
    out = (
        f"<div><p><b>{escape(title)}</b></p><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )
    if figure is not None and importlib.util.find_spec("matplotlib") is not None:
        buffer = io.BytesIO()
        figure(buffer)
        encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
        source = f"data:image/png;base64,{encoded}"
        out += f"<img alt='counts before and after' src='{source}'/>"
    return out + "</div>"


def counts_html(counts: Mapping[Label, int], title: str, max_rows: int = 40) -> str:
    """Counts per class and their shares as HTML, with the plot."""
    total = max(sum(counts.values()), 1)
    rows = [(str(c), f"{n:,}", f"{n / total:.1%}") for c, n in counts.items()]
    if len(rows) > max_rows:
        half = max_rows // 2
        rows = [
            *rows[:half],
            (f"... {len(rows) - 2 * half} more", "", ""),
            *rows[-half:],
        ]
    rows.append(("total", f"{sum(counts.values()):,}", "100.0%"))
    return html(
        title,
        ("class", "count", "share"),
        rows,
        lambda buffer: plot_counts(counts, buffer, title),
    )


def plan_html(plan: Planned, title: str = "", max_rows: int = 20) -> str:
    """A plan's `_repr_html_`: the counts before and after, and its plot."""
    return html(
        title or heading(plan),
        plan_columns(plan),
        plan_rows(plan, max_rows),
        lambda buffer: plot(plan, buffer),
    )


def plot_figure(plan: Planned) -> Any:
    """A plan's counts before and after per class (a mixture's per source, in
    its table's order), log axis, as a matplotlib Figure."""
    samples = plan.num_samples or sum(plan.counts.values())
    title = f"oversample: {plan.strategy} ({samples:,} -> {plan.total:,})"
    return plots.bars(plan.counts, plan.targets, title, sources=_mixture(plan))


def plot(plan: Planned, path: Any) -> Any:
    """Counts before and after per class, log axis; writes a PNG to `path` (a
    file name or a binary file object)."""
    return plots.save(plot_figure(plan), path)


def plot_counts(counts: Mapping[Label, int], path: Any, title: str = "") -> Any:
    """Counts per class, log axis; writes a PNG to `path`."""
    return plots.save(plots.bars(counts, None, title or "class counts"), path)
