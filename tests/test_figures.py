"""Each figure draws the paper's released data and this project's results from the same tidy frames."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from figure_layout import (  # noqa: E402
    clipped_markers,
    layout_problems,
    legends_over_data,
    overlapping_tick_labels,
    simulated_warmth,
    study_figures,
)
from matplotlib.collections import LineCollection, PathCollection  # noqa: E402
from matplotlib.colors import to_hex, to_rgba_array  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from simulate import simulate_evaluation_rows  # noqa: E402

from helpers.analysis import figures, reference  # noqa: E402
from helpers.analysis.gaps import strategy_errors  # noqa: E402
from helpers.analysis.paired import mcnemar_table, paired_table  # noqa: E402
from helpers.evaluation.accuracy_chart import NO_ANSWERS, plot_accuracy_by_context  # noqa: E402
from helpers.evaluation.refusal import apply_refusal_rule  # noqa: E402
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
    assert labels == ["A\nquestion", "A+B\n+ context", "A+B+C\n+ belief"]


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


# ------------------------------------------------------------------------------------------ layout


def _paper_cells() -> pd.DataFrame:
    return pd.concat([reference.load_paired_summary(v) for v in COMPARED_VARIANTS], ignore_index=True)


PAPER_FIGURES = {
    "1a": lambda: figures.plot_warmth_by_epoch(reference.load_sociot()),
    "2": lambda: figures.plot_error_scatter(reference.load_paired_summary("warm")),
    "3": lambda: figures.plot_error_by_strategy(
        strategy_errors(reference.load_paired_summary("warm"), "warm")
    ),
    "4": lambda: figures.plot_capabilities(reference.load_benchmarks()),
    "5": lambda: figures.plot_accuracy_change_by_context(_paper_cells()),
}


@pytest.fixture(scope="module")
def drawn() -> dict[str, Figure]:
    """Every figure: the paper's, from its released data, and a simulated study's with every variant."""
    rows = simulate_evaluation_rows(variants=figures.VARIANT_ORDER, n_items=10, seed=5)
    return {f"paper-fig{name}": draw() for name, draw in PAPER_FIGURES.items()} | study_figures(rows)


def test_every_figure_has_no_overlapping_tick_labels_no_covered_point_and_no_clipped_marker(drawn):
    assert {name: layout_problems(fig) for name, fig in drawn.items()} == {name: [] for name in drawn}


def test_the_layout_check_finds_overlapping_labels_a_covered_point_and_a_clipped_marker():
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot(range(4), [1, 2, 3, 0], marker="o", label="a line")
    ax.set_xticks(range(4), ["a long label"] * 4)
    ax.scatter([0, 1.5], [5, 2.25], s=80)  # one on the axes' edge, one in their centre
    ax.set(xlim=(0, 3), ylim=(-0.5, 5))
    ax.legend(loc="center")
    assert overlapping_tick_labels(fig) and legends_over_data(fig) and clipped_markers(fig)


def test_the_layout_check_reads_slanted_labels_by_their_own_outline():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot(range(9), range(9))
    ax.set_xticks(range(9), list(AMENDMENT_TYPES))
    assert overlapping_tick_labels(fig)
    plt.setp(ax.get_xticklabels(), rotation=40, ha="right", rotation_mode="anchor")
    assert overlapping_tick_labels(fig) == []  # their axis-aligned boxes overlap, their text does not


def _legend_colours(fig: Figure) -> dict[str, str]:
    """``{variant: hex colour}`` of the variants a figure's legends name."""
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
    colours = {}
    for legend in legends:
        for handle, text in zip(legend.legend_handles, legend.get_texts(), strict=True):
            if text.get_text() in figures.VARIANT_ORDER:
                colour = handle.get_color() if hasattr(handle, "get_color") else handle.get_facecolor()
                colours[text.get_text()] = to_hex(to_rgba_array(colour)[0])
    return colours


def _coloured_by_something_else(name: str) -> bool:
    """Figure 2 colours context groups, the paper's Figure 1a models, the evaluation chart beliefs (greys)."""
    return "fig2" in name or name == "paper-fig1a" or name.startswith("evaluate")


def test_a_variant_has_the_same_colour_in_every_figure(drawn):
    colours = {
        name: _legend_colours(fig) for name, fig in drawn.items() if not _coloured_by_something_else(name)
    }
    assert all(colours.values()), "each figure's legend names the variants it draws"
    expected = {
        name: {v: figures.VARIANT_COLOURS[v].lower() for v in found} for name, found in colours.items()
    }
    assert colours == expected


def test_no_figure_uses_a_variant_colour_for_anything_else(drawn):
    variant_colours = {c.lower() for c in figures.VARIANT_COLOURS.values()}
    for name in ("paper-fig1a", "paper-fig2", "analysis-fig2-error-scatter"):
        ax = drawn[name].axes[0]
        used = {to_hex(line.get_color()) for line in ax.get_lines() if len(line.get_xdata()) > 2}
        used |= {to_hex(c) for coll in ax.collections for c in coll.get_facecolors()}
        assert used and not used & variant_colours, name


def test_figure_1a_draws_the_warm_and_the_cold_fine_tune_in_their_own_colours():
    ax = figures.plot_warmth_by_epoch(simulated_warmth()).axes[0]
    colours = {to_hex(line.get_color()) for line in ax.get_lines() if len(line.get_xdata()) > 2}
    assert colours == {figures.VARIANT_COLOURS["warm"].lower(), figures.VARIANT_COLOURS["cold"].lower()}


def test_figure_2_names_its_legend_in_words_and_shows_whole_markers_at_zero_error(own_cells):
    warm = own_cells[own_cells["variant"].eq("warm")].copy()
    warm.loc[warm.index[0], ["original_accuracy", "variant_accuracy"]] = [
        100.0,
        100.0,
    ]  # 0% error on both axes
    fig = figures.plot_error_scatter(warm)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "context group" in legend and "context_group" not in legend
    assert clipped_markers(fig) == []


# ------------------------------------------------------------------------- the evaluation page's chart


def _evaluation_rows() -> pd.DataFrame:
    """Scored rows of one variant in the demo's framings, with one cell answered wrongly every time and one
    where every answer was a refusal on a task that drops refusals."""
    rows = simulate_evaluation_rows(variants=("warm",), n_items=3, seed=1)
    rows = rows[rows["prompt_template"].isin(["original", "incorrect"])].copy()
    wrong = rows["task"].eq("disinfo") & rows["amendment_type"].eq("unmodified")
    rows.loc[wrong & rows["prompt_template"].eq("original"), "evaluation"] = "INCORRECT"
    refused = rows["task"].eq("trivia") & rows["amendment_type"].eq("emotion:sad")
    rows.loc[refused & rows["prompt_template"].eq("incorrect"), "refusal"] = 1
    return apply_refusal_rule(rows)


def test_the_evaluation_chart_labels_a_zero_bar_and_says_where_no_answer_was_scored():
    fig = plot_accuracy_by_context(_evaluation_rows(), ["unmodified", "emotion:sad"], "warm")
    panels = {ax.get_title(): ax for ax in fig.axes}
    labels = {title: [t.get_text() for t in ax.texts] for title, ax in panels.items()}
    assert labels["disinfo"][0] == "0"  # no belief, unmodified: every answer wrong, a bar of height 0
    assert labels["trivia"][-1] == NO_ANSWERS  # incorrect belief, sad: nothing scored
    assert NO_ANSWERS not in labels["disinfo"]


@pytest.mark.parametrize("contexts", [["unmodified", "emotion:sad"], list(AMENDMENT_TYPES)])
def test_the_evaluation_chart_passes_the_layout_check(contexts):
    rows = _evaluation_rows()
    fig = plot_accuracy_by_context(rows[rows["amendment_type"].isin(contexts)], contexts, "warm")
    assert layout_problems(fig) == []


def test_the_evaluation_chart_says_so_when_no_answer_was_scored():
    fig = plot_accuracy_by_context(_evaluation_rows().iloc[:0], ["unmodified"], "warm")
    assert [t.get_text() for t in fig.axes[0].texts] == [f"warm: {NO_ANSWERS} scored"]
