"""The docs site as a reader gets it: built strictly with the pinned tools, then read back as HTML.

Every warning fails the build (no ``--quiet``, which would also hide them from ``--strict``);
docstring examples are code blocks, not nested blockquotes; no Markdown fence is left raw; the
pages load nothing from another host, so they are whole offline.
"""

import importlib.util
import re
import subprocess
import sys
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
import yaml

import kwarg_guard
from tests.helpers import ROOT

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None,
    reason="mkdocs is pinned in envs/stack-5.txt only; this stack does not install the docs tools",
)


class Page(HTMLParser):
    """The parts of one HTML page the checks read."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.text_outside_code: list[str] = []
        self.all_text: list[str] = []
        self.code_blocks: list[str] = []
        self.blockquotes = 0
        self.assets: list[str] = []  # what the browser fetches: scripts, stylesheets, icons, images
        self.html = html
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "pre":
            self.code_blocks.append("")
        if tag == "blockquote":
            self.blockquotes += 1
        if tag in ("script", "img") and attributes.get("src"):
            self.assets.append(attributes["src"])
        if tag == "link" and attributes.get("rel") != "canonical" and attributes.get("href"):
            self.assets.append(attributes["href"])
        if tag not in ("br", "img", "link", "meta", "input", "hr"):
            self.open.append(tag)

    def handle_endtag(self, tag):
        if tag in self.open:
            while self.open.pop() != tag:
                pass

    def handle_data(self, data):
        self.all_text.append(data)
        if "pre" in self.open:
            self.code_blocks[-1] += data
        elif "code" not in self.open:
            self.text_outside_code.append(data)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    warnings = [line for line in built.stderr.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert built.returncode == 0 and not warnings, built.stderr[-4000:]
    return {path.relative_to(out).as_posix(): Page(path.read_text(encoding="utf-8")) for path in out.rglob("*.html")}


def test_every_page_of_the_nav_is_built(site):
    assert {"index.html", "api.html", "higgs-audio.html", "troubleshooting.html", "404.html"} <= set(site)


def test_docstring_examples_are_code_blocks_not_quotes(site):
    api = site["api.html"]
    stray = [text.strip() for text in api.text_outside_code if ">>>" in text]
    assert not stray, stray
    assert api.blockquotes == 0
    # test_docs holds every public name to an example; each renders as its own block.
    examples = [block for block in api.code_blocks if block.lstrip().startswith(">>>")]
    assert len(examples) >= len(kwarg_guard.__all__)
    assert all(block.count("\n") >= 2 for block in examples)  # one line per line, not run together


def test_signatures_show_defaults_a_reader_can_use(site):
    # A dataclass default_factory written as a lambda renders as "(lambda: ...)()".
    assert not [text for text in site["api.html"].all_text if "lambda" in text]


def test_no_markdown_fence_is_left_raw(site):
    raw = {name: text for name, page in site.items() for text in page.all_text if "```" in text}
    assert not raw, raw


def test_a_fenced_block_inside_a_list_item_stays_in_its_item(site):
    guide = site["higgs-audio.html"]
    assert any('preset="higgs_audio"' in block for block in guide.code_blocks)
    # A list that collapsed into one paragraph shows its "- " markers as text.
    collapsed = {
        name: text.strip()[:80]
        for name, page in site.items()
        for text in page.text_outside_code
        if re.search(r"^\s*- ", text, re.MULTILINE)
    }
    assert not collapsed, collapsed


def test_nothing_is_loaded_from_another_host(site):
    foreign = {(name, asset) for name, page in site.items() for asset in page.assets if urlsplit(asset).netloc}
    assert not foreign, sorted(foreign)


def test_code_is_highlighted_when_the_site_is_built(site):
    # Pygments' spans in the HTML itself: nothing has to run in the browser to colour the code.
    assert any('<span class="kn">import</span>' in page.html for page in site.values())
    assert "highlight.js" not in "".join(page.html for page in site.values())


def test_site_url_is_set():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    assert urlsplit(config.get("site_url") or "").scheme in ("http", "https")


def test_the_check_command_builds_strictly_without_quiet():
    spec = importlib.util.spec_from_file_location("envs_run", ROOT / "envs" / "run.py")
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    (docs,) = [arguments for arguments in run.CHECKS.values() if "mkdocs" in arguments]
    assert "--strict" in docs and "--quiet" not in docs and "-q" not in docs
