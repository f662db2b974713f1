"""Jupyter views: Plan, Sampler and ShardCounts as compact HTML tables with the
counts before and after (and the plot where matplotlib is present); the plain
repr short and exact."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys

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
    assert rows[0] == ["source", "count", "target", "epochs", "change"]
    body = {row[0]: row[1:] for row in rows[1:]}
    assert body["wiki"] == ["300", "750", "2.50", "+450"]
    assert body["books"] == ["200", "60", "0.30", "-140"]

    assert "source" in plan.summary().splitlines()[2]


def test_a_thinned_plans_view_shows_what_is_left_out_per_epoch():
    labels = np.repeat(np.arange(3), [100, 20, 5])
    rows = _cells(ovs.plan(labels, "median", seed=0, thin=True)._repr_html_())
    body = {row[0]: row[1:] for row in rows[1:]}
    assert body["0"] == ["100", "20", "0.20", "-80"]
    assert body["total"] == ["125", "60", "0.48", "-65"]


KERNEL_CELLS = [
    "import oversample as ovs\novs.plan(['cat'] * 6 + ['dog'] * 2 + ['emu'], seed=0)",
    "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()",
]


@pytest.mark.timeout(300)
def test_a_plan_shown_in_a_kernel_leaves_the_users_plots_alone(tmp_path):
    """A real Jupyter kernel shows a plan (table and plot), then the user's
    own pyplot figure: the plan's plot must not have switched the backend,
    or `plt.show()` shows nothing for the rest of the session."""
    pytest.importorskip("matplotlib")
    pytest.importorskip("ipykernel")
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(code) for code in KERNEL_CELLS]
    )
    nbclient.NotebookClient(
        notebook,
        timeout=240,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    shown, drawn = (cell.outputs for cell in notebook.cells)
    html = [o["data"]["text/html"] for o in shown if "text/html" in o.get("data", {})]
    assert len(html) == 1 and "data:image/png;base64," in html[0]
    images = [o for o in drawn if "image/png" in o.get("data", {})]
    assert len(images) == 1, drawn


def test_the_library_draws_without_pyplot():
    """Plan.plot, the HTML view and the demo's figure never import pyplot,
    which is what chooses (and can switch) a process's backend."""
    pytest.importorskip("matplotlib")
    script = (
        "import io, sys, tempfile, pathlib\n"
        "import oversample as ovs\n"
        "from oversample import demo\n"
        "plan = ovs.plan([0] * 6 + [1] * 2 + [2], seed=0)\n"
        "plan.plot(io.BytesIO())\n"
        "plan._repr_html_()\n"
        "runs = [{'balanced_accuracy': 0.5, 'many_shot': 0.6, 'medium_shot': 0.5,"
        " 'few_shot': 0.4}] * 2\n"
        "folder = pathlib.Path(tempfile.mkdtemp())\n"
        "demo._plot({'a': runs, 'b': runs}, folder / 'd.png')\n"
        "print('matplotlib.pyplot' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False"]


def _drawn(plan: ovs.Plan):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figure = report.plot_figure(plan)
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return figure, canvas.get_renderer()


def test_a_small_plans_plot_has_plain_ticks_and_its_legend_off_the_bars():
    pytest.importorskip("matplotlib")
    figure, renderer = _drawn(ovs.plan(np.repeat([0, 1, 2], [50, 20, 4]), seed=0))
    (axis,) = figure.axes
    labels = [t.get_text() for t in axis.yaxis.get_majorticklabels() if t.get_text()]
    low, high = axis.get_ylim()
    shown = [t for t in axis.get_yticks() if low <= t <= high]
    assert 2 <= len(shown) <= 6
    assert all(re.fullmatch(r"[\d,.]+", label) for label in labels), labels
    assert not [t.get_text() for t in axis.yaxis.get_minorticklabels() if t.get_text()]
    (legend,) = figure.legends
    box = legend.get_window_extent(renderer)
    assert len(axis.patches) == 6
    assert not [bar for bar in axis.patches if box.overlaps(bar.get_window_extent())]


def test_a_mixtures_plot_follows_its_table_and_names_sources():
    pytest.importorskip("matplotlib")
    plan = ovs.mix_plan(
        {"wiki": 300, "books": 200, "code": 1000},
        {"wiki": 2.5, "books": 0.3, "code": 1},
        seed=0,
    )
    figure, _ = _drawn(plan)
    (axis,) = figure.axes
    table = [row[0] for row in report.plan_rows(plan)[:-1]]
    assert [t.get_text() for t in axis.get_xticklabels()] == table
    assert axis.get_xlabel() == "source"


def test_a_mixtures_table_says_mixture_and_signs_the_change():
    plan = ovs.mix_plan({"wiki": 300, "books": 200}, {"wiki": 2.5, "books": 0.3})
    lines = plan.summary().splitlines()
    assert lines[0] == f"oversample mixture of 2 sources: seed={plan.seed}"
    assert "change" in lines[2] and "added" not in lines[2]
    assert "-140" in plan.summary() and "+450" in plan.summary()
    grown = ovs.plan([0, 0, 0, 1], seed=0)
    assert report.plan_columns(grown)[-1] == "added"
    assert "+" not in "".join(row[-1] for row in report.plan_rows(grown))
