"""Under load: the Sampler, the BatchSampler and the Python stream in a
DataLoader with 4 persistent workers over 20 epochs, and a stream of
`epochs=20`. Per epoch: is it exactly the plan's epoch; the resident memory
of the main process and of the workers after each epoch (from /proc, Linux).

Run: python benchmarks/bench_endurance.py [--samples 50000] [--epochs 20]
Writes benchmarks/results/endurance.{json,md}.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from _common import out_folder, run_in_child, write_results

METHODS = [
    "Sampler, 4 persistent workers",
    "BatchSampler(256), 4 persistent workers",
    "stream, set_epoch, 4 persistent workers",
    "stream, epochs=E, 4 workers",
]


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _labels(samples: int) -> np.ndarray:
    shares = 100.0 ** (-np.arange(100) / 99)
    sizes = np.maximum(1, np.round(samples * shares / shares.sum())).astype(int)
    return np.random.default_rng(0).permutation(np.repeat(np.arange(100), sizes))


def measure(method: str, samples: int, epochs: int) -> dict[str, Any]:
    """One method over `epochs` epochs (in a child process)."""
    import os
    import warnings

    import torch

    import oversample as ovs

    warnings.filterwarnings("ignore", message="This DataLoader will create")
    labels = _labels(samples)
    plan = ovs.plan(labels, seed=0)
    loader_args: dict[str, Any] = {"num_workers": 4, "persistent_workers": True}
    sampler = stream = None
    if method.startswith("stream"):
        examples = [{"label": int(x), "id": i} for i, x in enumerate(labels)]
        whole = "epochs=E" in method
        chosen = {"epochs": epochs} if whole else {}  # epochs=None is endless
        stream = ovs.balance(examples, seed=0, **chosen)
        if whole:
            loader_args = {"num_workers": 4}
        loader = torch.utils.data.DataLoader(stream, batch_size=256, **loader_args)
    else:
        dataset = torch.utils.data.TensorDataset(torch.arange(labels.size))
        sampler = ovs.Sampler(plan)
        if method.startswith("BatchSampler"):
            batches = ovs.BatchSampler(sampler, 256)
            loader = torch.utils.data.DataLoader(
                dataset, batch_sampler=batches, **loader_args
            )
        else:
            loader = torch.utils.data.DataLoader(
                dataset, sampler=sampler, batch_size=256, **loader_args
            )
    exact, main_rss, worker_rss = 0, [], []
    rounds = 1 if method.endswith("epochs=E, 4 workers") else epochs
    for epoch in range(rounds):
        for target in (sampler, stream):
            if target is not None and not method.endswith("4 workers"):
                target.set_epoch(epoch)
        iterator = iter(loader)
        ids = []
        for batch in iterator:
            ids.append(np.array(batch["id"] if isinstance(batch, dict) else batch[0]))
        got = np.bincount(np.concatenate(ids), minlength=labels.size)
        want = (
            np.sum([plan.copies(e) for e in range(epochs)], axis=0)
            if rounds == 1
            else plan.copies(epoch)
        )
        exact += int(np.array_equal(got, want)) * (epochs if rounds == 1 else 1)
        main_rss.append(_rss_mib(os.getpid()))
        workers = getattr(iterator, "_workers", [])
        worker_rss.append(sum(_rss_mib(w.pid) for w in workers if w.is_alive()))
    return {
        "epochs": epochs,
        "exact_epochs": exact,
        "main_rss_first_mib": main_rss[0],
        "main_rss_last_mib": main_rss[-1],
        "main_rss_growth_mib": max(main_rss) - main_rss[0],
        "workers_rss_first_mib": worker_rss[0],
        "workers_rss_last_mib": worker_rss[-1],
        "workers_rss_growth_mib": max(worker_rss) - worker_rss[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=50_000)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--methods", nargs="*", default=METHODS)
    parser.add_argument("--out", default=None, help="results folder")
    args = parser.parse_args()
    rows = []
    for method in args.methods:
        row = run_in_child(
            "bench_endurance",
            "measure",
            method=method,
            samples=args.samples,
            epochs=args.epochs,
        )
        rows.append({"method": method, **row})
        print(f"{method}: {row['exact_epochs']}/{args.epochs} exact", flush=True)
    meta = {"samples": args.samples, "note": "RSS after each epoch, /proc VmRSS"}
    path = write_results("endurance", rows, meta, out_folder(args.out))
    print(path.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
