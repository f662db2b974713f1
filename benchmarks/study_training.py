"""Training study on digits20_lt: the same small model, the same number of
optimisation steps, balanced six ways (Keras) and three ways (PyTorch), over
several seeds; balanced accuracy and many/medium/few-shot accuracy on the
balanced test split.

Run: python benchmarks/study_training.py [--seeds 5] [--steps 1200]
Writes benchmarks/results/study.{json,md,png}.

Shots follow the train counts (2,000 down to 40 images per class): many-shot
classes have >= 500 train images, few-shot < 100, medium-shot the rest.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import out_folder, write_results

from oversample.demo import FEW, MANY, cnn, scores

KERAS = [
    "no balancing",
    "class_weight",
    "oversample all",
    "oversample sqrt",
    "oversample Progressive",
    "oversample RepeatFactor",
]
TORCH = ["torch: no balancing", "torch: oversample all", "torch: Progressive"]
BATCH = 128
PROGRESSIVE_EPOCHS = 5  # the schedule ends about two thirds into 1,200 steps
REPEAT_THRESHOLD = 0.1
DATA = Path(__file__).parent / ".data" / "tfds"


def load(data_dir: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    import tensorflow_datasets as tfds

    importlib.import_module("oversample.datasets")  # registers digits20_lt
    builder = tfds.builder("digits20_lt", data_dir=str(data_dir))
    builder.download_and_prepare()
    out = {}
    for split in ("train", "test"):
        ds = builder.as_dataset(split=split, shuffle_files=False, batch_size=-1)
        arrays = tfds.as_numpy(ds)
        out[split] = (arrays["image"], arrays["label"].astype(np.int64))
    return out


def _strategy(method: str) -> Any:
    import oversample as ovs

    return {
        "all": "all",
        "sqrt": "sqrt",
        "Progressive": ovs.Progressive(epochs=PROGRESSIVE_EPOCHS),
        "RepeatFactor": ovs.RepeatFactor(REPEAT_THRESHOLD),
    }[method.split()[-1]]


def keras_run(method: str, data: dict, seed: int, steps: int) -> np.ndarray:
    """Trains one Keras model; returns the test predictions."""
    import tensorflow as tf

    import oversample as ovs

    images, labels = data["train"]
    model = cnn(seed)
    source = tf.data.Dataset.from_tensor_slices({"image": images, "label": labels})
    weights = None
    if method.startswith("oversample"):
        ds = ovs.balance(source, strategy=_strategy(method), seed=seed, epochs=None)
    else:
        ds = source.shuffle(len(labels), seed=seed).repeat()
        if method == "class_weight":
            counts = np.bincount(labels)
            weights = dict(enumerate((len(labels) / (20 * counts)).tolist()))
    ds = ds.map(lambda e: (e["image"], e["label"])).batch(BATCH).take(steps)
    model.fit(ds.prefetch(2), epochs=1, verbose=0, class_weight=weights)
    logits = model.predict(data["test"][0], batch_size=512, verbose=0)
    return np.asarray(logits.argmax(axis=1))


def torch_run(method: str, data: dict, seed: int, steps: int) -> np.ndarray:
    """Trains the same model in PyTorch, fed by a DataLoader; returns test
    predictions. The oversampled runs use ovs.Sampler, one epoch at a time."""
    import torch
    from torch.utils.data import DataLoader

    import oversample as ovs

    images, labels = data["train"]
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(32 * 3 * 3, 64),
        torch.nn.ReLU(),
        torch.nn.Linear(64, 20),
    )
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    dataset = _Batches(torch.from_numpy(images), torch.from_numpy(labels))
    if method == "torch: no balancing":
        generator = torch.Generator().manual_seed(seed)
        batches: Any = torch.utils.data.BatchSampler(
            torch.utils.data.RandomSampler(dataset, generator=generator), BATCH, False
        )
    else:
        strategy = "all" if method.endswith("all") else _strategy("Progressive")
        batches = ovs.BatchSampler(
            ovs.Sampler(ovs.plan(labels, strategy, seed=seed)), BATCH
        )
    # NOTE: a batch sampler and a dataset with __getitems__: one call per batch.
    loader = DataLoader(dataset, batch_sampler=batches, collate_fn=_as_is)
    done, epoch = 0, 0
    while done < steps:
        if isinstance(batches, ovs.BatchSampler):
            batches.set_epoch(epoch)
        for batch, target in loader:
            optimiser.zero_grad()
            torch.nn.functional.cross_entropy(model(batch), target).backward()
            optimiser.step()
            done += 1
            if done == steps:
                break
        epoch += 1
    test = torch.from_numpy(data["test"][0]).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        return model(test).argmax(dim=1).numpy()


class _Batches:
    """Images and labels as a map-style dataset that reads a batch per call."""

    def __init__(self, images: Any, labels: Any) -> None:
        self.images = images.permute(0, 3, 1, 2).float() / 255
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitems__(self, indices: list[int]) -> tuple[Any, Any]:
        return self.images[indices], self.labels[indices]


def _as_is(batch: Any) -> Any:
    return batch


def _summary(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {sd:.3f}"


def plot(raw: dict[str, list[dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = ["balanced_accuracy", "many_shot", "medium_shot", "few_shot"]
    figure, axis = plt.subplots(figsize=(10, 4.8))
    width = 0.8 / len(raw)
    for i, (method, runs) in enumerate(raw.items()):
        values = [[r[k] for r in runs] for k in keys]
        axis.bar(
            [k + i * width for k in range(len(keys))],
            [statistics.mean(v) for v in values],
            width,
            yerr=[statistics.stdev(v) if len(v) > 1 else 0.0 for v in values],
            label=method,
            capsize=2,
        )
    axis.set_xticks([k + 0.4 - width / 2 for k in range(len(keys))], keys)
    axis.set_ylabel("test accuracy (balanced test split)")
    axis.set_ylim(0, 1)
    axis.legend(fontsize=7, ncol=3, loc="lower left")
    axis.set_title("digits20_lt: the same model and steps, balanced several ways")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--methods", nargs="*", default=None)
    parser.add_argument("--data-dir", default=str(DATA))
    parser.add_argument("--out", default=None, help="results folder")
    args = parser.parse_args()
    data = load(Path(args.data_dir))
    counts = np.bincount(data["train"][1], minlength=20)
    methods = args.methods or KERAS + _torch_methods()
    raw: dict[str, list[dict]] = {}
    for method in methods:
        run = torch_run if method.startswith("torch") else keras_run
        raw[method] = []
        for seed in range(args.seeds):
            start = time.perf_counter()
            predicted = run(method, data, seed, args.steps)
            raw[method].append(scores(predicted, data["test"][1], counts))
            took = time.perf_counter() - start
            print(f"{method} seed {seed}: {raw[method][-1]} ({took:.0f} s)", flush=True)
    rows = [
        {"method": method, **{k: _summary([r[k] for r in runs]) for k in runs[0]}}
        for method, runs in raw.items()
    ]
    meta = {
        "seeds": args.seeds,
        "steps": args.steps,
        "batch": BATCH,
        "train_counts": counts.tolist(),
        "many_shot_min": MANY,
        "few_shot_below": FEW,
        "progressive_epochs": PROGRESSIVE_EPOCHS,
        "repeat_threshold": REPEAT_THRESHOLD,
        "runs": raw,
    }
    folder = out_folder(args.out) or Path(__file__).parent / "results"
    path = write_results("study", rows, meta, folder)
    plot(raw, folder / "study.png")
    print(path.with_suffix(".md").read_text())


def _torch_methods() -> list[str]:
    return TORCH if importlib.util.find_spec("torch") else []


if __name__ == "__main__":
    main()
