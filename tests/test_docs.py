"""The documentation: every public name has a docstring and an entry in the
API reference, every page is in the navigation, the README stays a landing
page whose two commands are unchanged; the built site shows no broken block,
no private name and no unclosed tag, loads nothing from the network, and (in
the second tier, with Chromium) fits a 1280 px window. The docs' code blocks
themselves run as tests of their own (pytest-markdown-docs, `docs/` in
testpaths); the strict build runs in `.ci/run`."""

from __future__ import annotations

import functools
import html
import http.server
import inspect
import re
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

import oversample as ovs

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = (ROOT / "README.md").read_text()


def _public() -> list[Any]:
    """Every public name and method as a parameter; a name that needs an
    extra not installed here (torch for the trainers' samplers) is skipped,
    saying which."""
    out = []
    for name in ovs.__all__:
        if name.startswith("_"):
            continue
        try:
            value = getattr(ovs, name)
        except ImportError as missing:
            skip = pytest.mark.skip(reason=f"{name}: {missing}")
            out.append(pytest.param(name, None, id=name, marks=skip))
            continue
        out.append(pytest.param(name, value, id=name))
        if inspect.isclass(value):
            for attr, member in vars(value).items():
                if attr.startswith("_"):
                    continue
                function = member.fget if isinstance(member, property) else member
                function = getattr(function, "__func__", function)
                if callable(function):
                    full = f"{name}.{attr}"
                    out.append(pytest.param(full, function, id=full))
    return out


@pytest.mark.parametrize("name, value", _public())
def test_every_public_name_has_a_docstring(name, value):
    assert (inspect.getdoc(value) or "").strip(), f"{name} has no docstring"


@pytest.mark.parametrize("name", [n for n in ovs.__all__ if not n.startswith("_")])
def test_every_public_name_has_a_reference_entry(name):
    reference = (DOCS / "reference.md").read_text()
    assert f"::: oversample.{name}\n" in reference


def test_every_page_is_in_the_navigation():
    config = (ROOT / "mkdocs.yml").read_text()
    listed = set(re.findall(r":\s*([\w/-]+\.md)\s*$", config, re.MULTILINE))
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert pages == listed


def test_the_readme_is_a_landing_page_with_the_two_commands():
    assert len(README.splitlines()) <= 150
    assert (
        'python3 -m venv .venv && .venv/bin/pip install -e ".[demo]"'
        " && .venv/bin/oversample demo" in README
    )
    assert (
        'python3 -m venv .venv && .venv/bin/pip install -e ".[dev]"'
        " && .venv/bin/python -m pytest" in README
    )


def test_links_between_pages_point_at_pages():
    for page in [ROOT / "README.md", *DOCS.rglob("*.md")]:
        for target in re.findall(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)", page.read_text()):
            if "://" not in target:
                assert (page.parent / target).resolve().is_file(), (page, target)


# What a page shows when a block fails to render: a literal fence, a fence's
# words (the language and `notest`) as text, or a snippet marker not replaced.
BROKEN = re.compile(r"```|~~~|python notest|--8\s*(?:<|&lt;)\s*--")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built strictly as `.ci/run` builds it."""
    mkdocs = pytest.importorskip("mkdocs.commands.build")
    from mkdocs.config import load_config

    out = tmp_path_factory.mktemp("site")
    config = load_config(str(ROOT / "mkdocs.yml"), site_dir=str(out), strict=True)
    mkdocs.build(config)
    return out


def _visible(html: str) -> str:
    """The page's text outside its scripts, styles and the search index."""
    html = re.sub(r"<(script|style)\b.*?</\1>", "", html, flags=re.S)
    return re.sub(r"<[^>]+>", "", html)


def test_no_page_shows_a_literal_fence_or_snippet_marker(site):
    pages = sorted(site.rglob("index.html"))
    assert len(pages) >= len(list(DOCS.rglob("*.md")))
    broken = {}
    for page in pages:
        found = BROKEN.findall(_visible(page.read_text()))
        if found:
            broken[str(page.relative_to(site))] = found[:3]
    assert broken == {}


def test_every_included_example_renders_as_code(site):
    page = (site / "guide" / "streams" / "index.html").read_text()
    for name in ("stream_pytorch.py", "stream_webdataset.py", "stream_hf.py"):
        first = next(
            line
            for line in (ROOT / "examples" / name).read_text().splitlines()
            if line.startswith("import ")
        )
        assert first.split()[1] in _visible(page)
    assert page.count('<div class="highlight">') >= 3


def _page_text(page: Path) -> str:
    return html.unescape(_visible(page.read_text()))


# Private names of the package that a signature or a default can leak: a
# private module's attribute (`_settings.UNSET`), a private constant
# (`_DEFAULT_STRATEGY`), the sentinel itself, or a class's module path.
LEAKED = re.compile(
    r"(?<![\w.])_[a-z]\w*\.\w|\b_DEFAULT\w*|\bUNSET\b|oversample\.core\."
)


def test_the_reference_shows_no_private_name(site):
    text = _page_text(site / "reference" / "index.html")
    leaks = sorted(
        {
            " ".join(text[m.start() - 24 : m.end() + 16].split())
            for m in LEAKED.finditer(text)
        }
    )
    assert leaks == []


def test_the_leak_pattern_finds_what_it_is_for():
    for leak in (
        "epochs=_settings.UNSET,",
        "strategy=_DEFAULT_STRATEGY,",
        "Default: UNSET",
        "oversample.core.spread.Spread",
    ):
        assert LEAKED.search(leak), leak
    for fine in ("oversample/__init__.py", "ds.plan, my_label.x", "__url__"):
        assert not LEAKED.search(fine), fine


# Elements whose end tag HTML lets a page leave out.
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta"}
VOID |= {"source", "track", "wbr"}
OPTIONAL_END = {"p", "li", "dt", "dd", "tr", "td", "th", "thead", "tbody", "option"}


class _Tags(HTMLParser):
    """The tags of a page's article left open or closed out of order (a raw
    `<i>` in a docstring turns everything after it italic)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag not in VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: object) -> None:
        pass  # `<img ... />`, `<path ... />`: opened and closed at once

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.open:
            self.problems.append(f"</{tag}> closes nothing")
            return
        while (last := self.open.pop()) != tag:
            if last not in OPTIONAL_END:
                self.problems.append(f"<{last}> is not closed before </{tag}>")

    def close(self) -> None:
        super().close()
        self.problems += [f"<{t}> is never closed" for t in self.open]


def unclosed(page_html: str) -> list[str]:
    """What is left open or closed out of order in a page's article."""
    article = re.search(r"<article\b.*?</article>", page_html, flags=re.S)
    assert article, "no <article> in the page"
    parser = _Tags()
    parser.feed(article.group(0))
    parser.close()
    return parser.problems


def test_no_page_leaves_an_html_tag_open(site):
    found = {}
    for page in sorted(site.rglob("index.html")):
        problems = unclosed(page.read_text())
        if problems:
            found[str(page.relative_to(site))] = problems[:3]
    assert found == {}


def test_an_unclosed_tag_in_a_docstring_is_found():
    page = "<article><p>one per file name shard-<i>-of-<n>; this</p></article>"
    assert unclosed(page) == [
        "<n> is not closed before </p>",
        "<i> is not closed before </p>",
    ]
    assert unclosed("<article><p>a <code>&lt;i&gt;</code> b<br></article>") == []


def test_the_site_loads_nothing_from_the_network(site):
    """No web font, no script or stylesheet from a CDN: the site reads the
    same offline."""
    remote = re.compile(r"<(?:script|link|img)\b[^>]*(?:src|href)=\"(?:https?:)?//")
    for page in sorted(site.rglob("*.html")):
        text = page.read_text()
        assert not remote.findall(text), page
        assert "fonts.googleapis" not in text and "fonts.gstatic" not in text, page
    css = "".join(p.read_text() for p in site.rglob("*.css"))
    assert "fonts.googleapis" not in css and "@import url(http" not in css


def test_code_is_coloured_by_the_themes_stylesheet(site):
    page = (site / "guide" / "tfds" / "index.html").read_text()
    assert '<span class="kn">import</span>' in page  # Pygments tokens
    stylesheets = re.findall(r'<link[^>]+href="([^"]+\.css)"', page)
    css = "".join(
        (site / "guide" / "tfds" / href).resolve().read_text() for href in stylesheets
    )
    assert ".highlight .kn" in css or "--md-code-hl-keyword-color" in css


# Whether anything on a page ends past its column (or its sidebar) in the
# window, outside an element that scrolls sideways (a table, a code block):
# a list of what does, empty when the page fits.
LAYOUT = """(() => {
  const found = [];
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth) {
    found.push(`the page scrolls sideways: ${root.scrollWidth} px`);
  }
  const scrolls = (el) => ["auto", "scroll"].includes(getComputedStyle(el).overflowX);
  const within = (box, edge) => {
    for (const el of box.querySelectorAll("*")) {
      let up = el.parentElement;
      while (up && up !== box && !scrolls(up)) up = up.parentElement;
      if (up && up !== box) continue;
      const right = el.getBoundingClientRect().right;
      if (el.getBoundingClientRect().width > 0 && right > edge + 1) {
        const text = (el.textContent || "").trim().slice(0, 40);
        found.push(`<${el.tagName.toLowerCase()}> "${text}" ends at ${right} px`);
      }
    }
  };
  const column = document.querySelector(".md-content");
  within(column, column.getBoundingClientRect().right);
  for (const bar of document.querySelectorAll(".md-sidebar__scrollwrap")) {
    if (bar.getBoundingClientRect().width > 0) {
      within(bar, bar.getBoundingClientRect().right);
    }
  }
  return found;
})()"""
WIDE = (
    "document.querySelector('.md-content__inner').insertAdjacentHTML("
    "'beforeend', '<p style=\"width: 1600px\">a wide line</p>');"
)


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    """The built site over HTTP on the loopback interface."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.heavy  # a browser: the second tier
def test_no_page_is_wider_than_a_1280_px_window(site, served):
    from browser import Browser, find

    chromium = find()
    if chromium is None:
        pytest.skip("no Chromium on PATH (Debian: apt-get install chromium)")
    pages = sorted(p.parent.relative_to(site) for p in site.rglob("index.html"))
    with Browser(chromium, width=1280, height=900) as browser:
        wide = {}
        for page in pages:
            path = "" if str(page) == "." else f"{page}/"
            found = browser.evaluate(f"{served}/{path}", LAYOUT)
            if found:
                wide[str(page)] = found[:3]
        made_wide = browser.evaluate(f"{served}/guide/tfds/", WIDE + LAYOUT)
    assert wide == {}
    assert any("a wide line" in line for line in made_wide), made_wide


def test_benchmark_headers_name_their_units_and_cells_show_no_exponent(site):
    text = _page_text(site / "benchmarks" / "index.html")
    for header in ("held (MiB)", "µs per element", "elements/s", "peak RSS (MiB)"):
        assert header in text, header
    assert "held mib" not in text and "us per element" not in text
    assert not re.findall(r"\d(?:\.\d+)?e[+-]\d", text)


def test_a_cell_rounds_to_three_digits_with_thousands_separated(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    from _common import cell, header

    assert [cell(v) for v in (999.7, 0.01234, 45889, 1.5, None)] == [
        "1,000",
        "0.0123",
        "45,889",
        "1.5",
        "-",
    ]
    assert header("peak_over_plain_and_held_mib") == "peak over plain and held (MiB)"
    assert header("examples_per_s") == "examples/s"
    assert header("time / sample_from_datasets") == "time / sample_from_datasets"


def test_the_readmes_five_lines_run_as_written(tmp_path, monkeypatch):
    """The README's Five lines, every line as written, on TFDS's mock MNIST;
    the names a reader brings (a Keras model, a stream, labels, a dataset)
    are given here."""
    tfds = pytest.importorskip("tensorflow_datasets")
    pytest.importorskip("torch", reason="the CPU torch wheel (README)")
    import keras
    import numpy as np

    five = README.split("<!-- --8<-- [start:five] -->")[1].split("<!-- --8<--")[0]
    code = five.split("```python notest\n")[1].split("```")[0]
    model = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)]
    )
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    labels = np.repeat([0, 1, 2], [6, 3, 1])
    names = {
        "model": model,
        "webdataset_or_iterable_dataset": [{"cls": c} for c in ["a"] * 4 + ["b"]],
        "labels": labels,
        "dataset": [(i, int(label)) for i, label in enumerate(labels)],
    }
    monkeypatch.chdir(tmp_path)
    with tfds.testing.mock_data(num_examples=40):
        exec(compile(code, "README.md (Five lines)", "exec"), names)
    balanced = names["balanced"]
    totals = np.bincount([int(y) for _, y in balanced], minlength=10)
    assert len(set(totals[totals > 0])) == 1  # every class at the largest count
    assert int(balanced.cardinality()) == totals.sum()
    assert len(model.history.history["loss"]) == 10
    assert sorted(e["cls"] for e in names["stream"]) == ["a"] * 4 + ["b"] * 4
    batch_labels = [int(y) for _, ys in names["loader"] for y in ys]
    assert sorted(batch_labels) == [0] * 6 + [1] * 6 + [2] * 6
