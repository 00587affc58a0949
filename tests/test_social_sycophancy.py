"""The authors' ELEPHANT results load, tabulate, plot and are captioned from the data."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from helpers.analysis.social_sycophancy import (
    COLUMNS,
    EMOTIONAL_VALIDATION,
    FILE_NAME,
    NOT_RUN_NOTE,
    TABLE_COLUMNS,
    load_social_sycophancy,
    plot_social_sycophancy,
    social_sycophancy_caption,
    social_sycophancy_table,
)


def test_the_bundled_file_loads_into_the_tidy_table():
    raw = load_social_sycophancy()
    table = social_sycophancy_table(raw)
    assert list(table.columns) == TABLE_COLUMNS
    assert len(table) == 27
    assert set(table["benchmark"]) == {"Framing", "Emotional validation", "Indirectness"}
    assert set(table["dataset"]) == {"AITA-YTA", "OEQ", "SS"}
    qwen = table.set_index(["model", "benchmark", "dataset"]).loc[
        ("Qwen-32B", EMOTIONAL_VALIDATION, "AITA-YTA")
    ]
    assert qwen["difference"] == pytest.approx(
        raw.loc[12, "finetuned_accuracy"] - raw.loc[12, "base_accuracy"]
    )
    assert qwen["difference_ci_low"] < qwen["difference"] < qwen["difference_ci_high"]
    assert table["difference"].isna().sum() == 2  # GPT-4o has no base rate on SS for two behaviours


def test_the_difference_interval_combines_the_two_released_intervals():
    raw = pd.DataFrame(
        [["m", EMOTIONAL_VALIDATION, "OEQ", 50.0, 47.0, 53.0, 60.0, 56.0, 64.0]], columns=list(COLUMNS)
    )
    row = social_sycophancy_table(raw).iloc[0]
    half_width = 1.96 * np.hypot(3 / 1.96, 4 / 1.96)
    assert row["difference_ci_low"] == pytest.approx(10 - half_width)
    assert row["difference_ci_high"] == pytest.approx(10 + half_width)


def test_caption_counts_come_from_the_table():
    rows = [
        ("A", "OEQ", 40.0, 55.0),
        ("A", "SS", 50.0, 53.0),
        ("B", "OEQ", 60.0, 58.0),
        ("B", "SS", np.nan, 70.0),
    ]
    raw = pd.DataFrame(
        [[m, EMOTIONAL_VALIDATION, d, b, b - 1, b + 1, w, w - 1, w + 1] for m, d, b, w in rows],
        columns=list(COLUMNS),
    )
    caption = social_sycophancy_caption(social_sycophancy_table(raw))
    assert "more often than their base models in 2 of 3 comparisons of 2 models (A, B)" in caption
    assert "by 3.0 to 15.0 points (2 with the difference's interval above 0)" in caption
    assert "less often in 1, by 2.0 points" in caption
    assert "No base rate was released for B on SS" in caption
    assert caption.endswith(NOT_RUN_NOTE)
    assert "not implemented" in NOT_RUN_NOTE and "not run on ELEPHANT" in NOT_RUN_NOTE


def test_a_missing_column_is_named_with_the_file(tmp_path):
    raw = load_social_sycophancy().drop(columns=["base_CI_upper"])
    raw.to_csv(tmp_path / FILE_NAME, index=False)
    with pytest.raises(ValueError, match=r"social_syco\.csv: missing column\(s\) 'base_CI_upper'"):
        load_social_sycophancy(tmp_path)


def test_the_figure_has_a_panel_per_prompt_set_and_both_conditions():
    figure = plot_social_sycophancy(social_sycophancy_table(load_social_sycophancy()))
    axes = [ax for ax in figure.axes if ax.get_title()]
    assert [ax.get_title() for ax in axes] == ["AITA-YTA", "OEQ", "SS"]
    assert [t.get_text() for t in axes[0].get_xticklabels()] == ["GPT-4o", "Qwen-32B", "Llama-70B"]
    legend = figure.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == ["base model", "warm fine-tune"]
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    legend_box = legend.get_window_extent(renderer)
    assert all(not legend_box.overlaps(ax.get_window_extent(renderer)) for ax in axes)
