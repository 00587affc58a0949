"""Figures and tables saved as files under the study's results and linked from the page that shows them."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from helpers.figure_files import (
    download_line,
    figure_download,
    relative_link,
    save_figure,
    save_table,
    table_download,
)
from helpers.validation import ParameterError


@pytest.fixture
def figure():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    yield fig
    plt.close(fig)


def test_a_figure_is_saved_as_png_and_pdf_and_linked_from_the_page_folder(tmp_path, figure):
    folder, page = tmp_path / "demo" / "figures", tmp_path / "demo" / "notebooks" / "analysis"
    links = save_figure(figure, "fig_warmth", folder, page)
    assert links == {"png": "../../figures/fig_warmth.png", "pdf": "../../figures/fig_warmth.pdf"}
    assert (folder / "fig_warmth.png").read_bytes().startswith(b"\x89PNG")
    assert (folder / "fig_warmth.pdf").read_bytes().startswith(b"%PDF")
    assert sorted(p.name for p in folder.iterdir()) == ["fig_warmth.pdf", "fig_warmth.png"], (
        "no temporary files"
    )


def test_a_table_is_saved_as_csv_without_its_index(tmp_path):
    table = pd.DataFrame({"task": ["trivia", "medqa"], "error": [0.25, 0.5]}, index=[7, 8])
    links = save_table(table, "gaps", tmp_path / "figures", tmp_path / "notebooks" / "analysis")
    assert links == {"csv": "../../figures/gaps.csv"}
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "figures" / "gaps.csv"), table.reset_index(drop=True)
    )


def test_the_download_line_is_markdown_with_one_link_per_file():
    line = download_line({"png": "../../figures/a.png", "pdf": "../../figures/a.pdf"})
    assert line == "Download: [PNG](../../figures/a.png) · [PDF](../../figures/a.pdf)"


def test_links_are_relative_and_use_forward_slashes(tmp_path):
    assert relative_link(tmp_path / "a" / "b.csv", tmp_path / "c" / "d") == "../../a/b.csv"


@pytest.mark.parametrize("name", ["../escape", "a/b", ".hidden", "", 3])
def test_a_name_that_is_not_a_plain_file_name_is_refused(tmp_path, figure, name):
    with pytest.raises(ParameterError, match="name"):
        save_figure(figure, name, tmp_path, tmp_path)


def test_run_pages_link_to_the_study_figures_folder(tmp_path, monkeypatch, figure):
    monkeypatch.setenv("WARMBOOK_RESULTS", str(tmp_path))
    shown = figure_download(figure, "evaluate-warm-errors", "demo", "evaluate")
    assert shown.data == (
        "Download: [PNG](../../figures/evaluate-warm-errors.png) · [PDF](../../figures/evaluate-warm-errors.pdf)"
    )
    assert (tmp_path / "demo" / "figures" / "evaluate-warm-errors.pdf").exists()
    table = table_download(pd.DataFrame({"a": [1]}), "evaluate-warm-errors", "demo", "evaluate")
    assert table.data == "Download: [CSV](../../figures/evaluate-warm-errors.csv)"
