"""The Python-stream executor with real components: PyTorch DataLoader worker
processes on simulated ranks, WebDataset tar shards and its splitters, a
Hugging Face IterableDataset with shards, torchdata's StatefulDataLoader
restored in a fresh process; and the bad input it refuses."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import oversample as ovs
import stream_cases

HERE = Path(__file__).parent
RANKS, WORKERS = 2, 2


def _ids(loader, key: str = "id") -> list[int]:
    out = []
    for item in loader:
        value = item[key]
        out.extend(value.tolist() if hasattr(value, "tolist") else [value])
    return [int(v) for v in np.ravel(out)]


def _union(parts: list[list[int]]) -> list[int]:
    size = stream_cases.labels().size
    return np.bincount(np.concatenate(parts), minlength=size).tolist()


def _copies(epoch: int, seed: int) -> list[int]:
    return ovs.plan(stream_cases.labels(), seed=seed).copies(epoch).tolist()


@pytest.mark.parametrize("spread", ["auto", 20_000, None])
def test_a_list_gives_every_sample_the_plans_copies(spread):
    out = ovs.balance(stream_cases.examples(), seed=3, epoch=2, spread=spread)
    assert _union([[e["id"] for e in out]]) == _copies(2, 3)


@pytest.mark.parametrize("spread", ["auto", 2_000, None])
@pytest.mark.parametrize("counted", [False, True])
def test_string_labels_give_the_plans_copies(spread, counted):
    names = np.array(["cat", "dog", "emu", "yak"])
    labels = names[stream_cases.labels() % names.size]
    examples = [{"label": str(n), "id": i} for i, n in enumerate(labels)]
    counts = ovs.count_labels(examples) if counted else None
    assert counts is None or sum(counts.values()) == labels.size
    out = ovs.balance(examples, seed=4, epoch=1, spread=spread, counts=counts)
    expected = ovs.plan(labels, seed=4).copies(1).tolist()
    assert _union([[e["id"] for e in out]]) == expected


def test_epochs_back_to_back_and_set_epoch():
    out = ovs.balance(stream_cases.examples(), seed=3, epochs=3)
    ids = [e["id"] for e in out]
    assert _union([ids]) == np.sum([_copies(e, 3) for e in range(3)], 0).tolist()
    chosen = ovs.balance(stream_cases.examples(), seed=3)
    chosen.set_epoch(5)
    assert _union([[e["id"] for e in chosen]]) == _copies(5, 3)


def test_provenance_marks_every_copy_once():
    out = ovs.balance(stream_cases.examples(), seed=2, epoch=0, provenance=True)
    marks = sorted((m["key"], m["copy"]) for _, m in out)
    copies = _copies(0, 2)
    assert marks == [(i, c) for i in range(len(copies)) for c in range(copies[i])]


@pytest.mark.parametrize("spread", ["auto", 20_000, None])
def test_a_torch_iterable_dataset_in_dataloaders_of_two_workers_on_two_ranks(spread):
    torch = pytest.importorskip("torch")

    class Source(torch.utils.data.IterableDataset):
        def __iter__(self):
            yield from stream_cases.examples()

    out = ovs.balance(Source(), seed=4, epoch=1, spread=spread)
    assert isinstance(out, torch.utils.data.IterableDataset)
    parts = []
    for rank in range(RANKS):
        loader = torch.utils.data.DataLoader(
            out.split(RANKS, rank), batch_size=32, num_workers=WORKERS
        )
        parts.append(_ids(loader))
    assert _union(parts) == _copies(1, 4)
    assert all(parts)


def test_webdataset_shards_split_by_its_own_node_and_worker_splitters(
    tmp_path, monkeypatch
):
    wds = pytest.importorskip("webdataset")
    torch = pytest.importorskip("torch")
    urls = stream_cases.write_tars(tmp_path)

    def pipeline():
        return wds.WebDataset(
            urls,
            shardshuffle=False,
            nodesplitter=wds.split_by_node,
            workersplitter=wds.split_by_worker,
        ).decode()

    counts = ovs.count_labels(ovs.Shards.tagged(pipeline(), urls), label="cls")
    assert counts.counts == dict(enumerate(stream_cases.SIZES))
    counts_json = ovs.ShardCounts.from_json(counts.to_json())
    parts = []
    for rank in range(RANKS):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", str(RANKS))
        source = ovs.Shards.tagged(pipeline(), urls)
        out = ovs.balance(source, label="cls", counts=counts_json, seed=5, epoch=0)
        loader = torch.utils.data.DataLoader(out, batch_size=None, num_workers=WORKERS)
        parts.append(_ids(loader, "id.cls"))
    assert _union(parts) == _copies(0, 5)
    # NOTE: split_by_node gives rank r the shards r, r + 2, ...; the held
    # spread is off for a tagged stream, so each shard yields its own copies.
    assert "tagged stream" in str(out.spread)
    shares = counts.shares(ovs.plan(counts=counts.counts, seed=5), RANKS, 0)
    assert [len(p) for p in parts] == shares


def test_webdataset_tars_read_by_this_executor_split_over_ranks_and_workers(tmp_path):
    pytest.importorskip("webdataset")
    torch = pytest.importorskip("torch")
    urls = stream_cases.write_tars(tmp_path)
    shards = ovs.Shards(urls, stream_cases.read_tar)
    counts = ovs.count_labels(shards, label="cls")
    plan = ovs.plan(counts=counts.counts, seed=6)
    out = ovs.balance(shards, label="cls", counts=counts, seed=6, epoch=2)
    parts = []
    for rank in range(RANKS):
        loader = torch.utils.data.DataLoader(
            out.split(RANKS, rank), batch_size=None, num_workers=WORKERS
        )
        parts.append(_ids(loader, "id.cls"))
    assert _union(parts) == _copies(2, 6)
    readers = [len(p) for p in parts]
    shares = counts.shares(plan, RANKS * WORKERS, 2, out.spread)
    # NOTE: reader g = rank * workers + worker reads the files g, g + 4, ...
    assert readers == [shares[0] + shares[1], shares[2] + shares[3]]


def test_a_hugging_face_iterable_dataset_with_shards(tmp_path):
    datasets = pytest.importorskip("datasets")
    torch = pytest.importorskip("torch")
    rows = stream_cases.examples()
    table = {k: [r[k] for r in rows] for k in ("label", "id")}
    hf = datasets.Dataset.from_dict(table).to_iterable_dataset(num_shards=4)
    shards = ovs.Shards.from_hf(hf)
    out = ovs.balance(shards, seed=7, epoch=0)
    parts = []
    for rank in range(RANKS):
        loader = torch.utils.data.DataLoader(
            out.split(RANKS, rank), batch_size=16, num_workers=WORKERS
        )
        parts.append(_ids(loader))
    assert _union(parts) == _copies(0, 7)
    assert all(parts)


def _resume_case(tmp_path, workers: int, seed: int, consumed: int, **options):
    pytest.importorskip("torchdata")
    from torchdata.stateful_dataloader import StatefulDataLoader

    stream = stream_cases.stream("list", 4, **options)
    loader = StatefulDataLoader(stream, batch_size=16, num_workers=workers)
    iterator = iter(loader)
    head = [i for _ in range(consumed) for i in next(iterator)["id"].tolist()]
    state = loader.state_dict()
    rest = [i for batch in iterator for i in batch["id"].tolist()]
    case = {"kind": "list", "seed": seed, "options": options, "workers": workers}
    path = tmp_path / "case.pkl"
    path.write_bytes(pickle.dumps({**case, "state": state}))
    done = subprocess.run(
        [sys.executable, str(HERE / "stream_child.py"), str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=HERE,
    )
    return head, rest, done


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize(
    "options",
    [
        {"epoch": 0},
        {"epochs": 2, "spread": 20_000},
        {"epoch": 1, "spread": None, "shuffle_buffer": 64},
        {"epoch": 0, "provenance": False, "rounding": "stochastic"},
    ],
)
def test_a_stateful_dataloader_resumes_exactly_in_a_fresh_process(
    tmp_path, workers, options
):
    head, rest, done = _resume_case(tmp_path, workers, 4, 7, **options)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == rest
    assert len(head) + len(rest) > len(head) > 0


def test_a_state_restored_into_another_plan_is_refused(tmp_path):
    _, _, done = _resume_case(tmp_path, 0, 9, 3, epoch=0)
    assert done.returncode != 0
    assert "another configuration (identity: saved" in done.stderr


# A state saved by the release before 2026-12 (its `holding` named the held
# keys by the repr of their bytes), and what that release yielded after it.
HELD_BEFORE_DIGEST = {
    "version": 2,
    "rule": 2,
    "identity": "28ac4df3082fd120",
    "reader": [0, 1],
    "holding": "ffe654ae54b26260",
    "epoch": 0,
    "unit": 0,
    "position": 0,
    "keying": {"position": 0, "seen": [0, 0, 0]},
    "done": False,
    "emitted": 7,
    "history": {
        "base": "f43f9690557ad1476ba1990806313b98",
        "phases": [[0, "2d63c4fc39a45985"]],
    },
}
HELD_REST = [14, 14, 15, 7, 8, 12, 1, 16, 12, 15, 11, 12, 16, 0, 12, 13, 6, 16, 13]
HELD_REST += [16, 3, 13, 15, 5, 10, 15, 13, 4, 16]


def _held_examples() -> list[dict[str, int]]:
    labels = [0] * 12 + [1] * 3 + [2] * 2
    return [{"label": label, "id": i} for i, label in enumerate(labels)]


def test_a_state_saved_before_the_held_digest_restores_exactly():
    stream = ovs.balance(_held_examples(), seed=3, epoch=0)
    assert stream.spread.held_share == 1
    iterator = iter(stream)
    assert iterator.state_dict()["holding"] != HELD_BEFORE_DIGEST["holding"]
    iterator.load_state_dict(dict(HELD_BEFORE_DIGEST))
    assert [e["id"] for e in iterator] == HELD_REST
    fewer = iter(ovs.balance(_held_examples(), seed=3, epoch=0, spread=800))
    with pytest.raises(ValueError, match="held other samples in memory"):
        fewer.load_state_dict(dict(HELD_BEFORE_DIGEST))


@pytest.mark.parametrize("stop", [1023, 1024, 1500, 2049])
def test_a_state_saved_inside_a_later_part_of_a_block_resumes_exactly(stop):
    # every class held: one block of 3,000 keys yields its copies in parts
    labels = np.repeat([0, 1, 2], [2000, 700, 300])
    examples = [{"label": int(label), "id": i} for i, label in enumerate(labels)]
    whole = [e["id"] for e in ovs.balance(examples, seed=5, epoch=1)]
    assert len(whole) > stop + 1000
    iterator = iter(ovs.balance(examples, seed=5, epoch=1))
    head = [e["id"] for _, e in zip(range(stop), iterator, strict=False)]
    state = iterator.state_dict()
    assert state["emitted"] == stop
    resumed = iter(ovs.balance(examples, seed=5, epoch=1))
    resumed.load_state_dict(state)
    assert head + [e["id"] for e in resumed] == whole


@pytest.mark.parametrize(("factor", "block"), [(3, 16_384), (60, 4_096)])
def test_a_block_of_held_copies_stays_bounded(factor, block):
    # every class held: blocks of up to 16,384 keys, fewer when each key owns
    # many copies (at most about 2**17 copies a block), never below 4,096
    labels = [0] * 40_000 + [1] * 400
    examples = [{"label": label, "id": i} for i, label in enumerate(labels)]
    stream = ovs.balance(examples, "label", {0: 40_000 * factor, 1: 400 * factor})
    assert stream.spread.held_share == 1
    iterator = iter(stream)
    positions = set()
    for count, _ in enumerate(iterator):
        if count % 997 == 0:
            positions.add(iterator.state_dict()["position"])
        if len(positions) == 3:
            break
    assert sorted(positions) == [0, block, 2 * block]


def test_a_state_taken_right_after_a_restore_keeps_the_place():
    examples = _held_examples()
    whole = [e["id"] for e in ovs.balance(examples, seed=3, epoch=0)]
    iterator = iter(ovs.balance(examples, seed=3, epoch=0))
    head = [e["id"] for _, e in zip(range(7), iterator, strict=False)]
    restored = iter(ovs.balance(examples, seed=3, epoch=0))
    restored.load_state_dict(iterator.state_dict())
    again = iter(ovs.balance(examples, seed=3, epoch=0))
    again.load_state_dict(restored.state_dict())  # saved before reading on
    assert head + [e["id"] for e in again] == whole
    # a finished pass restored stays finished when saved again
    done = iter(ovs.balance(examples, seed=3, epoch=0))
    done.load_state_dict(again.state_dict())
    assert list(done) == [] and done.state_dict()["done"]


# Bad input, before any data flows where the data allow.


def test_a_label_key_the_first_example_lacks_is_refused_listing_its_keys():
    with pytest.raises(ValueError, match=r"'cls' is not a key .* 'label', 'id'"):
        ovs.balance(stream_cases.examples(), label="cls", seed=0)


@pytest.mark.parametrize("source", [5, "text", {"label": 1}])
def test_a_non_iterable_is_refused(source):
    with pytest.raises(
        TypeError, match=r"must be a tf\.data\.Dataset, ovs\.Shards or an"
    ):
        ovs.balance(source, seed=0)


def test_a_one_shot_iterator_is_refused():
    generator = (e for e in stream_cases.examples())
    with pytest.raises(TypeError, match=r"one-shot iterator .* starts over"):
        ovs.balance(generator, seed=0)


@pytest.mark.parametrize("given", ["counts", "plan"])
@pytest.mark.parametrize("spread", ["auto", None])
def test_a_one_shot_iterator_given_its_counts_is_read_once_for_one_epoch(given, spread):
    labels = stream_cases.labels()
    plan = ovs.plan(labels, seed=3)
    ready = {"plan": plan} if given == "plan" else {"counts": plan.counts, "seed": 3}
    read = []

    def records():  # a socket's or a database cursor's records: read once
        for example in stream_cases.examples():
            read.append(example["id"])
            yield example

    out = ovs.balance(records(), epoch=0, spread=spread, **ready)
    assert read == [0]  # its first example, to resolve the label
    ids = [e["id"] for e in out]
    assert read == list(range(labels.size))
    assert np.bincount(ids, minlength=labels.size).tolist() == plan.copies(0).tolist()
    assert out.spread.held_samples == 0
    assert ("read only once" if spread else "spread=None") in out.spread.reason
    with pytest.raises(TypeError, match=r"one-shot iterator .* was read once"):
        list(out)


def test_counting_a_one_shot_iterator_reads_it_once():
    generator = (e for e in stream_cases.examples())
    assert ovs.count_labels(generator) == dict(enumerate(stream_cases.SIZES))


def test_counts_of_other_shards_are_refused(tmp_path):
    pytest.importorskip("webdataset")
    urls = stream_cases.write_tars(tmp_path)
    counts = ovs.count_labels(ovs.Shards(urls, stream_cases.read_tar), label="cls")
    other = ovs.Shards([*urls[1:], urls[0]], stream_cases.read_tar)
    with pytest.raises(ValueError, match=r"shard 0 is .* but the counts were made"):
        ovs.balance(other, label="cls", counts=counts, epoch=0)


def test_a_label_the_plan_does_not_know_is_refused_at_run_time():
    rows = [*stream_cases.examples(), {"label": 99, "id": 999}]
    counts = dict(enumerate(stream_cases.SIZES))
    out = ovs.balance(rows, counts=counts, seed=0, spread=None)
    with pytest.raises(ValueError, match=r"unknown labels: \[99\]"):
        list(out)


def test_more_samples_of_a_class_than_counted_are_refused_at_run_time():
    counts = dict(enumerate(stream_cases.SIZES))
    counts[5] = 1
    out = ovs.balance(stream_cases.examples(), counts=counts, seed=0, spread=None)
    with pytest.raises(ValueError, match="more samples of class index 5"):
        list(out)


def test_a_stream_shorter_than_planned_is_refused_at_its_end():
    counts = dict(enumerate(stream_cases.SIZES))
    counts[0] += 1
    out = ovs.balance(stream_cases.examples(), counts=counts, seed=0, spread=None)
    with pytest.raises(
        ValueError, match="ended after 500 samples, but the plan covers"
    ):
        list(out)


def test_counts_the_data_contradict_are_refused_before_streaming():
    counts = dict(enumerate(stream_cases.SIZES))
    counts[0] += 1
    with pytest.raises(ValueError, match="holds 300 samples of class 0 but the counts"):
        ovs.balance(stream_cases.examples(), counts=counts, seed=0)


def test_a_shard_split_by_samples_is_refused():
    rows = stream_cases.examples()
    files = ["a", "b"]
    tagged = [dict(r, shard=files[i % 2]) for i, r in enumerate(rows)]
    counts = ovs.count_labels(ovs.Shards.tagged(tagged, files, tag="shard"))
    half = [r for i, r in enumerate(tagged) if i % 4 < 2]  # each shard in part
    out = ovs.balance(
        ovs.Shards.tagged(half, files, tag="shard"), counts=counts, epoch=0
    )
    with pytest.raises(ValueError, match="reached this reader in part"):
        list(out)


def test_the_executor_imports_no_tensorflow():
    code = (
        "import sys, oversample as ovs\n"
        "out = ovs.balance([{'label': 0}, {'label': 0}, {'label': 1}], seed=0)\n"
        "assert sorted(e['label'] for e in out) == [0, 0, 1, 1]\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_label_above_int64_is_refused_not_wrapped():
    rows = [{"label": np.uint64(2**63 + 5)}, {"label": np.uint64(1)}]
    with pytest.raises(ValueError, match=r"label of 9223372036854775813 is above"):
        ovs.count_labels(rows)
