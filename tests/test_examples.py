"""Every script in examples/ runs to the end (each asserts its own results)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

# NOTE: the examples that start worker processes, a Beam pipeline or a Ray
# cluster run in the second tier (README, Testing).
HEAVY = {"multi_worker.py", "beam_count.py", "ray_balance.py"}
EXAMPLES = [
    pytest.param(path, marks=pytest.mark.heavy) if path.name in HEAVY else path
    for path in sorted((Path(__file__).parent.parent / "examples").glob("*.py"))
]


def _requires(script: Path) -> list[str]:
    """Modules named on the docstring's `Requires:` line."""
    found = re.search(r"Requires: ([\w, ]+)\.", script.read_text())
    return [name.strip() for name in found.group(1).split(",")] if found else []


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: Path(p).name)
def test_example_runs(script: Path):
    for module in _requires(script):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{script.name} requires {module}")
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip()
