"""Jupyter views: Plan, Sampler and ShardCounts as compact HTML tables with the
counts before and after (and the plot where matplotlib is present); the plain
repr short and exact."""

from __future__ import annotations

import importlib.util
import re

import numpy as np
import pytest

import oversample as ovs
from oversample import report


def _cells(html: str) -> list[list[str]]:
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", html)
    return [re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row) for row in rows]


def _plan() -> ovs.Plan:
    return ovs.plan(["cat"] * 6 + ["dog"] * 2 + ["<emu>"], seed=0)


def test_a_plans_html_holds_every_class_before_and_after():
    plan = _plan()
    rows = _cells(plan._repr_html_())
    assert rows[0] == ["class", "count", "target", "factor", "added"]
    body = {row[0]: row[1:3] for row in rows[1:]}
    for label in plan.classes:
        shown = str(label).replace("<", "&lt;").replace(">", "&gt;")
        assert body[shown] == [str(plan.counts[label]), str(plan.targets[label])]
    assert body["total"] == [str(plan.num_samples), str(plan.total)]


def test_labels_are_escaped():
    assert "<emu>" not in _plan()._repr_html_()


@pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None, reason="matplotlib absent"
)
def test_the_plot_is_inline_where_matplotlib_is_present():
    assert "data:image/png;base64," in _plan()._repr_html_()


def test_no_plot_without_matplotlib(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    html = _plan()._repr_html_()
    assert "<img" not in html and "<table>" in html


def test_a_long_tail_is_shortened_around_a_more_row():
    labels = np.repeat(np.arange(100), np.arange(100) + 1)
    rows = _cells(ovs.plan(labels, seed=0)._repr_html_())
    assert len(rows) == 1 + 20 + 1 + 1  # header, 10 + 10, the '... more' row, total
    assert any(row[0] == "... 80 more" for row in rows)


def test_a_samplers_html_names_its_epoch_and_rank():
    sampler = ovs.Sampler(_plan(), num_replicas=2, rank=1)
    sampler.set_epoch(3)
    html = sampler._repr_html_()
    assert f"epoch 3, rank 1 of 2, {len(sampler):,} indices" in html
    assert _cells(html)[-1][:3] == ["total", "9", str(_plan().total)]


def test_shard_counts_html_sums_the_shards():
    counts = ovs.ShardCounts.from_pairs(
        ["a", "b", "c"], {(0, 1): 3, (2, 1): 4, (1, 5): 2}
    )
    rows = _cells(counts._repr_html_())
    assert rows[1:] == [
        ["1", "7", "77.8%"],
        ["5", "2", "22.2%"],
        ["total", "9", "100.0%"],
    ]


def test_plain_reprs_stay_short_and_exact():
    plan = ovs.plan(np.repeat(np.arange(1000), 3), seed=5)
    assert repr(plan) == (
        "Plan(classes=1000, samples=3000, total=3000, strategy='not majority',"
        " rounding='exact', seed=5)"
    )
    sampler = ovs.Sampler(plan)
    assert repr(sampler) == (
        f"Sampler({plan!r}, epoch=0, rank=0 of 1, len=3000, shuffle=True)"
    )
    files = [f"f{i}" for i in range(10_000)]
    counts = ovs.ShardCounts.from_pairs(files, {(i, 0): 1 for i in range(10_000)})
    assert repr(counts) == "ShardCounts(shards=10000, classes=1, samples=10000)"


def test_the_summary_and_the_html_share_their_rows():
    plan = _plan()
    text = plan.summary()
    for row in report.plan_rows(plan):
        assert row[1] in text and row[2] in text


def test_a_mixtures_view_names_its_sources_and_their_epochs():
    plan = ovs.mix_plan(
        {"wiki": 300, "books": 200}, {"wiki": 2.5, "books": 0.3}, seed=0
    )
    rows = _cells(plan._repr_html_())
    assert rows[0] == ["source", "count", "target", "epochs", "added"]
    body = {row[0]: row[1:] for row in rows[1:]}
    assert body["wiki"] == ["300", "750", "2.50", "450"]
    assert body["books"] == ["200", "60", "0.30", "-140"]
    assert "source" in plan.summary().splitlines()[2]


def test_a_thinned_plans_view_shows_what_is_left_out_per_epoch():
    labels = np.repeat(np.arange(3), [100, 20, 5])
    rows = _cells(ovs.plan(labels, "median", seed=0, thin=True)._repr_html_())
    body = {row[0]: row[1:] for row in rows[1:]}
    assert body["0"] == ["100", "20", "0.20", "-80"]
    assert body["total"] == ["125", "60", "0.48", "-65"]
