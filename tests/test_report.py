from __future__ import annotations

import numpy as np
import pytest

import oversample as ovs
from test_cli import png_size

pytest.importorskip("matplotlib")


@pytest.mark.parametrize("classes", [10, 1000])
def test_plots_are_valid_pngs_for_few_and_many_classes(classes, tmp_path):
    sizes = np.maximum(
        1, np.round(500 * 100.0 ** (-np.arange(classes) / (classes - 1)))
    )
    labels = np.repeat(np.arange(classes), sizes.astype(int))
    path = ovs.plan(labels, seed=0).plot(str(tmp_path / "plan.png"))
    width, height = png_size(path)
    assert 600 <= width <= 2000 and 400 <= height <= 1200
    assert 10_000 < (tmp_path / "plan.png").stat().st_size < 1_000_000


def test_plot_without_matplotlib_says_how_to_install(monkeypatch, tmp_path):
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.partition(".")[0] == "matplotlib":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(ImportError, match=r"pip install 'oversample\[plot\]'"):
        ovs.plan([0, 0, 1], seed=0).plot(str(tmp_path / "x.png"))


def test_a_transient_bar_leaves_no_trace_off_a_terminal(capsys, monkeypatch):
    from oversample import report

    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    for transient, shown in ((True, ""), (False, "reading 3/3")):
        bar = report.progress(transient=transient)
        task = bar.add_task("reading", total=3)
        with bar:
            bar.advance(task, 3)
        out, err = capsys.readouterr()
        assert out == ""
        assert " ".join(err.replace("━", "").split()[:2]) == shown
