"""Training study: where oversampling wins on a long tail, and where it does not.

The same small CNN trains for the same optimisation steps of 128 images in
fifteen ways, over several seeds, on two long-tailed sets built offline from
scikit-learn's digits (`oversample.datasets.digits20_lt`): digits20_lt itself
(20 classes, 2,000 train images down to 40, imbalance 50) and a harder one
built the same way with imbalance 250 (2,000 down to 8). Every method sees
the same augmentation family (a shift of up to 2 pixels, random contrast and
brightness, stateless), each copy its own view through `copy_seeds=True`,
except the one marked "identical copies":

- no balancing: every sample once per epoch;
- class_weight: the same stream, Keras class weights n / (C * n_c);
- balance: every class at the largest count, each copy a new view;
- balance, identical copies: the same without augmentation (the copies are
  bit-identical, the setting of the demo before copy seeds);
- balance sqrt: targets by the square root of the counts;
- Progressive: `ovs.Progressive(epochs=5)`, instance- to class-balanced;
- deferred: the plain stream for 2/3 of the steps, balanced for the last 1/3
  (deferred re-sampling, Cao et al. 2019);
- decoupled (cRT): the plain stream for 5/6 of the steps, then the classifier
  alone, re-initialised, on a balanced stream (Kang et al. 2020);
- logit-adjusted loss: the plain stream, cross-entropy of the logits plus
  tau * log(prior), tau = 1, plain logits at test (Menon et al. 2021);
- post-hoc logit adjustment: the plain stream and loss, the test logits minus
  tau * log(prior) (Menon et al. 2021);
- balanced softmax: the plain stream, softmax of the logits plus log(n_c)
  during training (Ren et al. 2020; at tau = 1 the same loss as logit
  adjustment, run as its own arm);
- balance + logit-adjusted loss: the balanced stream with the source's prior
  in the loss (the balanced stream's own prior is uniform, and a uniform
  adjustment changes nothing: this is the combination that does something);
- balance sqrt + logit-adjusted loss: square-root sampling, and the loss
  adjusted by that stream's prior (the rest of the correction);
- Progressive by epoch, ledger / old rotation: `Progressive(epochs=5)` epoch
  by epoch, each epoch a plan of the rule's per-sample copies, with the
  extras rotated by the ledger (the rule now) or by t * e_t (the rule before
  the ledger, computed here from the rule's arrays, not in the library).
  For both, the largest difference in uses between two samples of a class
  after each epoch the run completes is recorded as well.

Scores on the balanced test split (100 images per class): balanced accuracy
and the accuracy of the many-shot (>= 500 train images), medium-shot and
few-shot (< 100) classes. Each method is compared with class_weight seed by
seed (the same seeds): the mean paired difference, its standard deviation,
and "wins" when the difference of means is more than two standard deviations
of either method's seeds; below the table, balance against each loss-side
method by the same rule.

Run: python benchmarks/study_training.py [--seeds 5] [--steps 1200]
Writes benchmarks/results/study.{json,md,png}. `--methods A B --merge` runs
only those arms and merges them into the existing study.json (the other
arms' runs kept; `meta.history` records which arms ran when, and their
seconds).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import out_folder, write_results

from oversample.training import (
    BATCH,
    FEW,
    MANY,
    METRICS,
    PROGRESSIVE_EPOCHS,
    Method,
    batches,
    compare,
    decision_logits,
    methods,
    scores,
    train,
)

DATASETS = {"digits20_lt": 50.0, "digits20_lt, imbalance 250": 250.0}
REFERENCE = "class_weight"
COMPARED = (("balanced_accuracy", "balanced"), ("few_shot", "few"))  # and columns
ROTATIONS = {
    "Progressive by epoch, ledger": "ledger",
    "Progressive by epoch, old rotation": "old",
}
LOSS_SIDE = ("logit-adjusted loss", "post-hoc logit adjustment", "balanced softmax")
COMBINED = ("balance + logit-adjusted loss", "balance sqrt + logit-adjusted loss")
FAMILIES = {  # the plot's colours
    "loss-side": LOSS_SIDE,
    "sampling + loss": COMBINED,
    "Progressive": ("Progressive", *ROTATIONS),
    "baselines": ("no balancing", REFERENCE),
}
WINS_RULE = "difference of means > 2 x the larger standard deviation"


def arms() -> list[str]:
    """Every arm of the study, in the table's order."""
    return [*methods(), *ROTATIONS]


def load(imbalance: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Both splits of digits20_lt's images with a tail of `imbalance`."""
    from oversample.datasets import digits20_lt

    rows = digits20_lt.splits(digits20_lt.profile(imbalance))
    return {
        split: (
            np.stack([image for image, _ in found]),
            np.array([label for _, label in found], np.int64),
        )
        for split, found in rows.items()
    }


def epoch_copies(plan: Any, epoch: int, rotation: str) -> np.ndarray:
    """Every sample's copies in `epoch` of a class plan made from labels, with
    the extras rotated by the ledger (the rule's own, "ledger") or by t * e_t
    ("old": the rule before the ledger, which assumed the same extras e in
    every epoch)."""
    rule = plan.class_rule.at(epoch)
    if rotation == "old":
        size = rule.counts
        rule = dataclasses.replace(rule, rotation=epoch % size * rule.extras % size)
    members = plan.members
    return rule.copies(members.codes, members.occurrences)


def epochs_run(plan: Any, elements: int) -> tuple[int, int]:
    """How many epochs of `plan` a stream of `elements` elements starts, and
    how many it completes."""
    ends = [0]
    while ends[-1] < elements:
        ends.append(ends[-1] + sum(plan.targets_at(len(ends) - 1).values()))
    return len(ends) - 1, sum(end <= elements for end in ends[1:])


def differences(plan: Any, epochs: int, rotation: str) -> list[int]:
    """After each of `epochs` epochs: the largest difference in uses (copies
    counted from epoch 0) between two samples of one class."""
    codes = plan.members.codes
    uses = np.zeros(codes.size, np.int64)
    out = []
    for epoch in range(epochs):
        uses += epoch_copies(plan, epoch, rotation)
        high = np.full(len(plan.classes), np.iinfo(np.int64).min)
        low = np.full(len(plan.classes), np.iinfo(np.int64).max)
        np.maximum.at(high, codes, uses)
        np.minimum.at(low, codes, uses)
        out.append(int((high - low).max()))
    return out


def fairness(labels: np.ndarray, seeds: int, steps: int) -> dict[str, Any]:
    """Per rotation and seed, the largest difference in uses between two
    samples of a class after each epoch the run completes."""
    import oversample as ovs

    out: dict[str, Any] = {}
    for rotation in ("ledger", "old"):
        found = []
        for seed in range(seeds):
            plan = ovs.plan(labels, ovs.Progressive(PROGRESSIVE_EPOCHS), seed=seed)
            completed = epochs_run(plan, steps * BATCH)[1]
            found.append(differences(plan, completed, rotation))
        out[rotation] = found
    return out


def rotation_stream(
    source: Any, labels: np.ndarray, seed: int, steps: int, rotation: str
) -> Any:
    """The Progressive arm's (image, label) batches, epoch by epoch: each
    epoch the per-sample copies that `rotation` gives, streamed by the
    library as a plan of those copies (the same copy seeds, hence the same
    views, as its Progressive stream), then put in a seeded global order."""
    import tensorflow as tf

    import oversample as ovs

    plan = ovs.plan(labels, ovs.Progressive(PROGRESSIVE_EPOCHS), seed=seed)
    columns: list[tuple[np.ndarray, ...]] = []
    for epoch in range(epochs_run(plan, steps * BATCH)[0]):
        copies = epoch_copies(plan, epoch, rotation)
        ds = ovs.duplicate(
            source,
            plan=ovs.plan(weights=copies, seed=seed),
            epoch=epoch,
            copy_seeds=True,
            provenance=True,
        )
        found = [
            (
                element["image"],
                element["label"],
                marks["seed"],
                marks["key"],
                marks["copy"],
            )
            for element, marks in ds.batch(8192).as_numpy_iterator()
        ]
        image, label, copy_seed, key, copy = (
            np.concatenate(c) for c in zip(*found, strict=True)
        )
        # NOTE: a plan of per-sample copies is not spread: its copies would
        # meet in the shuffle buffer (15 repeated images in a batch of 128,
        # against 2 in the library's Progressive stream, which holds every
        # sample and spaces its copies over the epoch). Here too each
        # sample's copies are spaced evenly over the epoch, from a seeded
        # start: copy j of a sample with c copies at (j + u) / c.
        start = np.random.default_rng([seed, epoch]).random(copies.size)
        order = np.argsort((copy + start[key]) / copies[key], kind="stable")
        columns.append((image[order], label[order], copy_seed[order]))
    images, classes, seeds = (np.concatenate(c) for c in zip(*columns, strict=True))
    ds = tf.data.Dataset.from_tensor_slices(
        ({"image": images, "label": classes}, {"seed": seeds})
    )
    return batches(ds, True)


def run(name: str, data: dict, seed: int, steps: int) -> dict[str, float]:
    import tensorflow as tf

    import oversample as ovs

    images, labels = data["train"]
    source = tf.data.Dataset.from_tensor_slices({"image": images, "label": labels})
    counts = np.bincount(labels, minlength=20)
    if name in ROTATIONS:
        method = Method(ovs.Progressive(epochs=PROGRESSIVE_EPOCHS))
        first = rotation_stream(source, labels, seed, steps, ROTATIONS[name])
    else:
        method, first = methods()[name], None
    model = train(method, source, counts, seed, steps, first=first)
    test_images, test_labels = data["test"]
    logits = model.predict(test_images.astype(np.float32), batch_size=512, verbose=0)
    logits = decision_logits(method, np.asarray(logits), counts)
    return scores(logits.argmax(axis=1), test_labels, counts)


def _sd(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def _summary(values: list[float]) -> str:
    return f"{statistics.mean(values):.3f} ± {_sd(values):.3f}"


def plot(raw: dict[str, dict[str, list[dict]]], path: Path) -> None:
    """One row of panels per dataset, one panel per metric, the methods down
    the side: every seed a dot, the mean a bar, class_weight's mean dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(next(iter(raw.values())))
    colour = {}
    for place, (family, members) in enumerate(FAMILIES.items(), start=1):
        colour.update({m: (f"C{place}", family) for m in members})
    figure, axes = plt.subplots(
        len(raw),
        len(METRICS),
        figsize=(16, 0.75 + 0.32 * len(names) * len(raw)),
        squeeze=False,
        sharey=True,
    )
    for row, (dataset, results) in zip(axes, raw.items(), strict=True):
        for axis, metric in zip(row, METRICS, strict=True):
            for place, name in enumerate(names):
                values = [r[metric] for r in results.get(name, [])]
                if not values:
                    continue
                hue = colour.get(name, ("C0", "sampling"))[0]
                mean = statistics.mean(values)
                axis.vlines(mean, place - 0.35, place + 0.35, colors=hue, linewidth=3)
                axis.scatter(values, [place] * len(values), color=hue, s=12, zorder=3)
            reference = [r[metric] for r in results[REFERENCE]]
            axis.axvline(statistics.mean(reference), color="0.4", ls="--", lw=0.8)
            axis.set_title(f"{dataset}: {metric.replace('_', ' ')}", fontsize=9)
            axis.grid(axis="x", alpha=0.3)
            axis.tick_params(axis="x", labelsize=8)
        row[0].set_yticks(range(len(names)), names, fontsize=8)
    axes[0][0].invert_yaxis()  # shared by every panel: the table's order
    handles = [
        plt.Line2D([], [], color=f"C{place}", lw=3, label=family)
        for place, family in enumerate(["sampling", *FAMILIES])
    ]
    figure.legend(handles=handles, loc="upper right", ncol=len(handles), fontsize=8)
    figure.suptitle(
        "the same CNN and steps, one augmentation family; dots are seeds, bars"
        " means, dashed: class_weight",
        x=0.02,
        ha="left",
    )
    figure.tight_layout(rect=(0, 0, 1, 0.97))
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--methods", nargs="*", default=None, choices=arms())
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS))
    parser.add_argument("--out", default=None, help="results folder")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="merge these arms into the folder's study.json, keeping the others",
    )
    parser.add_argument(
        "--redraw",
        action="store_true",
        help="only rewrite study.md and study.png from the folder's study.json",
    )
    args = parser.parse_args()
    folder = out_folder(args.out) or Path(__file__).parent / "results"
    if args.redraw:
        save(json.loads((folder / "study.json").read_text())["meta"], folder)
        return
    meta = start(folder, args)
    names = args.methods or arms()
    if REFERENCE not in names and not args.merge:
        names = [REFERENCE, *names]
    seconds: dict[str, float] = {}
    for dataset in args.datasets:
        data = load(DATASETS[dataset])
        labels = data["train"][1]
        meta["train_counts"][dataset] = np.bincount(labels, minlength=20).tolist()
        if any(name.startswith("Progressive") for name in names):
            meta["fairness"][dataset] = fairness(labels, args.seeds, args.steps)
        found = meta["runs"].setdefault(dataset, {})
        for name in names:
            if found.get(name):  # runs of an earlier version, kept apart
                meta["superseded"].setdefault(dataset, {})[name] = found[name]
            found[name] = []
        for seed in range(args.seeds):
            for name in names:
                begun = time.perf_counter()
                found[name].append(run(name, data, seed, args.steps))
                took = time.perf_counter() - begun
                seconds[dataset] = seconds.get(dataset, 0.0) + took
                got = found[name][-1]
                print(
                    f"{dataset} | {name} | seed {seed}: balanced"
                    f" {got['balanced_accuracy']:.3f}, few {got['few_shot']:.3f}"
                    f" ({took:.0f} s)",
                    flush=True,
                )
    meta["history"].append(
        {
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M"),
            "methods": names,
            "datasets": args.datasets,
            "seconds": seconds,
        }
    )
    path = save(meta, folder)
    print(path.with_suffix(".md").read_text())


def start(folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The study's meta to add this run to: the folder's study.json with
    `--merge` (which must hold the reference and the same seeds and steps),
    else a fresh one."""
    meta: dict[str, Any] = {
        "seeds": args.seeds,
        "steps": args.steps,
        "batch": BATCH,
        "train_counts": {},
        "many_shot_min": MANY,
        "few_shot_below": FEW,
        "reference": REFERENCE,
        "wins_rule": WINS_RULE,
        "history": [],
        "fairness": {},
        "superseded": {},
        "runs": {},
    }
    if not args.merge:
        return meta
    old = json.loads((folder / "study.json").read_text())["meta"]
    for key in ("seeds", "steps"):
        if old[key] != meta[key]:
            raise SystemExit(
                f"--merge: {folder / 'study.json'} holds runs of --{key} {old[key]};"
                f" got --{key} {meta[key]}. Run with the same {key}, or without"
                " --merge to start a new study."
            )
    missing = [d for d in args.datasets if REFERENCE not in old["runs"].get(d, {})]
    if missing and REFERENCE not in (args.methods or []):
        raise SystemExit(
            f"--merge: {folder / 'study.json'} has no {REFERENCE} runs on"
            f" {missing}; add {REFERENCE} to --methods."
        )
    return {**meta, **old}


def save(meta: dict[str, Any], folder: Path) -> Path:
    """The table (every method against class_weight, seed by seed), the
    findings below it, the JSON and the plot of the runs in `meta`."""
    order = {name: place for place, name in enumerate(arms())}
    for dataset, results in meta["runs"].items():
        ranked = sorted(results, key=lambda name: order.get(name, len(order)))
        meta["runs"][dataset] = {name: results[name] for name in ranked}
    rows = []
    for dataset, results in meta["runs"].items():
        for name, runs in results.items():
            row: dict[str, Any] = {"dataset": dataset, "method": name}
            row.update({m: _summary([r[m] for r in runs]) for m in METRICS})
            for metric, column in COMPARED:
                found = compare(runs, results[REFERENCE], metric)
                row[f"{column}_vs_{REFERENCE}"] = _cell(found)
            rows.append(row)
    path = write_results("study", rows, meta, folder)
    table = path.with_suffix(".md")
    table.write_text(table.read_text() + findings(meta))
    plot(meta["runs"], folder / "study.png")
    return path


def _cell(found: dict[str, Any]) -> str:
    verdict = "wins" if found["wins"] else "loses" if found["loses"] else ""
    return f"{found['difference']:+.3f} ± {found['paired_sd']:.3f} {verdict}".strip()


def _verdict(found: dict[str, Any], mine: str, theirs: str) -> str:
    """One comparison in words, by the wins rule."""
    margin = f"{found['difference']:+.3f}, two sd {2 * found['spread']:.3f}"
    if found["wins"]:
        return f"{mine} ahead ({margin})"
    if found["loses"]:
        return f"{theirs} ahead ({margin})"
    return f"not separated ({margin})"


def _both(mine: list[dict], theirs: list[dict], me: str, them: str) -> str:
    """Balanced and few-shot accuracy compared, in words."""
    return "; ".join(
        f"{label} {_verdict(compare(mine, theirs, metric), me, them)}"
        for metric, label in (
            ("balanced_accuracy", "balanced"),
            ("few_shot", "few-shot"),
        )
    )


def findings(meta: dict[str, Any]) -> str:
    """The section under the table: balance (a view per copy) against each
    loss-side method and each combination, and the two rotations of
    Progressive, by the wins rule, on each dataset the runs hold."""
    lines = [
        "",
        "## Balance against the loss-side methods",
        "",
        "`balance` (every class at the largest count, a view per copy) against"
        " each loss-side method and combination, the same seeds; a side is"
        f" ahead when {WINS_RULE} (margin: balance minus the other; two sd: twice"
        " the larger standard deviation).",
        "",
    ]
    for dataset, results in meta["runs"].items():
        if "balance" not in results:
            continue
        for name in (n for n in (*LOSS_SIDE, *COMBINED) if n in results):
            said = _both(results["balance"], results[name], "balance", name)
            lines.append(f"- {dataset}, balance vs {name}: {said}.")
    lines += [
        "",
        "The prior of a combination: logit adjustment is consistent for the"
        " balanced error when its prior is the class frequencies of the stream"
        " the model trains on. For the balanced stream that prior is uniform, the"
        " adjustment a constant, and the combination exactly `balance` (not run"
        " again); `balance + logit-adjusted loss` therefore adds the source's"
        " prior on top of balanced sampling (the correction twice), and"
        " `balance sqrt + logit-adjusted loss` corrects with its own stream's"
        " prior what square-root sampling leaves. Balanced softmax is logit"
        " adjustment at tau = 1 (log n_c = log prior_c + log N), so its"
        " combinations are those above.",
    ]
    rotations = [n for n in ROTATIONS if all(n in r for r in meta["runs"].values())]
    if len(rotations) == 2:
        lines += ["", "## Progressive: the ledger against the old rotation", ""]
        for dataset, results in meta["runs"].items():
            ledger, old = (results[n] for n in rotations)
            said = _both(ledger, old, "ledger", "old rotation")
            fair = meta["fairness"].get(dataset, {})
            uses = {k: max(max(s, default=0) for s in v) for k, v in fair.items()}
            epochs = len(fair["ledger"][0]) if fair else 0
            lines.append(
                f"- {dataset}: {said}. Largest difference in uses"
                f" between two samples of a class over the {epochs} epochs the"
                f" run completes: {uses.get('ledger')} with the ledger,"
                f" {uses.get('old')} with the old rotation."
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
