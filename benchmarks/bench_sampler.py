"""Random-access job: one epoch of indices at 10^6 and 10^7 labels, 1,000
classes, balanced to the largest class, by the Sampler and by its peers.

Run: python benchmarks/bench_sampler.py [--sizes 1000000 10000000] [--repeats 3]
Writes benchmarks/results/sampler.{json,md}. Each method runs in its own process.
`--construction 10000000 100000000` measures only planning, building the Sampler
and its first index (seconds; bytes per sample beyond the labels, peak and kept)
into benchmarks/results/sampler_construction.{json,md}.
`--targets 1000000 100000000` measures the plan as a function: construction at
10^8 labels, sampler[i] and windows at 10^6 and 10^8 (numba and NumPy only), a
10-source mixture against Megatron's blending rule (numba), 1,000 sources of
10^7 (an epoch of 10^10; totals checked on 1,000 x 10^6), and per-sample
weights against torch.multinomial up to its 2^24 categories; written beside the
comparison in benchmarks/results/sampler.{json,md} (key "targets").
"""

from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    RESULTS,
    cell,
    header,
    median_seconds,
    out_folder,
    reset_peak,
    run_in_child,
    status_mib,
    write_results,
)

METHODS = [
    "oversample.Sampler (iterate)",
    "oversample.BatchSampler 256 (iterate)",
    "oversample.Sampler.indices (array)",
    "oversample.Sampler.indices, NumPy only",
    "oversample.Sampler[i] (per call)",
    "Grain MapDataset.source(sampler)",
    "Grain MapDataset.source(array)",
    "ready Python list (iterate)",
    "np.repeat + shuffle (copies given)",
    "np.repeat + rng.permutation (copies given)",
    "torch WeightedRandomSampler (iterate)",
    "imbalanced-learn RandomOverSampler",
]
CALLS = 200_000  # sampler[i] calls timed
TARGETS_TITLE = "## Random access: the targets"
GRAIN_READS = 20_000  # Grain elements read per run


def labels_for(samples: int, classes: int) -> np.ndarray:
    profile = 100.0 ** (-np.arange(classes) / max(classes - 1, 1))
    sizes = np.maximum(1, np.floor(profile / profile.sum() * samples)).astype(np.int64)
    sizes[0] += samples - sizes.sum()
    labels = np.repeat(np.arange(classes, dtype=np.int64), sizes)
    return np.random.default_rng(0).permutation(labels)


def measure(method: str, samples: int, classes: int, repeats: int) -> dict[str, Any]:
    import oversample as ovs

    if method.startswith(("oversample", "Grain")):
        # NOTE: a process pays once for loading the compiled loops; a tiny
        # plan loads them here, outside the timing and the memory figures.
        warm = ovs.Sampler(ovs.plan(np.arange(64) % 4, seed=0))
        warm.indices(), warm[0], warm._getitems([0, 1])
    labels = labels_for(samples, classes)
    plan = ovs.plan(labels, seed=0)
    plan.copies(0)  # builds the per-sample order that every method shares
    counts = np.bincount(labels)
    produced: list[np.ndarray] = []
    totals = np.zeros(classes, np.int64)
    calls = None

    if method == "oversample.Sampler (iterate)":

        def run() -> None:
            sampler = ovs.Sampler(plan)
            # NOTE: what a DataLoader does: take Python ints one at a time.
            for _ in sampler:
                pass

    elif method.startswith("oversample.BatchSampler"):

        def run() -> None:
            for _ in ovs.BatchSampler(ovs.Sampler(plan), 256):
                pass

    elif method.startswith("oversample.Sampler.indices"):
        if "NumPy" in method:
            from oversample.index import order as _order

            _order.use_kernels = False

        def run() -> None:
            produced[:] = [ovs.Sampler(plan).indices()]

    elif method.startswith("oversample.Sampler[i]"):
        sampler = ovs.Sampler(plan)
        sampler[0]
        steps = range(0, len(sampler), max(1, len(sampler) // CALLS))
        calls = len(steps)

        def run() -> None:
            for i in steps:
                sampler[i]

    elif method.startswith("Grain"):
        import grain

        sampler = ovs.Sampler(plan)
        source = sampler if method.endswith("(sampler)") else sampler.indices()
        calls = min(GRAIN_READS, len(sampler))

        def run() -> None:
            dataset = grain.MapDataset.source(source)
            for i in range(min(GRAIN_READS, len(dataset))):
                dataset[i]

    elif method.startswith("ready Python list"):
        ready = ovs.Sampler(plan).indices().tolist()

        def run() -> None:
            for _ in ready:
                pass

    elif method.startswith("np.repeat"):
        copies = plan.copies(0)

        def run() -> None:
            order = np.repeat(np.arange(labels.size), copies)
            rng = np.random.default_rng(0)
            if "permutation" in method:
                order = rng.permutation(order)
            else:
                rng.shuffle(order)
            produced[:] = [order]

    elif method.startswith("torch"):
        import torch
        from torch.utils.data import WeightedRandomSampler

        weights = torch.as_tensor(1.0 / counts[labels], dtype=torch.double)

        def run() -> None:
            sampler = WeightedRandomSampler(weights, num_samples=plan.total)
            produced[:] = [np.fromiter(sampler, np.int64, count=plan.total)]

    else:
        from imblearn.over_sampling import RandomOverSampler

        def run() -> None:
            sampler = RandomOverSampler(random_state=0)
            sampler.fit_resample(np.arange(labels.size).reshape(-1, 1), labels)
            produced[:] = [sampler.sample_indices_]

    def timed() -> None:
        produced.clear()  # one epoch alive at a time, as in a training loop
        run()

    reset_peak()
    before = status_mib("VmRSS")
    seconds, _ = median_seconds(timed, repeats)
    peak = status_mib("VmHWM")
    if method == "oversample.Sampler (iterate)":  # exactness, after the timing
        for _, piece in ovs.Sampler(plan)._pieces(0, 1 << 20):
            totals += np.bincount(labels[piece], minlength=classes)
    if produced:
        totals = np.bincount(labels[produced[-1]], minlength=classes)
    target = counts.max()
    return {
        "seconds": seconds,
        "us_per_call": seconds / calls * 1e6 if calls else None,
        "rss_before_mib": before,
        "rise_mib": peak - before,
        "total": int(totals.sum()),
        "max_class_error": float(np.abs(totals - target).max() / target),
        "exact": bool((totals == target).all()),
    }


def construction(samples: int, classes: int) -> dict[str, Any]:
    """Planning and building a Sampler over `samples` long-tailed labels
    (int64), then its first index: seconds, and bytes per source sample
    beyond the labels (peak and kept RSS, in this one process)."""
    import time

    import oversample as ovs

    warm = ovs.Sampler(ovs.plan(np.arange(64) % 4, seed=0))
    warm[0]  # the compiled loops load outside the timing
    labels = labels_for(samples, classes)
    reset_peak()
    before = status_mib("VmRSS")
    start = time.perf_counter()
    plan = ovs.plan(labels, strategy="sqrt", seed=0)
    planned = time.perf_counter() - start
    sampler = ovs.Sampler(plan)
    built = time.perf_counter() - start
    start = time.perf_counter()
    sampler[samples // 3]
    first = time.perf_counter() - start
    per_sample = 2**20 / samples
    return {
        "samples": samples,
        "classes": classes,
        "plan_s": planned,
        "construction_s": built,
        "first_index_ms": first * 1e3,
        "peak_bytes_per_sample": (status_mib("VmHWM") - before) * per_sample,
        "kept_bytes_per_sample": (status_mib("VmRSS") - before) * per_sample,
    }


# The targets of the plan as a function (one child process per case).

WINDOW = 1_000_000  # indices per window
RANDOM_CALLS = 200_000  # sampler[i] at random positions (fewer without numba)
TORCH_LIMIT = 1 << 24  # torch.multinomial's categories


def _warm() -> None:
    """Loads the compiled loops outside every timing and memory figure."""
    import oversample as ovs

    for plan in (
        ovs.plan(np.arange(64) % 4, seed=0),
        ovs.plan(weights=np.full(64, 2.0), seed=0),
    ):
        warm = ovs.Sampler(plan)
        warm.indices(), warm.indices(1, 9), warm[0]


def _numpy_only() -> None:
    from oversample.index import order as _order

    _order.use_kernels = False


def random_access(samples: int, classes: int, fast: bool, repeats: int) -> dict:
    """`sampler[i]` at random positions and `indices(start, start + 10^6)`
    at random starts over a Sampler of `samples` long-tailed labels."""
    import oversample as ovs

    _warm() if fast else _numpy_only()
    sampler = ovs.Sampler(ovs.plan(labels_for(samples, classes), seed=0))
    rng = np.random.default_rng(1)
    calls = RANDOM_CALLS if fast else RANDOM_CALLS // 50
    positions = rng.integers(0, len(sampler), calls).tolist()
    sampler[positions[0]]

    def per_call() -> None:
        for i in positions:
            sampler[i]

    window = min(WINDOW, len(sampler) // 2)
    starts = rng.integers(0, len(sampler) - window, 10 if fast else 2).tolist()

    def windows() -> None:
        for start in starts:
            sampler.indices(start, start + window)

    call_s, _ = median_seconds(per_call, repeats)
    window_s, _ = median_seconds(windows, repeats)
    return {
        "epoch": len(sampler),
        "us_per_call": call_s / calls * 1e6,
        "window_m_per_s": len(starts) * window / window_s / 1e6,
    }


def _mixture_sizes(sources: int, size: int) -> tuple[dict, dict]:
    """`sources` sources of `size` samples, rates spread over 0.3 .. 2.0."""
    names = [f"source{i:04d}" for i in range(sources)]
    rates = np.linspace(0.3, 2.0, sources) if sources > 1 else np.ones(1)
    return dict.fromkeys(names, size), dict(zip(names, rates.tolist(), strict=True))


def blend(weights: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Megatron-Core's blending rule, written here from its description:
    output i goes to the source furthest below its share of i + 1 outputs,
    and is that source's next sample (source index uint8, sample int64)."""
    source = np.empty(size, np.uint8)
    sample = np.empty(size, np.int64)
    _blending_rule()(weights, source, sample, size)
    return source, sample


@functools.cache
def _blending_rule() -> Any:
    """The rule compiled with numba, once a process."""
    import numba

    @numba.njit(cache=False)
    def rule(weights, source, sample, size):  # pragma: no cover - compiled
        taken = np.zeros(weights.size, np.int64)
        for i in range(size):
            best, error = 0, -np.inf
            for s in range(weights.size):
                gap = weights[s] * (i + 1) - taken[s]
                if gap > error:
                    best, error = s, gap
            source[i] = best
            sample[i] = taken[best]
            taken[best] += 1

    return rule


def mixture_epoch(method: str, sources: int, size: int, repeats: int) -> dict:
    """A mixture's whole epoch: build + every index, by `ovs.mix_plan` and a
    Sampler or by Megatron's blending rule compiled with numba, each source's
    count checked against its target."""
    import oversample as ovs

    sizes, rates = _mixture_sizes(sources, size)
    targets = np.array([round(rate * size) for rate in rates.values()], np.int64)
    total = int(targets.sum())
    if method == "megatron":
        weights = targets / total
        blend(weights, 16)  # compiles outside the timing

        def run() -> np.ndarray:
            return blend(weights, total)[0]

        def count(out: np.ndarray) -> np.ndarray:
            return np.bincount(out, minlength=sources)

    else:
        _warm()
        if method.endswith("one thread"):
            from oversample.index import order as _order

            _order.THREADS = 1  # NOTE: as Megatron's rule runs: on one core

        def run() -> np.ndarray:
            return ovs.Sampler(ovs.mix_plan(sizes, rates, seed=0)).indices()

        def count(out: np.ndarray) -> np.ndarray:
            return np.bincount(out // size, minlength=sources)

    reset_peak()
    before = status_mib("VmRSS")
    seconds, _ = median_seconds(run, repeats)  # NOTE: the check is not timed
    counts = count(run())
    return {
        "seconds": seconds,
        "indices": total,
        "rise_mib": status_mib("VmHWM") - before,
        "exact": bool((counts == targets).all()),
        "max_source_error": int(np.abs(counts - targets).max()),
    }


def large_mixture(sources: int, size: int, check_size: int, repeats: int) -> dict:
    """`sources` sources of `size` samples: construction and memory of the
    plan and its Sampler, windows of 10^6 at random starts; then a mixture of
    `check_size` samples a source, whose whole epoch is read window by window
    and each source's count compared with its target."""
    import time

    import oversample as ovs

    _warm()
    sizes, rates = _mixture_sizes(sources, size)
    reset_peak()
    before = status_mib("VmRSS")
    start = time.perf_counter()
    sampler = ovs.Sampler(ovs.mix_plan(sizes, rates, seed=0))
    built = time.perf_counter() - start
    rise = status_mib("VmHWM") - before
    rng = np.random.default_rng(2)
    window = min(WINDOW, len(sampler) // 2)
    starts = rng.integers(0, len(sampler) - window, 10).tolist()

    def windows() -> None:
        for first in starts:
            sampler.indices(first, first + window)

    rate = len(starts) * window / median_seconds(windows, repeats)[0] / 1e6
    sizes, rates = _mixture_sizes(sources, check_size)
    checked = ovs.Sampler(ovs.mix_plan(sizes, rates, seed=0))
    counts = np.zeros(sources, np.int64)
    step = 10 * WINDOW
    for first in range(0, len(checked), step):
        window = checked.indices(first, min(first + step, len(checked)))
        counts += np.bincount(window // check_size, minlength=sources)
    targets = np.array([round(r * check_size) for r in rates.values()], np.int64)
    return {
        "epoch": len(sampler),
        "construction_s": built,
        "construction_rise_mib": rise,
        "window_m_per_s": rate,
        "checked_epoch": int(counts.sum()),
        "checked_exact": bool((counts == targets).all()),
    }


def weighted(method: str, categories: int) -> dict:
    """One epoch of draws over `categories` per-sample weights: by
    `torch.multinomial` (what WeightedRandomSampler draws with) or by a
    weights plan's Sampler; each sample's count against its expected one."""
    import time

    weights = 1.0 + (np.arange(categories) % 7) / 2  # factors 1 .. 4
    total = round(float(weights.sum()))
    if method == "torch":
        try:
            import torch
        except ImportError:
            return {"seconds": None, "error": "torch is not installed"}
        start = time.perf_counter()
        try:
            drawn = torch.multinomial(torch.as_tensor(weights), total, True)
        except RuntimeError as error:
            return {"seconds": None, "error": str(error).splitlines()[0]}
        counts = np.bincount(drawn.numpy(), minlength=categories)
    else:
        import oversample as ovs

        _warm()
        start = time.perf_counter()
        plan = ovs.plan(weights=weights, seed=0)
        counts = np.bincount(ovs.Sampler(plan).indices(), minlength=categories)
    seconds = time.perf_counter() - start
    expected = weights * (total / weights.sum())
    return {
        "seconds": seconds,
        "error": None,
        "max_count_error": float(np.abs(counts - expected).max()),
    }


def targets(repeats: int, large: int, small: int) -> list[dict[str, Any]]:
    """Every row of the random-access targets, each case in its own child."""
    rows: list[dict[str, Any]] = []

    def add(case: str, figure: str, value: object, target: str, **more: Any) -> None:
        rows.append(
            {"case": case, "figure": figure, "value": value, "target": target, **more}
        )
        print(f"{case}: {figure} = {value}", flush=True)

    built = run_in_child("bench_sampler", "construction", samples=large, classes=1000)
    case = f"Sampler over {large:,} labels, 1,000 classes"
    add(case, "construction (s)", built["construction_s"], "<= 5")
    add(
        case,
        "peak bytes per sample beyond the labels",
        built["peak_bytes_per_sample"],
        "<= 6",
    )
    # NOTE: the peak holds 6 bytes a sample and a few MiB of fixed size (the
    # chunks the members are grouped through, the class tables): the same
    # construction at a tenth of the samples tells the two apart.
    tenth = run_in_child(
        "bench_sampler", "construction", samples=large // 10, classes=1000
    )
    peak, peak_tenth = (
        found["peak_bytes_per_sample"] * found["samples"] for found in (built, tenth)
    )
    add(
        case,
        f"peak bytes per sample added from {large // 10:,} labels",
        (peak - peak_tenth) / (large - large // 10),
        "<= 6",
    )
    add(case, "first index (ms)", built["first_index_ms"], "<= 10")
    for samples in (small, large):
        for fast in (True, False):
            found = run_in_child(
                "bench_sampler",
                "random_access",
                samples=samples,
                classes=1000,
                fast=fast,
                repeats=repeats,
            )
            kind = "numba" if fast else "NumPy only"
            case = f"Sampler over {samples:,} labels ({kind})"
            add(
                case,
                "sampler[i], random positions (µs)",
                found["us_per_call"],
                "<= 1 (numba)" if fast else "-",
            )
            add(
                case,
                "indices(start, start + 10^6) (M/s)",
                found["window_m_per_s"],
                ">= 50 (numba)" if fast else "-",
            )
    sources, size = 10, max(1, small)
    both = {
        method: run_in_child(
            "bench_sampler",
            "mixture_epoch",
            method=method,
            sources=sources,
            size=size,
            repeats=repeats,
        )
        for method in ("oversample", "oversample, one thread", "megatron")
    }
    case = f"mixture, {sources} sources x {size:,}, rates 0.3-2.0"
    theirs = both["megatron"]
    for method in ("oversample", "oversample, one thread"):
        ours = both[method]
        add(
            case,
            f"build + whole epoch (s), {method}",
            ours["seconds"],
            "-",
            exact=ours["exact"],
        )
        add(case, f"{method} / Megatron", ours["seconds"] / theirs["seconds"], "<= 1.0")
    add(
        case,
        "build + whole epoch (s), Megatron's blending rule (numba, one thread)",
        theirs["seconds"],
        "-",
        exact=theirs["exact"],
    )
    big = run_in_child(
        "bench_sampler",
        "large_mixture",
        sources=1000,
        size=large // 10,
        check_size=small,
        repeats=repeats,
    )
    case = f"mixture, 1,000 sources x {large // 10:,} (epoch {big['epoch']:,})"
    add(case, "mix_plan + Sampler (s)", big["construction_s"], "<= 1")
    add(
        case,
        "memory rise building it (MiB)",
        big["construction_rise_mib"],
        "O(sources)",
    )
    add(case, "indices(start, start + 10^6) (M/s)", big["window_m_per_s"], ">= 20")
    add(
        f"mixture, 1,000 sources x {small:,} (epoch {big['checked_epoch']:,})",
        "every source's count exact over the epoch",
        big["checked_exact"],
        "True",
    )
    sizes = (1 << 20, 1 << 22, TORCH_LIMIT) if large >= 10**8 else (small,)
    for categories in (*sizes, TORCH_LIMIT + 1):
        for method in ("torch", "oversample"):
            found = run_in_child(
                "bench_sampler", "weighted", method=method, categories=categories
            )
            name = (
                "torch.multinomial (WeightedRandomSampler)"
                if method == "torch"
                else "ovs.plan(weights=) + Sampler.indices()"
            )
            value = found["seconds"] if found["error"] is None else found["error"]
            add(
                f"{categories:,} per-sample weights, {name}",
                "one epoch (s)",
                value,
                "-",
                max_count_error=found.get("max_count_error"),
            )
    return rows


def _best(results: dict[str, dict[str, Any]], prefix: str) -> float | None:
    found = [r["seconds"] for m, r in results.items() if m.startswith(prefix)]
    return min(found) if found else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000_000, 10_000_000])
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--methods", nargs="*", default=METHODS)
    parser.add_argument(
        "--construction",
        type=int,
        nargs="*",
        default=None,
        help="only plan + Sampler + first index at these sizes, each in its own"
        " process (results/sampler_construction.{json,md})",
    )
    parser.add_argument(
        "--out", default=None, help="results folder (default: results/)"
    )
    parser.add_argument(
        "--targets",
        type=int,
        nargs=2,
        default=None,
        metavar=("SMALL", "LARGE"),
        help="only the random-access targets at these sizes (10^6 10^8: the"
        " issue's table), written beside the comparison in results/sampler.*",
    )
    args = parser.parse_args()
    if args.targets:
        small, large = args.targets
        rows = targets(args.repeats, large=large, small=small)
        path = _write_targets(rows, out_folder(args.out))
        print(path.with_suffix(".md").read_text())
        return
    if args.construction:
        built = [
            run_in_child(
                "bench_sampler", "construction", samples=n, classes=args.classes
            )
            for n in args.construction
        ]
        meta = {"note": "bytes per source sample beyond the labels, RSS in one child"}
        path = write_results("sampler_construction", built, meta, out_folder(args.out))
        print(path.with_suffix(".md").read_text())
        return
    rows = []
    for size in args.sizes:
        results = {}
        for method in args.methods:
            try:
                results[method] = run_in_child(
                    "bench_sampler",
                    "measure",
                    method=method,
                    samples=size,
                    classes=args.classes,
                    repeats=args.repeats,
                )
            except RuntimeError as error:
                print(f"{method} at {size}: failed: {str(error)[-300:]}")
                continue
            print(f"{size} {method}: {results[method]['seconds']:.2f} s", flush=True)

        repeat = _best(results, "np.repeat")
        ready = _best(results, "ready Python list")
        for method, r in results.items():
            iterates = "(iterate)" in method and method.startswith("oversample")
            rows.append(
                {
                    "samples": size,
                    "method": method,
                    "epoch_s": None if r["us_per_call"] else r["seconds"],
                    "us_per_call": r["us_per_call"],
                    "vs_np_repeat": r["seconds"] / repeat
                    if repeat and not r["us_per_call"]
                    else None,
                    "vs_ready_list": r["seconds"] / ready
                    if ready and iterates
                    else None,
                    "peak_rss_mib": r["peak_rss_mib"],
                    "rise_mib": r["rise_mib"],
                    "indices": r["total"] or None,
                    "exact_class_totals": r["exact"] if r["total"] else None,
                    "max_class_error": r["max_class_error"] if r["total"] else None,
                }
            )
    meta = {
        "classes": args.classes,
        "repeats": args.repeats,
        "note": "peak_rss_mib: the child's whole life (labels, plan, imports);"
        " rise_mib: the peak during the timed runs minus the RSS before them",
        "grain_reads": GRAIN_READS,
        "calls": CALLS,
    }
    folder = out_folder(args.out)
    kept = _read(folder).get("targets")
    path = write_results("sampler", rows, meta, folder)
    if kept:
        _write_targets(kept, folder)
    print(path.with_suffix(".md").read_text())


def _read(folder: Path | None) -> dict[str, Any]:
    path = (RESULTS if folder is None else folder) / "sampler.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _write_targets(rows: list[dict[str, Any]], folder: Path | None) -> Path:
    """The targets' rows beside the comparison in sampler.json (key
    "targets") and as a second table in sampler.md; the comparison kept."""
    folder = RESULTS if folder is None else folder
    folder.mkdir(parents=True, exist_ok=True)
    found = _read(folder)
    found.setdefault("rows", [])
    found["targets"] = rows
    path = folder / "sampler.json"
    path.write_text(json.dumps(found, indent=2) + "\n")
    markdown = folder / "sampler.md"
    text = markdown.read_text() if markdown.exists() else ""
    text = text.split(TARGETS_TITLE)[0].rstrip("\n")
    columns = ["case", "figure", "value", "target"]
    lines = [
        "| " + " | ".join(header(c) for c in columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
        *("| " + " | ".join(cell(row[c]) for c in columns) + " |" for row in rows),
    ]
    body = "\n".join(lines)
    markdown.write_text(f"{text}\n\n{TARGETS_TITLE}\n\n{body}\n".lstrip("\n"))
    return path


if __name__ == "__main__":
    main()
