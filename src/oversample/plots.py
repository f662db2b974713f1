"""Plots of class counts and plans: before and after per class on a log axis,
each on a matplotlib Figure of its own (never pyplot, so a notebook's backend
is left as the user has it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _figure(width: float, height: float) -> Any:
    """A matplotlib Figure of its own, drawn without pyplot.

    NOTE: never `matplotlib.use` or pyplot here: in a notebook that would
    switch the user's backend, and their own `plt.show()` would show nothing
    for the rest of the session.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            "plots need matplotlib: pip install 'oversample[plot]'."
        ) from None
    return Figure(figsize=(width, height), layout="constrained")


def bars(
    before: Mapping[Any, int],
    after: Mapping[Any, int] | None,
    title: str,
    sources: bool = False,
) -> Any:
    """Per-class bars on a log axis, largest class first (a mixture's
    `sources` in the order given, as its table lists them); steps for long
    tails. Returns the matplotlib Figure."""
    many = len(before) > 40
    figure = _figure(10 if many else max(6.0, len(before) * 0.5 + 2), 4.5)
    # After _figure, which says how to install matplotlib where it is absent.
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    if sources:
        order, one, each = list(before), "source", "sources"
    else:
        order = sorted(before, key=before.__getitem__, reverse=True)
        one, each = "class, largest first", "classes, largest first"
    positions = range(len(order))
    axis = figure.subplots()
    if many:
        values = [before[c] for c in order]
        axis.step(
            positions, values, where="mid", color="black", label="before", zorder=3
        )
        if after is not None:
            values = [after[c] for c in order]
            axis.fill_between(positions, values, step="mid", alpha=0.35, label="after")
        axis.set_xlabel(f"{len(order)} {each}")
    else:
        # Side by side, so that a thinned class's shorter bar stays visible.
        width = 0.8 if after is None else 0.4
        shift = 0 if after is None else width / 2
        left = [p - shift for p in positions]
        axis.bar(
            left, [before[c] for c in order], width, color="tab:blue", label="before"
        )
        if after is not None:
            right = [p + shift for p in positions]
            axis.bar(
                right,
                [after[c] for c in order],
                width,
                color="tab:orange",
                label="after",
            )
        names = [str(c) for c in order]
        turned = 45 if max(len(n) for n in names) > 3 else 0
        axis.set_xticks(list(positions), names, rotation=turned)
        axis.set_xlabel(one)
    heights = [*before.values(), *(after or {}).values()]
    axis.set_yscale("log")
    axis.set_ylim(max(min(heights) / 2, 0.5), max(heights) * 1.5)
    # Labelled ticks at 1, 2 and 5 of each power of ten, written out; the
    # minor ticks unlabelled (matplotlib labels them on a short log range).
    axis.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.yaxis.set_major_formatter(FuncFormatter(_tick))
    axis.yaxis.set_minor_formatter(NullFormatter())
    axis.set_ylabel("samples per epoch")
    axis.set_title(title)
    # Beside the plot, never over a bar.
    figure.legend(loc="outside right upper")
    return figure


def _tick(value: float, _: object) -> str:
    return f"{value:,.0f}" if value >= 1 else f"{value:g}"


def save(figure: Any, path: Any) -> Any:
    """Writes `figure` as a PNG to `path` (a file name or a binary file object)."""
    figure.savefig(path, dpi=110)
    return path
