"""The documentation: every public name has a docstring and an entry in the
API reference, every page is in the navigation, the README stays a landing
page whose two commands are unchanged. The docs' code blocks themselves run
as tests of their own (pytest-markdown-docs, `docs/` in testpaths); the strict
build runs in `.ci/run`."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import oversample as ovs

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = (ROOT / "README.md").read_text()


def _public() -> list[tuple[str, object]]:
    out = []
    for name in ovs.__all__:
        if name.startswith("_"):
            continue
        value = getattr(ovs, name)
        out.append((name, value))
        if inspect.isclass(value):
            for attr, member in vars(value).items():
                if attr.startswith("_"):
                    continue
                function = member.fget if isinstance(member, property) else member
                function = getattr(function, "__func__", function)
                if callable(function):
                    out.append((f"{name}.{attr}", function))
    return out


@pytest.mark.parametrize("name, value", _public(), ids=[n for n, _ in _public()])
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
