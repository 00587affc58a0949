"""What an executed notebook shows: the tests read its printed text, its images and its Markdown outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import papermill

from helpers.paths import NOTEBOOKS_DIR


def execute(name: str, output: Path, **parameters: Any) -> nbformat.NotebookNode:
    """Run ``notebooks/<name>.ipynb`` with papermill (as the runner does) and return the executed notebook."""
    papermill.execute_notebook(
        str(NOTEBOOKS_DIR / f"{name}.ipynb"), str(output), parameters=parameters, kernel_name="python3",
        cwd=str(NOTEBOOKS_DIR),
    )  # fmt: skip
    return nbformat.read(output, as_version=4)


def _outputs(notebook: nbformat.NotebookNode) -> list[dict[str, Any]]:
    return [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]


def printed_text(notebook: nbformat.NotebookNode) -> str:
    """Everything the code cells printed."""
    return "".join(out.get("text", "") for out in _outputs(notebook))


def images(notebook: nbformat.NotebookNode) -> list[dict[str, Any]]:
    """The PNG outputs (figures drawn on the page)."""
    return [out for out in _outputs(notebook) if "image/png" in out.get("data", {})]


def markdown(notebook: nbformat.NotebookNode) -> list[str]:
    """The Markdown outputs (captions and verdicts displayed with ``display(Markdown(...))``)."""
    return [
        out["data"]["text/markdown"] for out in _outputs(notebook) if "text/markdown" in out.get("data", {})
    ]
