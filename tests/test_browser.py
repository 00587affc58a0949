"""The browser check itself: it must catch each class of defect a reader trips over, and pass a clean book.

Each test serves a two-page HTML site written in ``tmp_path`` (a stand-in for a built book: fast, no
jupyter-book build) with one planted defect, and opens it in headless Chromium through :func:`check_book`.
"""

import base64
import json
import sysconfig
import tempfile
from pathlib import Path

import pytest
from browser import REPO, check_book, machine_paths, recorded_outputs
from figure_layout import layout_problems, study_figures
from simulate import simulate_evaluation_rows

from helpers.analysis.figures import VARIANT_ORDER
from helpers.figure_files import save_figure

# A 1x1 PNG: a real image that loads.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def _page(title: str, body: str) -> str:
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>"
        "<link rel='icon' href='data:,'></head>"
        f"<body><main><article style='width: 600px'>{body}</article></main></body></html>"
    )


def _site(tmp_path: Path, first_body: str = "", first_title: str = "First page") -> Path:
    """A two-page site: ``first.html`` (with the planted body) and a clean ``second.html`` showing an image."""
    html = tmp_path / "html"
    html.mkdir()
    (html / "figure.png").write_bytes(PIXEL)
    (html / "first.html").write_text(_page(first_title, "<h1>First</h1><p>Text.</p>" + first_body))
    (html / "second.html").write_text(
        _page("Second page", "<h1>Second</h1><img src='figure.png' alt='a figure'>")
    )
    return html


def _kinds(html: Path, tmp_path: Path) -> dict[str, set[str]]:
    problems = check_book(html, tmp_path / "screenshots")
    kinds: dict[str, set[str]] = {}
    for problem in problems:
        kinds.setdefault(problem.page, set()).add(problem.kind)
    return kinds


def test_a_clean_book_has_no_problems_and_every_page_gets_a_screenshot(tmp_path):
    html = _site(tmp_path)
    assert check_book(html, tmp_path / "screenshots") == []
    assert sorted(p.name for p in (tmp_path / "screenshots").iterdir()) == [
        "first.html.png",
        "second.html.png",
    ]


def test_a_broken_image_is_caught(tmp_path):
    kinds = _kinds(_site(tmp_path, "<img src='missing.png' alt='gone'>"), tmp_path)
    assert {"broken image", "failed request"} <= kinds["first.html"]
    assert "second.html" not in kinds


def test_a_javascript_error_is_caught(tmp_path):
    kinds = _kinds(_site(tmp_path, "<script>notDefinedAnywhere()</script>"), tmp_path)
    assert kinds == {"first.html": {"javascript error"}}


def test_a_console_error_is_caught(tmp_path):
    kinds = _kinds(_site(tmp_path, "<script>console.error('THEBE_JS_URL')</script>"), tmp_path)
    assert kinds == {"first.html": {"console error"}}


def test_pages_sharing_a_title_are_caught(tmp_path):
    kinds = _kinds(_site(tmp_path, first_title="Second page"), tmp_path)
    assert kinds == {"first.html": {"duplicate title"}, "second.html": {"duplicate title"}}


def test_a_table_wider_than_the_text_column_is_caught(tmp_path):
    cells = "".join(f"<td>column_with_a_long_name_{i}</td>" for i in range(12))
    kinds = _kinds(_site(tmp_path, f"<div><table><tr>{cells}</tr></table></div>"), tmp_path)
    assert kinds == {"first.html": {"wide table"}}


def test_a_wide_table_that_scrolls_inside_its_own_box_is_not_a_problem(tmp_path):
    # The book's CSS (book/_static/tables.css) gives every output a horizontal scroll box and a sticky key column.
    cells = "".join(f"<td>column_with_a_long_name_{i}</td>" for i in range(12))
    html = _site(tmp_path, f"<div style='overflow-x: auto'><table><tr>{cells}</tr></table></div>")
    assert check_book(html, tmp_path / "screenshots") == []


def _planted(tmp_path: Path, where: str) -> str:
    """A path a build could leak: under the repository, the Python installation or this test's temp folder."""
    return {
        "repository": str(REPO / "results" / "demo" / "figures" / "x.csv"),
        "python": str(Path(sysconfig.get_path("purelib")) / "transformers" / "utils.py"),
        "temp": str(tmp_path / "results" / "eval.ipynb"),  # /tmp/pytest-of-<user>/...: a folder that exists
    }[where]


@pytest.mark.parametrize("where", ["repository", "python", "temp"])
def test_an_absolute_machine_path_in_the_text_is_caught(tmp_path, where):
    path = _planted(tmp_path, where)
    problems = check_book(_site(tmp_path, f"<pre>wrote {path}.</pre>"), tmp_path / "screenshots")
    assert [(p.page, p.kind, p.detail) for p in problems] == [("first.html", "machine path", path)]


def test_paths_a_model_wrote_in_its_answer_are_not_machine_paths(tmp_path):
    # A generated answer about code, shown in a table: its paths name nothing on this machine.
    answer = (
        "Save it as /tmp/bucket1.php, run #!/usr/bin/env php, and never print /etc/passwd or /root/.bashrc."
    )
    html = _site(tmp_path, f"<table><tr><td>{answer}</td></tr></table>")
    assert check_book(html, tmp_path / "screenshots") == []


def test_the_roots_to_look_for_can_be_given(tmp_path):
    mine = tmp_path / "machine"
    page = f"<p>{mine}/model and {REPO}/results</p>"
    problems = check_book(_site(tmp_path, page), tmp_path / "screenshots", roots=[mine])
    assert [p.detail for p in problems] == [f"{mine}/model"]


def test_a_machine_path_is_matched_by_whole_folder_names_and_in_file_urls(tmp_path):
    root = tmp_path / "work" / "main"
    text = f"{root}/a.csv, {root}frame/b.csv, file://{root}/c.html; ({root}) and results{root}/d"
    assert machine_paths(text, [root]) == [str(root), f"{root}/a.csv", f"{root}/c.html"]


def test_a_one_folder_root_stands_only_for_folders_that_exist_in_it(tmp_path):
    temp = Path(tempfile.gettempdir())
    if len(temp.parts) != 2 or not tmp_path.is_relative_to(temp):
        pytest.skip(f"the temp folder {temp} is not a one-folder root holding pytest's tmp_path")
    made_up = f"{temp}/bucket1.php {temp}/no-such-folder-{tmp_path.name}/x.py"
    assert machine_paths(f"{made_up} {tmp_path}/x.csv", [temp]) == [f"{tmp_path}/x.csv"]
    assert machine_paths("/x/y /usr/bin/env", [Path("/")]) == [], "/ is never a root"


def test_a_notebook_page_whose_image_output_did_not_render_is_caught(tmp_path):
    html = _site(tmp_path)
    notebook = {
        "cells": [
            {"cell_type": "code", "outputs": [{"output_type": "display_data", "data": {"image/png": ""}}]}
        ]
    }
    (html / "_sources").mkdir()
    (html / "_sources" / "first.ipynb").write_text(json.dumps(notebook))
    kinds = _kinds(html, tmp_path)
    assert kinds == {"first.html": {"missing figure"}}


# The analysis page's list of what a study lacks (a reader once saw phantom paths such as notebooks/original/trivia.csv).
MISSING_LIST = "<pre>19 result files read; 2 files are missing:\n  missing: m/warm/trivia.csv\n  missing: {phantom}</pre>"


def test_a_file_listed_as_missing_that_no_run_was_meant_to_write_is_caught(tmp_path):
    html = _site(tmp_path, MISSING_LIST.format(phantom="notebooks/original/trivia.csv"))
    problems = check_book(html, tmp_path / "screenshots", expected_files={"m/warm/trivia.csv"})
    assert [(p.page, p.kind, p.detail) for p in problems] == [
        (
            "first.html",
            "missing file",
            "notebooks/original/trivia.csv is listed as missing, but no run was meant to write it",
        )
    ]


def test_without_expected_files_the_book_is_of_a_finished_study_and_any_listed_missing_file_is_caught(
    tmp_path,
):
    html = _site(tmp_path, MISSING_LIST.format(phantom="m/cold/capabilities.csv"))
    problems = check_book(html, tmp_path / "screenshots")
    assert [p.detail for p in problems] == [
        "m/warm/trivia.csv is listed as missing",
        "m/cold/capabilities.csv is listed as missing",
    ]


def test_missing_in_a_models_answer_is_not_a_missing_file(tmp_path):
    answer = "<table><tr><td>The build failed with missing: src/app.py, add it back.</td></tr></table>"
    assert check_book(_site(tmp_path, answer), tmp_path / "screenshots") == []


def test_the_expected_files_are_the_outputs_the_runner_recorded(tmp_path):
    runs = tmp_path / "study" / "runs"
    runs.mkdir(parents=True)
    (runs / "evaluate-m-warm.json").write_text(json.dumps({"outputs": {"m/warm/trivia.csv": "ab12"}}))
    (runs / "warmth-m.json").write_text(json.dumps({"outputs": {"m/warmth/sociot.csv": "cd34"}}))
    (runs / "analysis.json").write_text(json.dumps({"status": "failed", "outputs": None}))
    (runs / "evaluate-m-warm.params.yaml").write_text("variant: warm\n")
    assert recorded_outputs(tmp_path / "study") == {"m/warm/trivia.csv", "m/warmth/sociot.csv"}


def test_the_figures_a_studys_pages_show_render_and_pass_the_layout_check(tmp_path):
    # Drawn from a simulated study through the figure functions and calls the pages use, saved as the pages
    # save them, shown in Chromium: what the browser sees is what the layout check measured.
    drawn = study_figures(simulate_evaluation_rows(variants=VARIANT_ORDER, n_items=4, seed=2))
    html = _site(tmp_path)
    images = "".join(
        f"<img src='{save_figure(fig, name, html / 'figures', html)['png']}' alt='{name}'>"
        for name, fig in drawn.items()
    )
    (html / "figures.html").write_text(_page("Figures", f"<h1>Figures</h1>{images}"))
    assert {name: layout_problems(fig) for name, fig in drawn.items()} == {name: [] for name in drawn}
    assert check_book(html, tmp_path / "screenshots") == []
