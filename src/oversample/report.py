"""Human-readable views of a plan: a terminal table and a before/after plot."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from oversample.plan import Plan


def summary(plan: Plan, max_rows: int = 40) -> str:
    """Renders counts, targets and factors per class as a text table.

    Long tails are cut to the `max_rows` // 2 largest and smallest classes.
    """
    from rich.console import Console
    from rich.table import Table

    table = Table()
    for name in ("class", "count", "target", "factor", "added"):
        table.add_column(name, justify="left" if name == "class" else "right")
    counts, targets = plan.counts, plan.targets
    rows: list[int | str | None] = list(plan.classes)
    half = 0
    if len(rows) > max_rows:
        ranked = sorted(plan.classes, key=counts.__getitem__, reverse=True)
        half = max(max_rows // 2, 1)
        rows = [*ranked[:half], None, *ranked[-half:]]
    for label in rows:
        if label is None:
            table.add_row(f"... {len(plan.classes) - 2 * half} more", "", "", "", "")
            continue
        count, target = counts[label], targets[label]
        table.add_row(
            str(label),
            f"{count:,}",
            f"{target:,}",
            f"{target / count:.2f}",
            f"{target - count:,}",
        )
    source = sum(counts.values()) if counts else plan.num_samples
    table.add_section()
    table.add_row(
        "total",
        f"{source:,}",
        f"{plan.total:,}",
        f"{plan.total / max(plan.num_samples, 1):.2f}",
        f"{plan.total - plan.num_samples:,}",
    )
    buffer = io.StringIO()
    buffer.write(
        f"oversample plan: strategy={plan.strategy}, rounding={plan.rounding},"
        f" seed={plan.seed}\n"
    )
    Console(file=buffer, width=100, color_system=None, legacy_windows=False).print(
        table
    )
    return buffer.getvalue()


def plot(plan: Plan, path: str) -> str:
    """Bar chart of per-class counts before and after, log axis; writes a PNG."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError(
            "Plan.plot needs matplotlib: pip install 'oversample[plot]'."
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts, targets = plan.counts, plan.targets
    order = sorted(plan.classes, key=counts.__getitem__, reverse=True)
    before = [counts[c] for c in order]
    after = [targets[c] for c in order]
    positions = range(len(order))
    many = len(order) > 40
    figure, axis = plt.subplots(figsize=(10 if many else max(6, len(order) * 0.5), 4.5))
    if many:
        axis.fill_between(positions, after, step="mid", alpha=0.35, label="after")
        axis.step(positions, before, where="mid", color="black", label="before")
        axis.set_xlabel(f"{len(order)} classes, largest first")
    else:
        axis.bar(positions, after, color="tab:orange", alpha=0.6, label="after")
        axis.bar(positions, before, color="tab:blue", label="before")
        axis.set_xticks(list(positions), [str(c) for c in order], rotation=45)
        axis.set_xlabel("class, largest first")
    axis.set_yscale("log")
    axis.set_ylabel("samples per epoch")
    axis.set_title(
        f"oversample: {plan.strategy} ({plan.num_samples:,} -> {plan.total:,})"
    )
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
