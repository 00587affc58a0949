"""Seaborn versions of the paper's Figures 1a, 2, 3, 4 and 5.

Each function takes one tidy DataFrame, in the shape produced both by :mod:`helpers.analysis.reference` (the authors'
released numbers) and by :mod:`helpers.analysis` (this project's runs), and returns a matplotlib Figure, so the
book draws the paper's results and ours with the same code and the reader can compare like with like.

Intervals that arrive precomputed (a SEM, a benchmark's 95% CI) are drawn by seaborn itself: each point is
given as three rows (lower, value, upper) and plotted with ``estimator="median"`` and ``errorbar=("pi", 100)``,
whose median is the value and whose full range is the interval (:func:`_interval_rows`).

A colour names a variant, in every figure of the book (:data:`VARIANT_COLOURS`): a reader who learnt that
warm is red-orange in one figure must not find it meaning the warm system prompt in the next.
Figures whose colours stand for something else (models, context groups) draw from palettes that use none of
the variant colours.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from helpers.analysis.gaps import STRATEGIES
from helpers.colours import VARIANT_COLOURS
from helpers.paths import model_slug
from helpers.vocabulary import AMENDMENT_TYPES, CONTEXT_GROUPS, TASKS

VARIANT_ORDER = ("original", "warm", "warm_prompt", "cold")
#: Colours for lines that differ by model (Figure 1a of the paper) and for context groups (Figure 2): Paul Tol's
#: muted scheme, none of which is a variant colour.
MODEL_COLOURS = ("#332288", "#117733", "#44AA99", "#999933", "#882255", "#88CCEE", "#DDCC77")
CONTEXT_COLOURS = {"none": "#222222", "emotion": "#117733", "relation": "#88CCEE", "stake": "#DDCC77"}
_BELIEF_LABELS = {False: "no user belief", True: "incorrect user belief"}
#: Two lines each, so three labels fit under a narrow panel side by side (on one line each they overlapped).
_STRATEGY_LABELS = {"question": "A\nquestion", "context": "A+B\n+ context", "belief": "A+B+C\n+ belief"}
#: Column names shown as legend titles (seaborn titles a legend with its column's name).
_CONTEXT = "context group"


def _present(values: pd.Series, order: tuple[str, ...]) -> list[str]:
    """The vocabulary order restricted to values present, followed by any values outside the vocabulary."""
    seen = list(dict.fromkeys(values))
    return [v for v in order if v in seen] + [v for v in seen if v not in order]


def _facets(data: pd.DataFrame, **roles: str) -> dict[str, object]:
    """seaborn keyword arguments mapping each role (x, hue, style, col, row) to a column, with the vocabulary's
    order of the values present (``order`` for x, ``<role>_order`` otherwise)."""
    orders = {
        "variant": VARIANT_ORDER, "task": TASKS, _CONTEXT: CONTEXT_GROUPS,
        "user_belief": tuple(_BELIEF_LABELS.values()), "amendment_type": AMENDMENT_TYPES,
    }  # fmt: skip
    palettes = {"variant": VARIANT_COLOURS, _CONTEXT: CONTEXT_COLOURS}
    kwargs: dict[str, object] = {}
    for role, column in roles.items():
        kwargs[role] = column
        if column in orders:
            kwargs["order" if role == "x" else f"{role}_order"] = _present(data[column], orders[column])
        if role == "hue" and column in palettes:
            kwargs["palette"] = {v: palettes[column].get(v, "0.6") for v in data[column].unique()}
    return kwargs


def _interval_rows(frame: pd.DataFrame, value: str, lower: str, upper: str) -> pd.DataFrame:
    """Three rows per point (lower, value, upper) in a column ``value``: median = value, range = interval."""
    keep = [c for c in frame.columns if c not in {value, lower, upper}]
    parts = [frame[keep].assign(**{value: frame[column]}) for column in (lower, value, upper)]
    return pd.concat(parts, ignore_index=True)


def _rotate_xticks(grid: sns.FacetGrid, angle: float) -> None:
    """Slant long category labels so they stay readable, then make room for them."""
    for ax in grid.axes.flat:
        plt.setp(ax.get_xticklabels(), rotation=angle, ha="right", rotation_mode="anchor")
    grid.tight_layout()


def plot_warmth_by_epoch(warmth: pd.DataFrame, *, normalise: bool = True, warm_epoch: float = 2.0) -> Figure:
    """Figure 1a: SocioT warmth of each model's outputs per fine-tuning epoch, mean +/- SEM across responses.

    Input columns: ``model``, ``epoch``, ``mean``, ``sem`` and optionally ``variant`` (line style; the
    ``original`` row, epoch 0 in ``sociot.csv``, starts every fine-tune's line). The paper's error bars are the
    SEM across responses (its caption): pass the table of
    :func:`helpers.analysis.study_results.warmth_across_texts`, not a SEM across dropout passes.
    With ``normalise`` the scores are min-max scaled over the whole frame (the paper's figure is normalised;
    the SEM is scaled by the same factor), so 0 is the least and 1 the warmest set of outputs shown. The dashed
    line marks the checkpoint the paper calls "the warm model" (epoch 2).

    Lines of different fine-tunes (warm, cold) take the variant colours, models then differ by line style;
    lines that differ only by model (the paper's warm fine-tunes) take :data:`MODEL_COLOURS`. The legend sits
    outside the axes, where no data point can be under it.
    """
    data = warmth.copy()
    styles = [v for v in data.get("variant", pd.Series(dtype=str)).unique() if v != "original"]
    if styles and data["variant"].eq("original").any():
        original = data[data["variant"].eq("original")]
        data = pd.concat(
            [data[data["variant"].ne("original")], *(original.assign(variant=v) for v in styles)]
        )
    if normalise:
        low, high = data["mean"].min(), data["mean"].max()
        span = (high - low) or 1.0
        data["mean"], data["sem"] = (data["mean"] - low) / span, data["sem"] / span
    data["lower"], data["upper"] = data["mean"] - data["sem"], data["mean"] + data["sem"]
    long = _interval_rows(data, "mean", "lower", "upper")
    models = list(dict.fromkeys(long["model"]))
    if "variant" in long and long["variant"].nunique() > 1:
        colours = _facets(long, hue="variant") | {"style": "model" if len(models) > 1 else None}
    else:
        colours = {"hue": "model", "palette": dict(zip(models, MODEL_COLOURS * len(models), strict=False))}
    with sns.axes_style("whitegrid"):
        fig, ax = plt.subplots(figsize=(7.5, 4))
        sns.lineplot(
            long,
            x="epoch",
            y="mean",
            **colours,
            estimator="median",
            errorbar=("pi", 100),
            err_style="bars",
            marker="o",
            ax=ax,
        )
        ax.axvline(warm_epoch, color="0.4", linestyle="--", linewidth=1)
        ax.annotate(
            "warm model",
            (warm_epoch, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(-4, -12),
            textcoords="offset points",
            ha="right",
            fontsize=9,
            color="0.3",
        )
        ax.set(
            xlabel="fine-tuning epoch",
            ylabel="SocioT warmth" + (" (min-max normalised)" if normalise else ""),
            title=models[0] if len(models) == 1 else "",
        )
        sns.move_legend(ax, "upper left", bbox_to_anchor=(1.02, 1), frameon=False)
        fig.tight_layout()
    return fig


def plot_error_scatter(cells: pd.DataFrame) -> Figure:
    """Figure 2: each cell's error rate, original (x) against the compared variant (y), per user belief.

    Input: a cell table (:func:`helpers.analysis.paired.mcnemar_table` or :func:`helpers.analysis.reference.load_paired_summary`)
    for one compared variant. Colour = context group, marker = task. Points above the diagonal are cells where
    the variant makes more errors than the original it was made from. The axes reach a little below 0 and
    above the largest error, so a cell at 0% or 100% shows its whole marker.
    """
    data = cells.assign(
        original_error=100 - cells["original_accuracy"],
        variant_error=100 - cells["variant_accuracy"],
        user_belief=cells["belief"].map(_BELIEF_LABELS),
    ).rename(columns={"context_group": _CONTEXT})
    variant = ", ".join(_present(data["variant"], VARIANT_ORDER))
    with sns.axes_style("whitegrid"):
        grid = sns.relplot(
            data,
            **_facets(data, x="original_error", hue=_CONTEXT, style="task", col="user_belief"),
            y="variant_error",
            height=4,
            s=45,
            alpha=0.8,
        )
        top = max(data["original_error"].max(), data["variant_error"].max(), 1.0)
        limits = (-0.04 * top, 1.04 * top)
        for ax in grid.axes.flat:
            ax.plot(limits, limits, color="0.5", linestyle="--", linewidth=1)
            ax.set(xlim=limits, ylim=limits)
        grid.set_titles("{col_name}")
        grid.set_axis_labels("original model error (%)", f"{variant} model error (%)")
    return grid.figure


def plot_error_by_strategy(errors: pd.DataFrame) -> Figure:
    """Figure 3: error rate of the original and the compared variant as the evaluation adds context and belief.

    Input: :func:`helpers.analysis.gaps.strategy_errors` (``model, task, strategy, variant, error``). One panel per
    model (rows) and task (columns); the x axis adds conditions cumulatively, as in the paper: A, the bare
    question; A+B, all nine contexts without a belief; A+B+C, all eighteen conditions. Widening gaps to the right
    mean the standard, question-only evaluation understates how much the variant loses. The strategy labels
    take two lines each, so the three fit side by side under every panel.
    """
    data = errors.assign(
        strategy=errors["strategy"].map(_STRATEGY_LABELS), model=errors["model"].map(model_slug)
    )
    with sns.axes_style("whitegrid"):
        grid = sns.catplot(
            data,
            kind="point",
            x="strategy",
            y="error",
            order=[_STRATEGY_LABELS[s] for s in _present(errors["strategy"], STRATEGIES)],
            **_facets(data, hue="variant", col="task", row="model"),
            height=2.8,
            aspect=1.2,
            errorbar=None,
            margin_titles=True,
        )
        grid.set_titles(row_template="{row_name}", col_template="{col_name}")
        grid.set_axis_labels("", "error (%)")
    return grid.figure


#: How a rate with its 95% interval is drawn (Figure 4, the ELEPHANT figure): over the three rows per point of
#: ``_interval_rows``, the median is the point and the full range the interval.
INTERVAL_POINTS = {
    "kind": "point", "estimator": "median", "errorbar": ("pi", 100), "linestyle": "none", "capsize": 0.15,
    "height": 3.2,
}  # fmt: skip


def plot_capabilities(benchmarks: pd.DataFrame) -> Figure:
    """Figure 4: capability and safety benchmarks of original and warm models with 95% intervals.

    Input columns: ``model, variant, benchmark, accuracy, ci_lower, ci_upper`` (percent; for AdvBench the
    refusal rate on harmful requests). Overlapping intervals mean the benchmark does not see the change that
    the paper's warmth-sensitive evaluations see.
    """
    long = _interval_rows(benchmarks, "accuracy", "ci_lower", "ci_upper")
    with sns.axes_style("whitegrid"):
        grid = sns.catplot(
            long,
            **INTERVAL_POINTS,
            **_facets(long, x="model", hue="variant", col="benchmark"),
            y="accuracy",
            col_order=list(dict.fromkeys(benchmarks["benchmark"])),
            dodge=0.4 if long["variant"].nunique() > 1 else False,
            sharey=False,
            aspect=1.1,
        )
        grid.set_titles("{col_name}")
        grid.set_axis_labels("", "accuracy / refusal rate (%)")
        _rotate_xticks(grid, 30)
    return grid.figure


def models_with_every_variant(cells: pd.DataFrame) -> list[str]:
    """Models that have cells for every variant in ``cells``, sorted by name.

    Figure 5 compares variants within a model, so a model without the controls (the paper ran the cold
    fine-tune and the warm system prompt on GPT-4o, Llama-70B and Qwen-32B only) has no panel.
    """
    variants = set(cells["variant"])
    present = cells.groupby("model")["variant"].agg(set)
    return [model for model, seen in present.items() if seen == variants]


def plot_accuracy_change_by_context(cells: pd.DataFrame) -> Figure:
    """Figure 5: accuracy change (variant - original, pp) per context for each compared variant, one panel per model.

    Input: cell tables of several variants concatenated (warm fine-tune, warm system prompt, cold fine-tune).
    As in the paper, each model has its own panel (columns; rows = user belief) and only models with every
    variant are drawn (:func:`models_with_every_variant`: GPT-4o, Llama-70B and Qwen-32B for the paper), so a
    variant is never averaged over a different set of models than the one it is compared with. Points are
    means over the model's tasks with bootstrap 95% intervals (seeded). Below the zero line the variant
    answers worse than the original model.
    """
    models = models_with_every_variant(cells)
    data = cells[cells["model"].isin(models)].assign(user_belief=lambda d: d["belief"].map(_BELIEF_LABELS))
    with sns.axes_style("whitegrid"):
        grid = sns.catplot(
            data,
            kind="point",
            **_facets(data, x="amendment_type", hue="variant", col="model", row="user_belief"),
            col_order=models,
            y="diff_pp",
            errorbar=("ci", 95),
            seed=0,
            dodge=0.4 if data["variant"].nunique() > 1 else False,
            linestyle="none",
            height=3.4,
            aspect=1.2,
            margin_titles=True,
        )
        for ax in grid.axes.flat:
            ax.axhline(0, color="0.4", linewidth=1)
        grid.set_titles(row_template="{row_name}", col_template="{col_name}")
        grid.set_axis_labels("context", "accuracy change vs original (pp)")
        _rotate_xticks(grid, 40)
    return grid.figure


def unavailable_figure(message: str) -> Figure:
    """A small figure saying what is missing, so a chapter that pastes a figure still renders when a stage
    has not produced its data (the strict book build would otherwise fail on the missing glue key)."""
    fig, ax = plt.subplots(figsize=(6, 1.2))
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    ax.set_axis_off()
    return fig


def publish(fig: Figure, name: str, study: str, stage: str = "analysis", glue_key: str | None = None) -> None:
    """Show a figure on its page the one way the book does: saved as PNG and PDF under
    ``results/<study>/figures/<name>`` with its download line, glued under ``glue_key`` (if any) for the chapters
    that paste it, then drawn."""
    from IPython.display import display
    from myst_nb import glue

    from helpers.figure_files import figure_download

    if glue_key is not None:
        glue(glue_key, fig, display=False)
    download = figure_download(fig, name, study, stage)
    plt.show()
    display(download)
