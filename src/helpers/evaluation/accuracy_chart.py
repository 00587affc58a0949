"""The evaluation page's chart: one variant's accuracy per context and user belief, one panel per task.

It lives with the evaluation stage, not in :mod:`helpers.analysis.figures`, because an evaluation run's
fingerprint covers every library module its notebook imports (docs/design.md): restyling the analysis figures
must not make every evaluation run stale.

With a handful of items per cell many bars are exactly 0% or 100%, and a 0% bar has no height: each bar is
therefore labelled with its value, and a cell without any scored answer (every answer a refusal on a task that
drops refusals) is labelled "no answers" where its bar would stand, so the reader can tell the two apart.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from helpers.vocabulary import TASKS

#: Greys, not colours: in the analysis figures a colour names a variant, and this chart shows one variant.
BELIEF_SHADES = {False: ("no belief", "0.72"), True: ("incorrect belief", "0.3")}
NO_ANSWERS = "no answers"


def accuracy_cells(scored: pd.DataFrame, amendment_types: list[str]) -> pd.DataFrame:
    """Accuracy (%) and number of scored answers per task, context and belief, every cell present.

    Input: rows after :func:`helpers.evaluation.refusal.apply_refusal_rule` (``task``, ``amendment_type``,
    ``belief``, ``is_incorrect``). A cell no answer reached has ``n`` 0 and accuracy NaN, so the chart can
    say so instead of leaving a gap that looks like a 0% bar.
    """
    tasks = [t for t in TASKS if t in set(scored["task"])] + sorted(set(scored["task"]) - set(TASKS))
    index = pd.MultiIndex.from_product(
        [tasks, list(amendment_types), [False, True]], names=["task", "amendment_type", "belief"]
    )
    grouped = scored.groupby(["task", "amendment_type", "belief"])["is_incorrect"]
    cells = pd.DataFrame({"accuracy": 100 * (1 - grouped.mean()), "n": grouped.size()}).reindex(index)
    return cells.assign(n=cells["n"].fillna(0).astype(int)).reset_index()


def plot_accuracy_by_context(scored: pd.DataFrame, amendment_types: list[str], title: str) -> Figure:
    """Bars of accuracy per context (x) without and with an incorrect user belief, one panel per task.

    Every bar carries its value ("0" for a cell answered wrongly every time); a cell without a scored answer
    says "no answers". Panels sit in two columns and each names its own contexts, slanted when there are
    more than two, so no label runs into its neighbour; with more than four contexts the panels stack in one
    column sharing the bottom panel's context labels, so a page-wide figure is not shrunk until its labels
    cannot be read.
    """
    cells = accuracy_cells(scored, amendment_types)
    tasks = list(dict.fromkeys(cells["task"]))
    if not tasks:  # every answer a judge failure or a dropped refusal: say so rather than fail the page
        fig, ax = plt.subplots(figsize=(6, 1.2))
        ax.text(0.5, 0.5, f"{title}: {NO_ANSWERS} scored", ha="center", va="center")
        ax.set_axis_off()
        return fig
    n_cols = min(2 if len(amendment_types) <= 4 else 1, len(tasks))
    n_rows = -(-len(tasks) // n_cols)
    width = max(4.5, 0.9 * len(amendment_types) + 1.5)
    slant = len(amendment_types) > 2
    fig, axes = plt.subplots(
        n_rows,
        n_cols,
        figsize=(
            width * n_cols,
            (2.4 if n_cols == 1 else 3.4 if slant else 2.9) * n_rows + (1.6 if slant else 0.6),
        ),
        sharex=n_cols == 1,
        sharey=True,
        squeeze=False,
        layout="constrained",
    )
    x = np.arange(len(amendment_types))
    bar = 0.38
    for ax, task in zip(axes.flat, tasks, strict=False):
        for offset, belief in ((-bar / 2, False), (bar / 2, True)):
            label, shade = BELIEF_SHADES[belief]
            part = cells[cells["task"].eq(task) & cells["belief"].eq(belief)]
            heights = part["accuracy"].fillna(0).to_numpy()
            bars = ax.bar(x + offset, heights, bar, color=shade, edgecolor="0.2", linewidth=0.6, label=label)
            texts = [
                NO_ANSWERS if n == 0 else f"{a:.0f}" for a, n in zip(part["accuracy"], part["n"], strict=True)
            ]
            ax.bar_label(bars, texts, padding=2, fontsize=7, rotation=90 if len(texts) > 4 else 0)
        ax.set_title(task, fontsize=10)
        ax.set_xticks(x, amendment_types)
        if slant:
            plt.setp(ax.get_xticklabels(), rotation=35, ha="right", rotation_mode="anchor")
        ax.set(ylim=(0, 118), yticks=range(0, 101, 20))
        ax.spines[["top", "right"]].set_visible(False)
    for ax in axes.flat[len(tasks) :]:
        ax.set_axis_off()
    for ax in axes[:, 0]:
        ax.set_ylabel("accuracy (%)")
    for ax in axes[-1]:
        ax.set_xlabel("context")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.suptitle(title)
    fig.legend(handles, labels, title="user belief", loc="outside right center", frameon=False)
    return fig
