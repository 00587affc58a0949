"""Figures and tables a reader can take away: files under ``results/<study>/figures/``, linked from their page.

Issue 12: a figure that exists only inside a notebook cannot be put in a slide or a paper, and a table shown on a
page cannot be re-analysed. Each figure is saved as PNG (for the web) and PDF (vector, for print), each table as
CSV, under the study's results; the page that shows them displays a Markdown line of links to those files. The
links are relative to the page's own folder, so they resolve both in Jupyter and in the book, whose build
(``nb_render_markdown_format: myst`` in ``book/_config.yml``) copies every linked local file into the HTML
``_downloads/``; a link to a missing file fails the strict build.

A run page lives at ``results/<study>/notebooks/<stage>/<run>.ipynb`` (docs/design.md), which
:func:`run_page_dir` names; callers whose page lives elsewhere pass ``page_dir``.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pandas as pd
from IPython.display import Markdown
from matplotlib.figure import Figure

from helpers.paths import study_dir
from helpers.storage import atomic_write_csv
from helpers.validation import ParameterError

FIGURE_FORMATS = ("png", "pdf")
_FILE_STEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def figures_dir(study: str) -> Path:
    """Where a study's figure and table files go: ``results/<study>/figures``."""
    return study_dir(study) / "figures"


def run_page_dir(study: str, stage: str) -> Path:
    """The folder of a stage's executed notebooks, ``results/<study>/notebooks/<stage>`` (docs/design.md)."""
    return study_dir(study) / "notebooks" / stage


def check_file_stem(name: object) -> str:
    """A figure or table name usable as a file name: letters, digits, '_', '.', '-', not starting with '.'."""
    if not isinstance(name, str) or not _FILE_STEM.fullmatch(name):
        raise ParameterError("name", name, "a file name of letters, digits, '_', '.' and '-' (no '/')")
    return name


def relative_link(target: Path, page_dir: Path) -> str:
    """The link from a page in ``page_dir`` to ``target``, with forward slashes (as Markdown and HTML want)."""
    return Path(os.path.relpath(Path(target).absolute(), Path(page_dir).absolute())).as_posix()


def download_line(links: dict[str, str]) -> str:
    """A Markdown line of download links, one per file kind: ``Download: [PNG](…) · [PDF](…)``."""
    return "Download: " + " · ".join(f"[{kind.upper()}]({link})" for kind, link in links.items())


def save_figure(figure: Figure, name: str, folder: Path, page_dir: Path) -> dict[str, str]:
    """Save ``figure`` as ``<folder>/<name>.png`` and ``.pdf``; return ``{"png": link, "pdf": link}``.

    Each file is written to a temporary name and renamed, so a reader never sees half a file.
    """
    check_file_stem(name)
    folder.mkdir(parents=True, exist_ok=True)
    links = {}
    for kind in FIGURE_FORMATS:
        path = folder / f"{name}.{kind}"
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=f".{kind}")
        os.close(fd)
        try:
            figure.savefig(tmp, format=kind, bbox_inches="tight", dpi=150)
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
        links[kind] = relative_link(path, page_dir)
    return links


def save_table(table: pd.DataFrame, name: str, folder: Path, page_dir: Path) -> dict[str, str]:
    """Save ``table`` as ``<folder>/<name>.csv`` (atomically, no index column); return ``{"csv": link}``."""
    path = atomic_write_csv(table, folder / f"{check_file_stem(name)}.csv")
    return {"csv": relative_link(path, page_dir)}


def figure_download(figure: Figure, name: str, study: str, stage: str) -> Markdown:
    """Save a run page's figure under the study's figures and return its download line for display."""
    return Markdown(download_line(save_figure(figure, name, figures_dir(study), run_page_dir(study, stage))))


def table_download(table: pd.DataFrame, name: str, study: str, stage: str) -> Markdown:
    """Save a run page's table as CSV under the study's figures and return its download line for display."""
    return Markdown(download_line(save_table(table, name, figures_dir(study), run_page_dir(study, stage))))
