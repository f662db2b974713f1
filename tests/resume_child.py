"""Restores every saved state of the resume battery in this fresh process and
prints what each restored iterator yields (JSON on stdout).

Run by tests/test_resume_battery.py: python resume_child.py manifest.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import resume_cases


def _restore_tf(case: dict, pipelines: dict) -> list:
    import tensorflow as tf

    key = json.dumps(case["config"], sort_keys=True)
    if key not in pipelines:
        pipelines[key] = resume_cases.pipeline(case["config"])
    iterator = iter(pipelines[key])
    tf.train.Checkpoint(iterator=iterator).read(case["path"]).assert_consumed()
    return [resume_cases.identify(e) for e in iterator]


def _restore_sampler(case: dict) -> list:
    restored = resume_cases.sampler(case["config"])
    restored.load_state_dict(case["state"])
    return list(restored)


def main() -> None:
    cases = json.loads(Path(sys.argv[1]).read_text())
    pipelines: dict = {}
    out = []
    for case in cases:
        if case["kind"] == "tf":
            out.append(_restore_tf(case, pipelines))
        else:
            out.append(_restore_sampler(case))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
