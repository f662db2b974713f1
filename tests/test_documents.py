"""Files that cannot lie: plans and shard counts are written atomically and
carry a checksum; a truncated, corrupted, hand-edited or other-version
document is refused with an error naming the file, never read as another
plan. A seeded fuzz of random corruptions checks it case by case."""

from __future__ import annotations

import json
import os
import string

import numpy as np
import pytest

import oversample as ovs

CASES_PER_DOCUMENT = 110  # four documents: 440 corruptions in all


def _documents() -> dict[str, object]:
    rng = np.random.default_rng(0)
    labels = rng.permutation(np.repeat(np.arange(5), [40, 20, 9, 4, 2]))
    files = [f"shard-{i}.tfrecord" for i in range(4)]
    pairs = {(i % 4, int(label)): 1 + i for i, label in enumerate(labels[:12])}
    return {
        "class plan": ovs.plan(labels, seed=7),
        "weights plan": ovs.plan(weights=rng.uniform(1, 3, 50), seed=3),
        "progressive plan": ovs.plan(labels, ovs.Progressive(epochs=3), seed=1),
        "shard counts": ovs.ShardCounts.from_pairs(
            files, pairs, sizes=[10, 20, 30, 40]
        ),
    }


def _load(kind: str, path) -> object:
    return (ovs.ShardCounts if kind == "shard counts" else ovs.Plan).load(path)


def _corrupt(text: str, rng: np.random.Generator) -> str:
    """One random corruption of the kinds a crash or a person makes."""
    kind = int(rng.integers(8))
    place = int(rng.integers(len(text)))
    if kind == 0:  # truncated by a crash
        return text[:place]
    if kind == 1:  # a bit flipped on disk
        data = bytearray(text.encode())
        data[place] ^= 1 << int(rng.integers(7))
        return data.decode("utf-8", errors="replace")
    if kind == 2:  # a character lost
        return text[:place] + text[place + 1 :]
    if kind == 3:  # a character typed
        return text[:place] + str(rng.choice(list(string.printable))) + text[place:]
    if kind == 4:  # a digit changed by hand
        digits = [i for i, c in enumerate(text) if c.isdigit()]
        at = digits[int(rng.integers(len(digits)))]
        return (
            text[:at]
            + str((int(text[at]) + 1 + int(rng.integers(9))) % 10)
            + text[at + 1 :]
        )
    document = json.loads(text)
    if kind == 5:  # a field edited by hand, the checksum left as it was
        field = str(rng.choice([k for k in document if k != "checksum"]))
        document[field] = (
            [1]
            if not isinstance(document[field], list)
            else [*document[field][::-1], 1]
        )
    elif kind == 6:  # the checksum removed
        del document["checksum"]
    else:  # another version
        document["version"] = int(rng.choice([0, 1, 3, 99]))
    return json.dumps(document)


@pytest.mark.parametrize("kind", list(_documents()))
def test_random_corruptions_are_refused_or_read_back_equal(kind, tmp_path):
    original = _documents()[kind]
    path = tmp_path / "document.json"
    original.save(path)
    text = path.read_text()
    rng = np.random.default_rng(sum(map(ord, kind)))
    refused = equal = 0
    for case in range(CASES_PER_DOCUMENT):
        broken = _corrupt(text, rng)
        path.write_text(broken, encoding="utf-8")
        try:
            loaded = _load(kind, path)
        except ValueError as error:
            assert str(path) in str(error), (case, str(error))
            refused += 1
        else:
            assert loaded == original, (case, broken[:200])
            equal += 1
    assert refused + equal == CASES_PER_DOCUMENT
    assert refused > CASES_PER_DOCUMENT * 0.9  # nearly every change is caught


@pytest.mark.parametrize("kind", list(_documents()))
def test_save_and_load_round_trip_and_name_the_file(kind, tmp_path):
    original = _documents()[kind]
    path = original.save(tmp_path / "x.json")
    assert _load(kind, path) == original
    assert type(original).from_json(original.to_json()) == original
    path.write_text(path.read_text()[:-10])
    with pytest.raises(ValueError, match=f"'{path}' is not JSON .*truncated"):
        _load(kind, path)


def test_a_hand_edited_count_is_refused_not_read_as_another_plan(tmp_path):
    plan = _documents()["class plan"]
    document = json.loads(plan.to_json())
    document["targets"][0] += 1
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match=r"checksum does not match .* edited by hand"):
        ovs.Plan.load(path)


def test_an_older_version_is_refused_naming_it():
    document = json.loads(_documents()["class plan"].to_json())
    document["version"] = 1
    with pytest.raises(
        ValueError, match="format version 1; this oversample reads version 2"
    ):
        ovs.Plan.from_json(json.dumps(document))


def test_a_document_of_another_kind_is_refused():
    text = _documents()["shard counts"].to_json()
    with pytest.raises(ValueError, match="is not an oversample plan"):
        ovs.Plan.from_json(text)


def test_a_crash_while_saving_leaves_the_old_file_whole(tmp_path, monkeypatch):
    old, new = _documents()["class plan"], _documents()["weights plan"]
    path = old.save(tmp_path / "plan.json")

    def crash(source, target):
        raise OSError("killed while renaming")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="killed"):
        new.save(path)
    monkeypatch.undo()
    assert ovs.Plan.load(path) == old
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "plan.json"
    ]  # no temporary left
    new.save(path)
    assert ovs.Plan.load(path) == new


def test_the_fingerprint_does_not_depend_on_the_file_format():
    plan = _documents()["class plan"]
    assert ovs.Plan.from_json(plan.to_json()).fingerprint == plan.fingerprint
    assert "version" not in plan.fingerprint  # a hash, not the header


@pytest.fixture
def umask():
    """Sets the process umask for a test, and puts the old one back."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o077, 0o600)])
def test_a_new_file_gets_its_mode_from_the_umask(mask, mode, umask, tmp_path):
    umask(mask)
    path = _documents()["class plan"].save(tmp_path / "plan.json")
    assert oct(path.stat().st_mode & 0o777) == oct(mode)


def test_an_existing_file_keeps_its_mode(umask, tmp_path):
    path = tmp_path / "plan.json"
    path.write_text("old")
    path.chmod(0o640)
    _documents()["class plan"].save(path)
    assert oct(path.stat().st_mode & 0o777) == oct(0o640)
    assert ovs.Plan.load(path) == _documents()["class plan"]


def test_a_failed_write_names_the_path_given(tmp_path):
    missing = tmp_path / "no such folder" / "plan.json"
    with pytest.raises(FileNotFoundError, match=r"no such folder/plan\.json'$"):
        _documents()["class plan"].save(missing)
