"""Paired tests per cell (paper, Methods, "Statistical analysis"; docs/study.md section 8).

Original and variant answers to the same prompt are joined on (model, task, item, context, template); the exact
McNemar test asks whether the discordant pairs ``b`` (original right, variant wrong) and ``c`` (the reverse)
differ; Cohen's g and the discordant odds ratio ``b / c`` give the effect size; Benjamini-Hochberg controls the
false discovery rate within each model x task x belief family of 9 contexts (a cell without discordant pairs
has no p-value and is left out of its family, as in the authors' ``summary_data/significance_tests.py``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

from helpers.analysis.reference import CELL_COLUMNS
from helpers.evaluation.refusal import apply_refusal_rule
from helpers.vocabulary import (
    AMENDMENT_TYPES,
    context_group,
)

PAIR_KEY = ["model", "task", "item_id", "amendment_type", "prompt_template"]


def paired_table(rows: pd.DataFrame, variant: str, baseline: str = "original") -> pd.DataFrame:
    """Join each baseline answer to the variant's answer to the same prompt (the unit of the McNemar test).

    The key is (model, task, item_id, amendment_type, prompt_template) (CONTRIBUTING; the authors joined on
    question text, context and template). A prompt scored twice keeps its first row, so a pair is never
    counted twice. Returns one row per pair with ``correct_original`` and ``correct_variant``.
    """
    scored = apply_refusal_rule(rows)
    keep = [*PAIR_KEY, "belief", "context_group", "is_incorrect"]
    base = scored[scored["variant"].eq(baseline)].drop_duplicates(PAIR_KEY)[keep]
    other = scored[scored["variant"].eq(variant)].drop_duplicates(PAIR_KEY)[[*PAIR_KEY, "is_incorrect"]]
    pairs = base.merge(other, on=PAIR_KEY, suffixes=("_original", "_variant"))
    pairs["correct_original"] = pairs.pop("is_incorrect_original").eq(0)
    pairs["correct_variant"] = pairs.pop("is_incorrect_variant").eq(0)
    pairs.insert(0, "variant", variant)
    return pairs.reset_index(drop=True)


def exact_mcnemar_p(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts (binomial test of b against b + c).

    NaN without discordant pairs: there is nothing to test, and the authors' ``significance_tests.py`` leaves
    such a cell's p-value undefined (printed N/A) rather than 1, so it stays out of the FDR family.
    """
    if b + c == 0:
        return float("nan")
    return float(mcnemar([[0, b], [c, 0]], exact=True).pvalue)


def benjamini_hochberg(p_values: pd.Series) -> pd.Series:
    """Benjamini-Hochberg adjusted p-values of the cells that have one; NaN stays NaN and is not counted.

    The authors correct ``p-value-raw`` where it is not NaN (``fdrcorrection`` on the valid p-values only), so a
    cell without discordant pairs neither gets an adjusted p-value nor enlarges the family of the others.
    """
    adjusted = pd.Series(np.nan, index=p_values.index, dtype=float)
    valid = p_values.notna()
    if valid.any():
        adjusted[valid] = multipletests(p_values[valid].to_numpy(float), method="fdr_bh")[1]
    return adjusted


def cohens_g(b: int, c: int) -> float:
    """Cohen's g for paired proportions: ``max(b, c) / (b + c) - 0.5`` (0 = no effect, 0.5 = all one way).

    Cohen (1988) calls 0.05, 0.15 and 0.25 small, medium and large. NaN without discordant pairs. The paper's
    column of this name holds the McNemar z instead (see :func:`mcnemar_z`).
    """
    return max(b, c) / (b + c) - 0.5 if b + c else float("nan")


def mcnemar_z(b: int, c: int) -> float:
    """``|b - c| / sqrt(b + c)``: what the paper's summary tables report under "Cohen's g"."""
    return abs(b - c) / np.sqrt(b + c) if b + c else float("nan")


def discordant_odds_ratio(b: int, c: int) -> float:
    """``b / c``: odds that a discordant pair is a loss (original right, variant wrong) rather than a gain.

    Infinite when every discordant pair is a loss, NaN when there are none (as in the paper's tables).
    """
    if c:
        return b / c
    return float("inf") if b else float("nan")


def g_effect_size(g: float) -> str:
    """Cohen's (1988) label for g: negligible below 0.05, then small, medium (0.15) and large (0.25)."""
    if np.isnan(g):
        return "n/a"
    return "negligible" if g < 0.05 else "small" if g < 0.15 else "medium" if g < 0.25 else "large"


def pairs_from_counts(cells: pd.DataFrame) -> pd.DataFrame:
    """Paired rows carrying only the discordant pairs of each cell: ``b`` losses and ``c`` gains.

    Concordant pairs do not enter the McNemar test, Cohen's g, the odds ratio or the FDR correction, so
    :func:`mcnemar_table` of these rows reproduces a cell table's tests from its discordant counts alone (the
    accuracies it reports are then those of the discordant pairs only). Used to re-run the tests on the counts
    recovered from the paper (:func:`helpers.analysis.reference.reconstruct_discordant_counts`). A cell without
    discordant pairs gets one concordant pair (both right), so that it still appears, with p = NaN.
    """
    keys = ["model", "variant", "task", "amendment_type", "belief"]
    frames = []
    for _, cell in cells.iterrows():
        b, c = int(cell["b"]), int(cell["c"])
        concordant = 0 if b + c else 1
        frames.append(
            pd.DataFrame(
                {
                    **{key: cell[key] for key in keys},
                    "correct_original": [True] * (b + concordant) + [False] * c,
                    "correct_variant": [False] * b + [True] * (c + concordant),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def mcnemar_table(pairs: pd.DataFrame) -> pd.DataFrame:
    """One row per model x variant x task x context x belief cell, with the paper's paired statistics.

    Accuracies are percent of the cell's pairs; ``diff_pp`` is variant minus original accuracy (negative = the
    variant is worse, the paper's "Raw Diff"). p-values are exact McNemar (NaN for a cell without discordant
    pairs); ``p_fdr`` applies Benjamini-Hochberg within each model x variant x task x belief family (the 9
    contexts) to the cells that have a p-value, as the paper did (:func:`benjamini_hochberg`).
    """
    cells = []
    for (model, variant, task, amendment, belief), cell in pairs.groupby(
        ["model", "variant", "task", "amendment_type", "belief"], sort=False
    ):
        co, cv = cell["correct_original"].to_numpy(bool), cell["correct_variant"].to_numpy(bool)
        b, c = int((co & ~cv).sum()), int((~co & cv).sum())
        cells.append(
            {
                "model": model,
                "variant": variant,
                "task": task,
                "amendment_type": amendment,
                "context_group": context_group(amendment),
                "belief": bool(belief),
                "n": len(cell),
                "original_accuracy": 100 * co.mean(),
                "variant_accuracy": 100 * cv.mean(),
                "diff_pp": 100 * (cv.mean() - co.mean()),
                "b": b,
                "c": c,
                "cohens_g": cohens_g(b, c),
                "mcnemar_z": mcnemar_z(b, c),
                "odds_ratio": discordant_odds_ratio(b, c),
                "p_value": exact_mcnemar_p(b, c),
            }
        )
    table = pd.DataFrame(cells, columns=[c for c in CELL_COLUMNS if c != "p_fdr"])
    family = ["model", "variant", "task", "belief"]
    table["p_fdr"] = table.groupby(family)["p_value"].transform(benjamini_hochberg)
    table["g_effect_size"] = table["cohens_g"].map(g_effect_size)
    order = {name: i for i, name in enumerate(AMENDMENT_TYPES)}
    return table.sort_values(
        ["model", "variant", "task", "belief", "amendment_type"],
        key=lambda s: s.map(order) if s.name == "amendment_type" else s,
        kind="stable",
    ).reset_index(drop=True)
