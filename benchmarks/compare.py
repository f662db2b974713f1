"""One method of a benchmark in two checkouts, side by side: rounds in
alternating order, each measure in its own process with that checkout's
sources first on the path; prints each round and the median ratio.

Run (from a checkout, with another beside it, e.g. `git worktree add ../base
<commit>`):
    python benchmarks/compare.py ../base . bench_stream \\
        "oversample.balance exact, counts given" seconds --rounds 8 \\
        --kwargs '{"classes": 100, "largest": 2000, "repeats": 1, "budget": 20}'
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any


def measure(
    tree: Path, module: str, method: str, key: str, kwargs: dict[str, Any]
) -> float:
    """`module.measure(method, **kwargs)[key]` run in `tree`."""
    code = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(tree / 'benchmarks')!r})\n"
        f"from {module} import measure\n"
        f"result = measure(method={method!r}, **json.loads({json.dumps(kwargs)!r}))\n"
        f"print('RESULT=' + json.dumps(result[{key!r}]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=tree / "benchmarks",
        check=False,
    )
    lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT=")]
    if done.returncode or not lines:
        raise RuntimeError(done.stderr[-3000:])
    return float(json.loads(lines[-1][len("RESULT=") :]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("module")
    parser.add_argument("method")
    parser.add_argument("key")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--kwargs", default="{}")
    args = parser.parse_args()
    kwargs = json.loads(args.kwargs)
    trees = (args.before.resolve(), args.after.resolve())
    ratios = []
    for round_ in range(args.rounds):
        order = trees if round_ % 2 == 0 else trees[::-1]
        found = {
            tree: measure(tree, args.module, args.method, args.key, kwargs)
            for tree in order
        }
        ratios.append(found[trees[1]] / found[trees[0]])
        print(round_, found[trees[0]], found[trees[1]], f"{ratios[-1]:.3f}", flush=True)
    print(f"median after/before: {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
