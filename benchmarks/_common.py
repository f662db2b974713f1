"""Shared helpers for the benchmark scripts: timing, child-process memory, output."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def median_seconds(fn: Callable[[], object], repeats: int) -> tuple[float, list[float]]:
    """Runs `fn` `repeats` times; returns the median and all wall times."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def status_mib(field: str) -> float:
    """A memory field of this process (VmRSS, VmHWM, ...) in MiB (Linux)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_peak() -> None:
    """Starts the process's peak RSS (VmHWM) afresh, so that what setup freed
    does not count (Linux: writing 5 to clear_refs)."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def run_in_child(module: str, function: str, **kwargs: Any) -> dict[str, Any]:
    """Runs `module.function(**kwargs)` in a fresh interpreter.

    The function returns a JSON-able dict; the child adds its peak RSS (MiB).

    NOTE: Linux carries the parent's RSS high-water mark into `ru_maxrss` of a
    forked child, so the parent that calls this must stay small: it only
    orchestrates, every measured method runs here.
    """
    code = (
        "import json, resource, sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        f"from {module} import {function} as run\n"
        f"result = run(**json.loads({json.dumps(json.dumps(kwargs))}))\n"
        "result['peak_rss_mib'] = "
        "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "print('RESULT=' + json.dumps(result))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT=")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{module}.{function} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(lines[-1][len("RESULT=") :]))


def write_results(
    name: str,
    rows: list[dict[str, Any]],
    meta: dict[str, Any],
    folder: Path | None = None,
) -> Path:
    """Writes rows as JSON and a markdown table (default: benchmarks/results/)."""
    folder = RESULTS if folder is None else folder
    folder.mkdir(parents=True, exist_ok=True)
    meta = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        **meta,
    }
    path = folder / f"{name}.json"
    path.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    columns = list(rows[0])
    lines = [
        "| " + " | ".join(header(c) for c in columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(cell(row[c]) for c in columns) + " |")
    (folder / f"{name}.md").write_text("\n".join(lines) + "\n")
    return path


def out_folder(text: str | None) -> Path | None:
    """The --out argument of every benchmark script."""
    return None if text is None else Path(text)


# How a column's words read in a table header: units and names as written.
_WORDS = {
    "mib": "MiB",
    "rss": "RSS",
    "us": "µs",
    "x": "\N{MULTIPLICATION SIGN}",
    "np": "np.",
}
_UNITS = {"s": "s", "mib": "MiB"}


def header(column: str) -> str:
    """A column name as a table header: `peak_rss_mib` reads "peak RSS (MiB)",
    `elements_per_s` "elements/s", `us per element` "µs per element"."""
    words = (column if " " in column else column.replace("_", " ")).split()
    unit = ""
    if len(words) > 2 and words[-2:] == ["per", "s"]:
        words = [*words[:-3], f"{words[-3]}/s"]
    elif len(words) > 1 and words[-1].lower() in _UNITS:
        unit = f" ({_UNITS[words.pop().lower()]})"
    text = " ".join(_WORDS.get(word.lower(), word) for word in words)
    return text.replace("np. ", "np.") + unit


def cell(value: object) -> str:
    """A table cell: thousands separated, three significant digits below 100,
    never an exponent (999.7 reads "1,000")."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)
