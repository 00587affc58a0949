"""Where the project keeps its data, results and caches.

All locations can be moved with environment variables so that the same code runs from a clean clone, in CI
(temporary directories) and on a GPU machine with a large scratch disk.
"""

from __future__ import annotations

import os
from pathlib import Path

from helpers.validation import ParameterError, check_name

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = REPO_ROOT / "data"
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"


def results_root() -> Path:
    """Root of all run outputs: ``$WARMBOOK_RESULTS`` or ``<repo>/results``."""
    return Path(os.environ.get("WARMBOOK_RESULTS", REPO_ROOT / "results"))


def book_dir() -> Path:
    """The jupyter-book source folder: ``$WARMBOOK_BOOK`` or ``<repo>/book`` (tests build a copy elsewhere)."""
    return Path(os.environ.get("WARMBOOK_BOOK", REPO_ROOT / "book"))


def cache_dir() -> Path:
    """Cache for converted models and generations: ``$WARMBOOK_CACHE`` or ``<repo>/.cache``."""
    return Path(os.environ.get("WARMBOOK_CACHE", REPO_ROOT / ".cache"))


def model_slug(model: str) -> str:
    """A folder name for a model id or path (``meta-llama/Llama-3.1-8B-Instruct`` -> ``Llama-3.1-8B-Instruct``)."""
    name = model.rstrip("/").split(":")[-1].split("/")[-1]
    if name in ("", ".", "..") and Path(model).expanduser().is_dir():  # "../models/x/.." names a real folder
        name = Path(model).expanduser().resolve().name
    slug = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name)
    if slug in ("", ".", ".."):
        raise ParameterError(
            "model", model, "a model id or folder whose last part is a name, not '.' or '..'"
        )
    return slug


def study_dir(study: str) -> Path:
    """Results folder of one study (one config file); the name is checked so nothing lands outside results/.

    Every stage, the runner and the book find a study's folder here, so this one check covers every entry point
    (config, notebook parameters, command line): ``..``, ``../x`` or ``a/b`` raise a ParameterError naming
    ``study``.
    """
    return results_root() / check_name("study", study)
