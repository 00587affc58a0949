"""Open every page of a built book in a real headless browser and list what a reader would trip over.

The book is served over HTTP from 127.0.0.1 (``file://`` hides failed requests and breaks relative fetches) and
driven with Playwright for Python against Debian's Chromium (``/usr/bin/chromium``, installed by ``make test``;
Playwright never downloads a browser here). Each page is checked for the classes of defect a reader found in
screenshots of the demo build: console errors and uncaught exceptions, failed requests, broken images, notebook
pages whose image outputs did not render, page titles shared by several pages (navigation looks broken), tables
wider than the text column, and absolute paths of this machine in the page text (:func:`machine_paths`).
Issue 18 adds printed output that lists a file as missing although no run of the study was meant to write it
(:func:`listed_missing_files`). A full-page screenshot of every page is saved as a test artefact.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import sys
import sysconfig
import tempfile
import threading
from collections import defaultdict
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, sync_playwright

from helpers.paths import results_root

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: An absolute path in running text: a "/" not inside a word, a relative path or a URL's host part, up to a
#: space, quote, bracket or closing parenthesis (``file:///work/x`` counts: its leading slashes are collapsed).
ABSOLUTE_PATH = re.compile(r"(?<![\w.~:-])/+[^\s\"'<>()\[\]]+")
REDIRECT = re.compile(r"<meta[^>]+http-equiv=[\"']?refresh", re.IGNORECASE)
IMAGE_MIME_TYPES = ("image/png", "image/jpeg", "image/svg+xml", "image/gif")
#: A file listed as missing in printed output, as the analysis page lists them: "missing: <model>/<variant>/x.csv"
#: (a path relative to the study's results, at least one folder deep).
MISSING_FILE = re.compile(r"\bmissing:\s*([\w.-]+(?:/[\w.:-]+)+)")

# In the browser: every image loads eagerly (lazy images below the fold would otherwise read as broken).
_LOAD_IMAGES = "() => document.querySelectorAll('img[loading=lazy]').forEach(i => i.loading = 'eager')"
_IMAGES_SETTLED = "() => Array.from(document.images).every(i => i.complete)"
_BROKEN_IMAGES = """() => Array.from(document.images)
    .filter(i => i.complete && i.naturalWidth === 0)
    .map(i => i.getAttribute('src') || '(no src)')"""
_PRINTED_TEXT = "() => Array.from(document.querySelectorAll('pre')).map(p => p.innerText)"
_CONTENT_IMAGES = """() => Array.from(document.querySelectorAll('article img, main img'))
    .filter(i => i.naturalWidth > 0).length"""
_WIDE_TABLES = """() => {
    const out = [];
    for (const t of document.querySelectorAll('article table, main table')) {
        const column = t.closest('article') || t.closest('main');
        let box = t.parentElement;  // a table inside a horizontally scrolling box does not widen the page
        while (box && box !== column && !['auto', 'scroll'].includes(getComputedStyle(box).overflowX)) {
            box = box.parentElement;
        }
        const shown = box && box !== column ? box.getBoundingClientRect().width : t.getBoundingClientRect().width;
        const excess = shown - column.clientWidth;
        if (excess > 1) {
            const head = Array.from(t.querySelectorAll('th')).slice(0, 3).map(h => h.innerText.trim());
            out.push({excess: Math.round(excess), columns: head.join(' | ')});
        }
    }
    return out;
}"""


@dataclass(frozen=True)
class Problem:
    """One defect on one page: ``page`` relative to the book's HTML root, ``kind`` a class of defect."""

    page: str
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.page}: {self.kind}: {self.detail}"


def artefacts_dir() -> Path:
    """Where screenshots go: ``$WARMBOOK_ARTEFACTS`` or ``tests/artefacts/`` (gitignored)."""
    return Path(os.environ.get("WARMBOOK_ARTEFACTS", REPO / "tests" / "artefacts"))


def book_pages(html_dir: Path) -> list[str]:
    """Every HTML page of a built book, relative to its root.

    Not the theme's ``_static`` or ``_sources`` files, nor redirect stubs (jupyter-book's ``index.html`` only
    forwards to the root page, which is checked under its own name).
    """
    return sorted(
        path.relative_to(html_dir).as_posix()
        for path in html_dir.rglob("*.html")
        if not any(part.startswith("_") for part in path.relative_to(html_dir).parts)
        and not REDIRECT.search(path.read_text(encoding="utf-8", errors="replace")[:2000])
    )


def default_roots() -> list[Path]:
    """The folders of this machine whose paths a build could leak into its pages.

    The repository, the results root (``$WARMBOOK_RESULTS`` or ``results/``), the user's home, the system temp
    folder and the Python installation (``sys.prefix``; where that is a shared system folder such as ``/usr``,
    the installation's own library folders instead, so that ``/usr/bin/env`` in a model's answer is not one).
    """
    roots = [REPO, results_root(), Path.home(), Path(tempfile.gettempdir())]
    prefix = Path(sys.prefix)
    if len(prefix.absolute().parts) > 2:
        roots.append(prefix)
    else:
        roots += sorted({Path(sysconfig.get_path(kind)) for kind in ("stdlib", "purelib", "platlib")})
    return roots


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _leaks_from(path: str, root: Path) -> bool:
    """Whether ``path`` names something under ``root`` that is this machine's own (see :func:`machine_paths`)."""
    names = {str(root.absolute())}
    try:
        names.add(str(root.resolve()))
    except OSError:
        pass
    for name in names:
        depth = len(Path(name).parts) - 1
        if depth == 0 or not _under(path, name):  # "/" is every path, not a machine's
            continue
        if depth >= 2:
            return True
        first = path[len(name.rstrip("/")) + 1 :].split("/")[0]  # /tmp/<first>/...
        try:
            if first and (Path(name) / first).is_dir():
                return True
        except OSError:
            continue
    return False


def machine_paths(text: str, roots: list[Path] | None = None) -> list[str]:
    """The absolute paths in ``text`` that belong to this machine: leaks from the build, not paths a model wrote.

    A language model's answer about code can name absolute paths (``/tmp/bucket1.php``, ``/usr/bin/env``,
    ``/etc/passwd``); they are text, not defects. A path is this machine's when it lies under one of ``roots``
    (default :func:`default_roots`), compared as written and with symbolic links resolved:

    - under a root at least two folders deep (``/work/main``, ``/home/alice``, ``/tmp/pytest-of-alice/pytest-3``),
      which only this machine has: any path below it;
    - under a one-folder root (``/tmp``, ``/root``), which every machine has: only a path through a folder that
      exists there now, i.e. the working folders this machine's tools made (``/tmp/pytest-of-root/...``,
      ``/root/.cache/...``), not a file or folder a model made up (``/tmp/bucket1.php``). Such a folder that was
      deleted before the check (a build's temporary folder) is not recognised;
    - ``/`` itself is never a root.

    Each path is returned once, sorted, without trailing sentence punctuation.
    """
    roots = default_roots() if roots is None else [Path(r) for r in roots]
    found = set()
    for match in ABSOLUTE_PATH.findall(text):
        path = "/" + match.lstrip("/").rstrip(".,;:!?")
        if any(_leaks_from(path, root) for root in roots):
            found.add(path)
    return sorted(found)


def listed_missing_files(printed: str) -> list[str]:
    """The files a page's printed output lists as missing (``missing: <path>``), in order, each once."""
    return list(dict.fromkeys(MISSING_FILE.findall(printed)))


def recorded_outputs(study_root: Path) -> set[str]:
    """The files the runs of the study at ``study_root`` are responsible for, relative to it: the ``outputs``
    the runner records in each ``runs/<run>.json`` (docs/design.md). What a check passes as ``expected_files``
    for a study whose runs have all finished."""
    return {
        path
        for record in sorted(Path(study_root, "runs").glob("*.json"))
        for path in json.loads(record.read_text(encoding="utf-8")).get("outputs") or {}
    }


def expected_image_outputs(html_dir: Path, page: str) -> int:
    """How many image outputs the page's notebook shows (glued outputs, shown elsewhere, are not counted)."""
    source = html_dir / "_sources" / Path(page).with_suffix(".ipynb")
    if not source.exists():
        return 0
    notebook = json.loads(source.read_text(encoding="utf-8"))
    return sum(
        1
        for cell in notebook.get("cells", [])
        for output in cell.get("outputs", [])
        if any(mime in output.get("data", {}) for mime in IMAGE_MIME_TYPES)
        and "scrapbook" not in output.get("metadata", {})
    )


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        """Served requests are not test output."""


@contextmanager
def serve(html_dir: Path) -> Iterator[str]:
    """Serve ``html_dir`` on a free port of 127.0.0.1 from a thread; yield its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(html_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _check_page(
    page: Page,
    url: str,
    name: str,
    expected_images: int,
    roots: list[Path],
    expected_files: Collection[str] | None,
) -> tuple[list[Problem], str]:
    """Load one page and return its problems (all but duplicate titles) and its title."""
    problems: list[Problem] = []

    def add(kind: str, detail: str) -> None:
        problems.append(Problem(name, kind, detail))

    page.on("console", lambda m: add("console error", m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: add("javascript error", str(e)))
    page.on("requestfailed", lambda r: add("failed request", f"{r.url} ({r.failure})"))
    page.on(
        "response", lambda r: add("failed request", f"{r.url} (HTTP {r.status})") if r.status >= 400 else None
    )
    page.goto(url, wait_until="networkidle")
    page.evaluate(_LOAD_IMAGES)
    page.wait_for_function(_IMAGES_SETTLED, timeout=15_000)
    for src in page.evaluate(_BROKEN_IMAGES):
        add("broken image", src)
    shown = page.evaluate(_CONTENT_IMAGES)
    if shown < expected_images:
        add("missing figure", f"{shown} images shown, the notebook has {expected_images} image outputs")
    for table in page.evaluate(_WIDE_TABLES):
        add("wide table", f"{table['excess']} px wider than the text column (columns: {table['columns']})")
    for path in machine_paths(page.inner_text("body"), roots):
        add("machine path", path)
    for path in listed_missing_files("\n".join(page.evaluate(_PRINTED_TEXT))):
        if expected_files is None:
            add("missing file", f"{path} is listed as missing")
        elif path not in expected_files:
            add("missing file", f"{path} is listed as missing, but no run was meant to write it")
    return problems, page.title()


@contextmanager
def chromium_context() -> Iterator[BrowserContext]:
    """Headless Debian Chromium driven by Playwright, with a new empty profile that is deleted afterwards."""
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


def render_in_browser(html: Path) -> str:
    """The DOM of one built page after Chromium has loaded it (served with the rest of its book)."""
    html = Path(html).resolve()
    root = next((d for d in html.parents if (d / "_static").is_dir()), html.parent)
    with serve(root) as base, chromium_context() as browser:
        page = browser.new_page()
        page.goto(base + html.relative_to(root).as_posix(), wait_until="networkidle")
        return page.content()


def check_book(
    html_dir: Path,
    screenshots: Path | None = None,
    roots: list[Path] | None = None,
    expected_files: Collection[str] | None = None,
) -> list[Problem]:
    """Open every page of the built book at ``html_dir`` in headless Chromium; return every problem found.

    A full-page screenshot of each page is written under ``screenshots`` (default :func:`artefacts_dir`),
    named after the page. A "machine path" is a path under one of ``roots`` (default :func:`default_roots`,
    taken when the check starts), as :func:`machine_paths` decides. A "missing file" is a file a page's
    printed output lists as missing that is not among ``expected_files`` (paths relative to the study's
    results that its runs were meant to write, e.g. :func:`recorded_outputs`); without ``expected_files``
    the book is taken to be of a finished study, where no file is missing, and every listed one counts.
    """
    html_dir = Path(html_dir)
    roots = default_roots() if roots is None else [Path(r) for r in roots]
    screenshots = screenshots or artefacts_dir()
    screenshots.mkdir(parents=True, exist_ok=True)
    problems: list[Problem] = []
    titles: dict[str, list[str]] = defaultdict(list)
    with serve(html_dir) as base, chromium_context() as browser:
        for name in book_pages(html_dir):
            page = browser.new_page()
            found, title = _check_page(
                page, base + name, name, expected_image_outputs(html_dir, name), roots, expected_files
            )
            problems += found
            titles[title].append(name)
            page.screenshot(path=str(screenshots / (name.replace("/", "__") + ".png")), full_page=True)
            page.close()
    for title, names in titles.items():
        if len(names) > 1:
            problems += [
                Problem(
                    name, "duplicate title", f"{title!r} is also the title of {len(names) - 1} other pages"
                )
                for name in names
            ]
    return problems
