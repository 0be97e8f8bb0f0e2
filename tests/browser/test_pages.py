"""The built book, as a reader's browser sees it (run after `make book`: `make browser`).

Serves ``_build/html`` on 127.0.0.1 and opens every page in Debian's headless Chromium through the
``playwright`` pip package (never ``playwright install``). Every request that is not to that local
server is refused and recorded, as on a laptop with no network: the book must read offline, MathJax
included (``sphinx-mathjax-offline`` ships it in ``_static/mathjax``). A screenshot of every page
lands in ``_build/screenshots/``. With every fold opened, no code or output box may scroll sideways
in the 1280-pixel window (``book/_static/code-width.css``). ``BOOK_HTML=<dir>`` checks another build.
"""

from __future__ import annotations

import functools
import http.server
import os
import pathlib
import re
import shutil
import tempfile
import threading
import urllib.parse

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
HTML = pathlib.Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html"))
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# sphinx-thebe 0.3.1 declares THEBE_JS_URL twice on every page: a known upstream bug, allowed by name.
ALLOWED_CONSOLE_ERRORS = [re.compile(r"Identifier 'THEBE_JS_URL' has already been declared")]

if not HTML.is_dir():
    pytest.skip("no built book: run `make book` first", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")

PAGES = sorted(
    p.relative_to(HTML).as_posix()
    for p in HTML.rglob("*.html")
    if not p.relative_to(HTML).as_posix().startswith(("_static/", "_sources/", "_images/"))
    and p.name not in {"genindex.html", "search.html", "index.html"}
)
CHAPTERS = sorted(
    p.relative_to(ROOT).with_suffix(".html").as_posix()
    for p in (ROOT / "book").rglob("*.ipynb")
    if ".ipynb_checkpoints" not in p.parts
)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output clean
        pass


@pytest.fixture(scope="session")
def base_url():
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.fixture(scope="session")
def browser():
    with sync_api.sync_playwright() as pw, tempfile.TemporaryDirectory() as profile:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
            viewport={"width": 1280, "height": 900},
        )  # fmt: skip
        yield context
        context.close()


def _is_local(url: str) -> bool:
    parsed = urllib.parse.urlparse(url)
    return parsed.scheme in {"data", "blob", "about"} or parsed.hostname in LOCAL_HOSTS


def _local_only(route):
    """Let requests to the local server through and refuse every other: no network, as offline."""
    return route.continue_() if _is_local(route.request.url) else route.abort()


def _open(browser, url: str):
    """Open ``url``; return the page, its console errors, its outside requests and failed requests."""
    page = browser.new_page()
    errors: list[str] = []
    outside: list[str] = []
    failed: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: None if _is_local(r.url) else outside.append(r.url))
    page.on("requestfailed", lambda r: failed.append(f"{r.url} ({r.failure})"))
    page.on(
        "response", lambda r: failed.append(f"{r.url} ({r.status})") if r.status >= 400 else None
    )
    page.route("**/*", _local_only)
    page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")
    return page, errors, outside, failed


# Text that MathJax should have replaced: TeX delimiters left outside code, scripts and typeset math.
_RAW_TEX_JS = r"""() => {
  const body = document.body.cloneNode(true);
  body.querySelectorAll("pre, code, script, style, template, .highlight, mjx-container")
    .forEach(e => e.remove());
  const text = body.textContent;
  const m = text.match(/\\\(|\\\[|\\begin\{|\$\$/);
  return m ? text.slice(Math.max(0, m.index - 60), m.index + 60) : null;
}"""


# Unfold what a reader can unfold (folded figure code, exercise solutions), then list every visible
# code or output box whose text is wider than the box: each would scroll sideways.
_SIDEWAYS_JS = r"""() => {
  document.querySelectorAll("details").forEach(d => { d.open = true; });
  document.querySelectorAll("button.toggle-button").forEach(b => b.click());
  return Array.from(document.querySelectorAll("pre"))
    .filter(p => p.offsetParent !== null && p.scrollWidth > p.clientWidth + 1)
    .map(p => `${p.scrollWidth - p.clientWidth} px too wide (box ${p.clientWidth} px): ` +
      p.textContent.split("\n").reduce((a, l) => (l.length > a.length ? l : a), ""));
}"""


def _shot(page, rel: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(
        path=str(SHOTS / (rel.replace("/", "__").removesuffix(".html") + ".png")), full_page=False
    )


def test_mathjax_ships_with_the_book():
    """The pages load MathJax from the built site itself, never from a CDN."""
    assert (HTML / "_static" / "mathjax" / "tex-chtml.js").is_file()
    pages_with_math = [p for p in PAGES if 'class="math' in (HTML / p).read_text()]
    assert pages_with_math, "no page has math: the typesetting checks below would be vacuous"
    for rel in pages_with_math:
        scripts = re.findall(r'<script[^>]*src="([^"]*mathjax[^"]*)"', (HTML / rel).read_text())
        assert scripts and all("://" not in src for src in scripts), (
            f"{rel}: MathJax from {scripts}"
        )


def test_chapters_were_built():
    assert CHAPTERS and all((HTML / c).is_file() for c in CHAPTERS)


@pytest.mark.parametrize("rel", PAGES)
def test_page(browser, base_url, rel):
    page, errors, outside, failed = _open(browser, base_url + rel)
    try:
        n_math = page.locator("span.math, div.math").count()
        if n_math:
            page.wait_for_function(
                "() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=15000
            )
            page.evaluate("() => MathJax.startup.promise")  # resolves once typesetting is done
            untypeset = page.locator(
                "span.math:not(:has(mjx-container)), div.math:not(:has(mjx-container))"
            ).count()
            assert untypeset == 0, f"{rel}: {untypeset} of {n_math} math elements not typeset"
        raw = page.evaluate(_RAW_TEX_JS)
        assert raw is None, f"{rel}: raw TeX left on the page: ...{raw}..."
        _shot(page, rel)
        assert not outside, f"{rel} asked the network for {outside}"
        assert not failed, f"{rel}: requests failed: {failed}"
        unexpected = [e for e in errors if not any(p.search(e) for p in ALLOWED_CONSOLE_ERRORS)]
        assert not unexpected, f"console errors on {rel}: {unexpected}"
        outputs = page.locator(".cell_output").all_inner_texts()
        for text in outputs:
            assert not re.search(r"Traceback|\b\w*Error\b:?|\bWarning\b", text), (
                f"{rel}: an output shows an error or warning: {text[:300]}"
            )
        # Last, as it unfolds the page: folded outputs are not checked for error words above.
        n_unfolded = page.locator("details, button.toggle-button").count()
        sideways = page.evaluate(_SIDEWAYS_JS)
        assert not sideways, f"{rel}: code scrolls sideways at 1280 px: {sideways[:3]}"
        if rel in CHAPTERS:
            assert n_unfolded, f"{rel}: nothing folded, so nothing was unfolded for the check"
            images = page.locator(".cell_output img")
            assert images.count() >= 1, f"{rel} shows no figure"
            widths = images.evaluate_all("imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
            assert all(w > 0 for w in widths), f"{rel}: a figure did not render"
            colab = page.locator("a[href*='colab.research.google.com']")
            assert colab.count() >= 1, f"{rel} has no Colab launch button"
            href = colab.first.get_attribute("href")
            assert href.endswith(rel.removesuffix(".html") + ".ipynb"), href
    finally:
        page.close()


def _title_word(rel: str) -> str:
    """A distinctive word of a chapter's title: its longest purely alphabetic word."""
    text = (HTML / rel).read_text()
    title = re.search(r"<h1>(.*?)<a class=\"headerlink\"", text, flags=re.S)
    assert title, f"no <h1> in {rel}"
    words = re.findall(r"[A-Za-z]{4,}", re.sub(r"<[^>]+>", " ", title.group(1)))
    return max(words, key=len)


@pytest.mark.parametrize("rel", CHAPTERS)
def test_search_finds_each_chapter(browser, base_url, rel):
    word = _title_word(rel)
    page, *_ = _open(browser, f"{base_url}search.html?q={urllib.parse.quote(word)}")
    try:
        page.wait_for_selector("#search-results ul.search li", timeout=20000)
        links = page.locator("#search-results ul.search li a").evaluate_all(
            "as => as.map(a => a.href)"
        )
        assert any(rel in link for link in links), f"searching {word!r} did not list {rel}: {links}"
        _shot(page, f"search-{pathlib.Path(rel).stem}")
    finally:
        page.close()


def test_index_redirects_to_landing_page(browser, base_url):
    page, *_ = _open(browser, base_url + "index.html")
    try:
        page.wait_for_url(re.compile(r"book/intro\.html"), timeout=10000)
        assert page.locator("h1").first.inner_text().startswith("Settled by Experiment")
        _shot(page, "index")
    finally:
        page.close()
