"""MkDocs hooks: benchmark tables read from benchmarks/results/*.json, the
result plots, and the figures of the concept pages drawn at build time."""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from markdown import Extension, Markdown
from markdown.preprocessors import Preprocessor
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
MARKER = re.compile(r"<!-- results: (?P<name>[\w-]+)(?P<args>[^>]*)-->")
# A fence's test words (`python notest`) are for pytest-markdown-docs, and
# superfences refuses a fence with a bare word after the language.
TEST_WORDS = re.compile(r"^(?P<fence>\s*(?:`{3,}|~{3,})\s*python)(?:\s+notest)+\s*$")
_figures = Path(tempfile.mkdtemp(prefix="oversample-docs-"))


def table(
    name: str,
    columns: list[str] | None,
    rows: str | None,
    dataset: str | None = None,
    key: str = "rows",
) -> str:
    """A markdown table of a benchmark's JSON rows (under `key`; columns, and
    regular expressions over the method and the dataset, optional)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _common import cell, header

    found = json.loads((RESULTS / f"{name}.json").read_text())[key]
    if rows:
        found = [row for row in found if re.search(rows, str(row.get("method", "")))]
    if dataset:
        found = [row for row in found if re.search(dataset, str(row.get("dataset")))]
    if not found:
        raise ValueError(
            f"benchmarks/results/{name}.json has no rows matching {rows!r}"
        )
    columns = columns or list(found[0])
    lines = ["| " + " | ".join(header(c) for c in columns) + " |"]
    lines.append("|" + "|".join("---" for _ in columns) + "|")
    for row in found:
        lines.append("| " + " | ".join(cell(row.get(c)) for c in columns) + " |")
    return "\n".join(lines)


def demo_table() -> str:
    """The table of `oversample demo`'s own run (benchmarks/results/demo.json):
    mean ± sd over seeds of every metric."""
    import statistics

    run = json.loads((RESULTS / "demo.json").read_text())
    metrics = ["balanced_accuracy", "many_shot", "medium_shot", "few_shot"]
    lines = ["| method | " + " | ".join(m.replace("_", " ") for m in metrics) + " |"]
    lines.append("|" + "|".join("---" for _ in range(len(metrics) + 1)) + "|")
    for method, runs in run["results"].items():
        cells = []
        for metric in metrics:
            values = [r[metric] for r in runs]
            sd = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.mean(values):.3f} ± {sd:.3f}")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _replace(match: re.Match[str]) -> str:
    name, args = match["name"], match["args"].split()
    if name == "demo":
        return demo_table()
    options = dict(arg.split("=", 1) for arg in args)
    columns = options["columns"].split(",") if "columns" in options else None
    return table(
        options.get("file", name),
        columns,
        options.get("rows"),
        options.get("dataset"),
        options.get("key", "rows"),
    )


def on_page_markdown(markdown: str, **_: Any) -> str:
    return MARKER.sub(_replace, markdown)


class _TestWords(Preprocessor):
    """Drops the test words from fence lines, after the snippets are included
    (priority 32) and before superfences reads the fences (25)."""

    def run(self, lines: list[str]) -> list[str]:
        return [TEST_WORDS.sub(r"\g<fence>", line) for line in lines]


class _TestWordsExtension(Extension):
    def extendMarkdown(self, md: Markdown) -> None:
        md.preprocessors.register(_TestWords(md), "oversample_test_words", 31.5)


def on_config(config: Any) -> Any:
    config.markdown_extensions.append(_TestWordsExtension())
    return config


def on_pre_build(config: Any) -> None:
    _draw_plan(_figures / "figures" / "plan.png")
    _draw_spread(_figures / "figures" / "spread.png")


def on_files(files: Any, config: Any) -> Any:
    for png in sorted(RESULTS.glob("*.png")):
        files.append(
            File.generated(config, f"results/{png.name}", abs_src_path=str(png))
        )
    for png in sorted((_figures / "figures").glob("*.png")):
        files.append(
            File.generated(config, f"figures/{png.name}", abs_src_path=str(png))
        )
    return files


def _long_tail(classes: int = 20, largest: int = 2000, imbalance: float = 50.0) -> dict:
    return {
        c: max(1, round(largest * imbalance ** (-c / (classes - 1))))
        for c in range(classes)
    }


def _draw_plan(path: Path) -> None:
    import oversample as ovs

    path.parent.mkdir(parents=True, exist_ok=True)
    ovs.plan(counts=_long_tail(), strategy="sqrt", seed=0).plot(str(path))


def _draw_spread(path: Path) -> None:
    """Where the copies of three tail samples land in one balanced epoch of a
    Python stream: with the shuffle buffer only, and with the spread."""
    import numpy as np
    from matplotlib.figure import Figure

    import oversample as ovs

    counts = _long_tail()
    labels = np.random.default_rng(0).permutation(
        np.repeat(list(counts), list(counts.values()))
    )
    examples = [{"label": int(label), "id": i} for i, label in enumerate(labels)]
    tail = [int(i) for i in np.flatnonzero(labels == max(counts))[:3]]
    figure = Figure(figsize=(8, 3.2), layout="constrained")
    axes = figure.subplots(2, 1, sharex=True)
    for axis, (title, spread) in zip(
        axes,
        [("shuffle buffer only (spread=None)", None), ("spread (default)", "auto")],
        strict=True,
    ):
        ids = [e["id"] for e in ovs.balance(examples, seed=0, epoch=0, spread=spread)]
        where = [np.flatnonzero(np.asarray(ids) == t) for t in tail]
        axis.eventplot(where, colors=["C0", "C1", "C2"], linelengths=0.8)
        axis.set_title(title, fontsize=9, loc="left")
        axis.set_yticks(range(3), [f"sample {t}" for t in tail], fontsize=8)
        axis.set_xlim(0, len(ids))
    axes[-1].set_xlabel("position in the balanced epoch")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
