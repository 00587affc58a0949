"""Assemble the executed notebooks and the hand-written chapters into the jupyter-book report.

jupyter-book 1.0.4.post1 builds offline (2.x fetches its theme at build time); notebooks are not re-executed
(``execute_notebooks: off``): the book shows exactly what papermill computed. The table of contents is written
for the study being built, and ``book/runs/current`` points at that study's executed notebooks so the chapters
can glue numbers from fixed paths. Builds are strict (``-W -n --keep-going``), so a broken reference fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from helpers.paths import book_dir as default_book_dir
from helpers.study.config import StudyConfig
from helpers.study.runner import STAGE_TITLES, plan_runs

CHAPTERS_BEFORE = ["question", "method"]
CHAPTERS_AFTER = ["results", "limitations", "teaching"]
STAGE_ORDER = ["training_data", "finetune", "warmth", "evaluate", "capabilities", "analysis"]


def link_current_study(study: str, book_dir: Path | None = None) -> Path:
    """Point ``book/runs/current`` at ``book/runs/<study>`` (a symlink the chapters' glue paths rely on)."""
    book_dir = book_dir or default_book_dir()
    runs = book_dir / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    current = runs / "current"
    if current.is_symlink() or current.is_file():
        current.unlink()
    elif current.exists():
        shutil.rmtree(current)
    current.symlink_to(study, target_is_directory=True)
    return current


def write_toc(config: StudyConfig, book_dir: Path | None = None) -> Path:
    """Write ``_toc.yml``: the chapters, then one page per executed run grouped by stage."""
    book_dir = book_dir or default_book_dir()
    runs = [
        r
        for r in plan_runs(config)
        if (book_dir / "runs" / config.study / r.stage / f"{r.name}.ipynb").exists()
    ]
    parts = [{"caption": "The study", "chapters": [{"file": c} for c in CHAPTERS_BEFORE]}]
    chapters = []
    for stage in STAGE_ORDER:
        pages = [
            {"file": f"runs/current/{r.stage}/{r.name}", "title": r.title} for r in runs if r.stage == stage
        ]
        if len(pages) == 1:
            chapters.append(pages[0] | {"title": STAGE_TITLES[stage]})
        elif pages:
            chapters.append({"file": f"stages/{stage}", "sections": pages})
    if chapters:
        parts.append({"caption": f"Runs of the '{config.study}' study", "chapters": chapters})
    after = [{"file": c} for c in CHAPTERS_AFTER]
    paper = [r for r in runs if r.stage == "paper_results"]
    if paper:
        after.insert(1, {"file": f"runs/current/paper_results/{paper[0].name}", "title": paper[0].title})
    parts.append({"caption": "Findings and use", "chapters": after})
    toc = {"format": "jb-book", "root": "intro", "parts": parts}
    path = book_dir / "_toc.yml"
    path.write_text(yaml.safe_dump(toc, sort_keys=False))
    return path


def build_book(config: StudyConfig, book_dir: Path | None = None) -> Path:
    """Build the HTML book strictly and return the path of its index.html."""
    book_dir = book_dir or default_book_dir()
    link_current_study(config.study, book_dir)
    write_toc(config, book_dir)
    shutil.rmtree(book_dir / "_build", ignore_errors=True)
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    command = [str(jupyter_book), "build", str(book_dir), "-W", "-n", "--keep-going"]
    result = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
    if result.returncode != 0:
        raise RuntimeError(f"jupyter-book build failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return book_dir / "_build" / "html" / "index.html"
