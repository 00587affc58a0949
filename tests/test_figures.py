"""Each figure draws the paper's released data and this project's results from the same tidy frames."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from simulate import simulate_evaluation_rows  # noqa: E402

from helpers.analysis import figures, reference  # noqa: E402
from helpers.analysis.gaps import strategy_errors  # noqa: E402
from helpers.analysis.paired import mcnemar_table, paired_table  # noqa: E402
from helpers.vocabulary import AMENDMENT_TYPES, COMPARED_VARIANTS  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def own_cells() -> pd.DataFrame:
    rows = simulate_evaluation_rows(variants=("original", "warm", "cold"), n_items=10, seed=3)
    return pd.concat([mcnemar_table(paired_table(rows, v)) for v in ("warm", "cold")], ignore_index=True)


def _scatter_points(fig: Figure) -> int:
    return sum(
        len(c.get_offsets()) for ax in fig.axes for c in ax.collections if isinstance(c, PathCollection)
    )


def _curves(ax) -> set[tuple[tuple[float, ...], tuple[float, ...]]]:
    """The distinct data curves of an axes (seaborn may draw a curve twice), without the reference line."""
    return {
        (
            tuple(np.asarray(line.get_xdata(), dtype=float)),
            tuple(np.round(np.asarray(line.get_ydata(), dtype=float), 6)),
        )
        for line in ax.get_lines()
        if len(line.get_xdata()) > 2
    }


def test_figure_1a_draws_one_line_per_model_with_the_warm_checkpoint_marked():
    fig = figures.plot_warmth_by_epoch(reference.load_sociot())
    ax = fig.axes[0]
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == ["llama-70b", "llama-8b", "gpt-4o", "mistral-small", "qwen-32b"]
    curves = _curves(ax)
    assert len(curves) == 5
    assert min(min(y) for _, y in curves) == pytest.approx(0.0)
    assert max(max(y) for _, y in curves) == pytest.approx(1.0)
    assert (
        len([c for c in ax.collections if isinstance(c, LineCollection)]) == 5
    )  # SEM bars, one set per model
    assert any(list(line.get_xdata()) == [2.0, 2.0] for line in ax.get_lines())


def test_figure_1a_starts_each_fine_tune_line_at_the_original_model():
    warmth = pd.DataFrame(
        {
            "model": ["m"] * 5,
            "variant": ["original", "warm", "warm", "cold", "cold"],
            "epoch": [0, 1, 2, 1, 2],
            "mean": [0.01, 0.02, 0.03, 0.008, 0.007],
            "sem": [0.001] * 5,
        }
    )
    curves = _curves(figures.plot_warmth_by_epoch(warmth, normalise=False).axes[0])
    assert curves == {((0.0, 1.0, 2.0), (0.01, 0.02, 0.03)), ((0.0, 1.0, 2.0), (0.01, 0.008, 0.007))}


def test_figure_2_draws_every_cell_in_a_panel_per_belief_condition():
    cells = reference.load_paired_summary("warm")
    fig = figures.plot_error_scatter(cells)
    assert [ax.get_title() for ax in fig.axes] == ["no user belief", "incorrect user belief"]
    assert _scatter_points(fig) == len(cells)


def test_figure_2_draws_this_projects_cells(own_cells):
    warm = own_cells[own_cells["variant"].eq("warm")]
    fig = figures.plot_error_scatter(warm)
    assert _scatter_points(fig) == len(warm)
    assert "warm model error" in fig.axes[0].get_ylabel()


def test_figure_3_has_a_panel_per_model_and_task():
    errors = strategy_errors(reference.load_paired_summary("warm"), "warm")
    fig = figures.plot_error_by_strategy(errors)
    assert len(fig.axes) == 5 * 4
    labels = [t.get_text() for t in fig.axes[-1].get_xticklabels()]
    assert labels == ["A: question", "A+B: + context", "A+B+C: + belief"]


def test_figure_4_draws_each_benchmark_with_its_interval():
    benchmarks = reference.load_benchmarks()
    fig = figures.plot_capabilities(benchmarks)
    assert [ax.get_title() for ax in fig.axes] == ["MMLU", "GSM8K", "AdvBench"]
    mmlu = fig.axes[0]
    bars = [line.get_ydata() for line in mmlu.get_lines() if np.isnan(line.get_ydata()).any()]
    spans = sorted(round(float(np.nanmax(y) - np.nanmin(y)), 1) for y in bars)
    expected = benchmarks[benchmarks["benchmark"].eq("MMLU")].eval("ci_upper - ci_lower").round(1)
    assert spans == sorted(expected)


def test_figure_4_draws_a_single_variant():
    own = pd.DataFrame(
        {
            "model": ["m"],
            "variant": ["original"],
            "benchmark": ["mmlu"],
            "accuracy": [40.0],
            "ci_lower": [30.0],
            "ci_upper": [50.0],
        }
    )
    assert len(figures.plot_capabilities(own).axes) == 1


def test_figure_5_compares_variants_per_context(own_cells):
    paper = pd.concat([reference.load_paired_summary(v) for v in COMPARED_VARIANTS], ignore_index=True)
    for cells, n_models in ((paper, 3), (own_cells, 1)):
        fig = figures.plot_accuracy_change_by_context(cells)
        assert len(fig.axes) == 2 * n_models  # one column per model, one row per belief condition
        labels = [t.get_text() for t in fig.axes[-1].get_xticklabels()]
        assert labels == list(AMENDMENT_TYPES)
        legend = [t.get_text() for t in fig.legends[0].get_texts()]
        assert legend == [v for v in figures.VARIANT_ORDER if v in set(cells["variant"])]


def test_figure_5_has_one_panel_per_model_with_the_controls_and_never_averages_across_models():
    paper = pd.concat([reference.load_paired_summary(v) for v in COMPARED_VARIANTS], ignore_index=True)
    fig = figures.plot_accuracy_change_by_context(paper)
    assert [ax.get_title() for ax in fig.axes[:3]] == ["gpt-4o", "llama-70b", "qwen-32b"]
    gpt_no_belief = fig.axes[0]
    drawn = {
        tuple(np.round(line.get_ydata(), 6))
        for line in gpt_no_belief.get_lines()
        if len(line.get_ydata()) == 9
    }
    cells = paper[paper["model"].eq("gpt-4o") & ~paper["belief"]]
    for variant in COMPARED_VARIANTS:
        per_context = cells[cells["variant"].eq(variant)].groupby("amendment_type")["diff_pp"].mean()
        assert (
            tuple(np.round(per_context[list(AMENDMENT_TYPES)].to_numpy(), 6)) in drawn
        )  # GPT-4o's tasks only
