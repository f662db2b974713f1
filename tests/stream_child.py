"""Restores a saved StatefulDataLoader state into a fresh process and prints
the ids of what the loader yields after it (JSON on stdout).

Run by tests/test_iterables.py: python stream_child.py case.pkl
"""

from __future__ import annotations

import json
import pickle
import sys

from torchdata.stateful_dataloader import StatefulDataLoader  # imports torch first

import stream_cases


def main() -> None:
    with open(sys.argv[1], "rb") as file:
        case = pickle.load(file)
    stream = stream_cases.stream(case["kind"], case["seed"], **case["options"])
    loader = StatefulDataLoader(stream, batch_size=16, num_workers=case["workers"])
    loader.load_state_dict(case["state"])
    print(json.dumps([i for batch in loader for i in batch["id"].tolist()]))


if __name__ == "__main__":
    main()
