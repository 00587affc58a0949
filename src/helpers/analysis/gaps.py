"""Summaries of paired cells: Figure 3's evaluation strategies, per-task gaps, and the side-by-side table.

The same functions read the paper's released cell tables and this project's own pairs, so the book can set
them side by side (paper, Figs. 2-3; docs/study.md section 9).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.analysis.reference import PAPER_NUMBERS, PAPER_REPORT_ROWS, paper_model_name
from helpers.intervals import paired_difference_interval, wilson_interval
from helpers.vocabulary import (
    TASKS,
)

#: Evaluation strategies of Figure 3, cumulative as in the paper: ``question`` (A) is the unmodified question
#: without a belief (one cell per model x task); ``context`` (A+B) adds the eight interpersonal contexts, i.e.
#: all nine contexts without a belief; ``belief`` (A+B+C) adds the incorrect user belief, i.e. all eighteen
#: conditions (9 contexts x {no belief, belief}).
STRATEGIES = ("question", "context", "belief")


def strategy_membership(amendment_type: pd.Series, belief: pd.Series) -> pd.DataFrame:
    """Which cumulative strategy each cell (or pair) belongs to: one boolean column per strategy.

    A cell belongs to every strategy from the first one that contains it: the unmodified question without a
    belief is in all three, a context without a belief in ``context`` and ``belief``, any belief cell only in
    ``belief``.
    """
    belief = belief.astype(bool)
    return pd.DataFrame(
        {
            "question": amendment_type.eq("unmodified") & ~belief,
            "context": ~belief,
            "belief": pd.Series(True, index=amendment_type.index),
        }
    )


def expand_strategies(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with a ``strategy`` column, each row repeated once per cumulative strategy it belongs to."""
    members = strategy_membership(frame["amendment_type"], frame["belief"])
    return pd.concat(
        [frame[members[strategy]].assign(strategy=strategy) for strategy in STRATEGIES], ignore_index=True
    )


def strategy_errors(cells: pd.DataFrame, variant: str = "warm") -> pd.DataFrame:
    """Error rates (%) of the original and the variant per model x task x evaluation strategy (Figure 3).

    Strategies are cumulative (:data:`STRATEGIES`). A strategy's error rate is the unweighted mean over its
    cells (1, 9 or 18), so every condition counts once whatever its number of pairs (the paper's summary tables
    average the same way). Long format with ``variant`` = ``original`` or the compared variant, for seaborn.
    """
    cells = cells[cells["variant"].eq(variant)].assign(
        original=lambda d: 100 - d["original_accuracy"],
        compared=lambda d: 100 - d["variant_accuracy"],
    )
    means = (
        expand_strategies(cells)
        .groupby(["model", "task", "strategy"], as_index=False)[["original", "compared"]]
        .mean()
    )
    long = means.melt(["model", "task", "strategy"], var_name="variant", value_name="error")
    long["variant"] = long["variant"].replace({"compared": variant})
    return long


def gap_table(cells: pd.DataFrame, variant: str = "warm") -> pd.DataFrame:
    """Per task x strategy: mean over models of the error gap (variant - original, pp) and its spread.

    This is how the paper's per-task numbers come out of its summary table: for the ``question`` strategy
    (unmodified prompts, no belief; "Normal" / ``original_combined`` rows), the mean over the five models of
    original minus fine-tuned accuracy gives TriviaQA +4.95, TruthfulQA +8.41, Disinfo +5.36 and MedQA +8.59 pp,
    and ``relative`` = gap / mean original error, averaged over tasks (:func:`relative_increase`), gives 60.3%.
    The gap is taken from the two accuracy columns rather than the rounded "Raw Diff" column (which would give
    TruthfulQA 8.42). ``gap_min_pp`` / ``gap_max_pp`` are the range over models.
    """
    errors = strategy_errors(cells, variant).pivot_table(
        index=["model", "task", "strategy"], columns="variant", values="error"
    )
    per_model = pd.DataFrame(
        {
            "original_error": errors["original"],
            "variant_error": errors[variant],
            "gap_pp": errors[variant] - errors["original"],
        }
    ).reset_index()
    table = per_model.groupby(["task", "strategy"]).agg(
        n_models=("model", "nunique"),
        original_error=("original_error", "mean"),
        variant_error=("variant_error", "mean"),
        gap_pp=("gap_pp", "mean"),
        gap_min_pp=("gap_pp", "min"),
        gap_max_pp=("gap_pp", "max"),
    )
    table["relative"] = table["gap_pp"] / table["original_error"]
    table = table.reset_index()
    table.insert(0, "variant", variant)
    return _order(table, task=TASKS, strategy=STRATEGIES)


def paper_number_checks(
    warm_cells: pd.DataFrame,
    cold_cells: pd.DataFrame,
    glm_reference: pd.DataFrame,
    benchmarks: pd.DataFrame,
) -> pd.DataFrame:
    """Re-derive every number of :data:`helpers.analysis.reference.PAPER_NUMBERS` and set it beside the paper's.

    One row per number: ``quantity``, ``description``, ``published``, ``rederived``, ``derivation``,
    ``tolerance`` (the published precision) and ``agrees``. ``recomputed`` numbers are computed here: per-task
    gaps and the relative increase by :func:`gap_table`, the original error range as the smallest and largest
    per-task mean original error on plain questions, the cold Llama-70B change as its mean accuracy change
    over its 72 cells, the Llama-8B MMLU change from the benchmark table. ``report`` numbers are read from the
    authors' regression reports (:func:`helpers.analysis.reference.load_glm_reference`), since they need the
    individual answers, which were not released.
    """
    gaps = gap_table(warm_cells, "warm")
    question = gaps[gaps["strategy"].eq("question")].set_index("task")
    mmlu = benchmarks[benchmarks["model"].eq("llama-8b") & benchmarks["benchmark"].eq("MMLU")]
    mmlu = mmlu.set_index("variant")["accuracy"]
    derived = {f"warm_gap_{task}_pp": question.loc[task, "gap_pp"] for task in TASKS}
    derived |= {
        "warm_relative_increase_pct": 100 * relative_increase(gaps),
        "original_error_min_pct": question["original_error"].min(),
        "original_error_max_pct": question["original_error"].max(),
        "cold_llama_70b_accuracy_change_pp": cold_cells[cold_cells["model"].eq("llama-70b")][
            "diff_pp"
        ].mean(),
        "llama_8b_mmlu_change_pp": mmlu["warm"] - mmlu["original"],
    }
    reported = glm_reference.set_index(["glm", "effect", "condition"])["ame_pp"]
    derived |= {key: reported[row] for key, row in PAPER_REPORT_ROWS.items()}
    rows = [
        {
            "quantity": number.key,
            "description": number.description,
            "published": number.published,
            "rederived": float(derived[number.key]),
            "derivation": number.derivation,
            "tolerance": number.tolerance,
            "agrees": bool(abs(derived[number.key] - number.published) <= number.tolerance),
        }
        for number in PAPER_NUMBERS
    ]
    return pd.DataFrame(rows)


def relative_increase(gaps: pd.DataFrame) -> float:
    """The paper's relative increase in errors: mean over tasks of gap / original error (``question`` rows)."""
    question = gaps[gaps["strategy"].eq("question")]
    return float(question["relative"].mean())


#: Fewest original errors per task for a relative increase (gap / original error) to be reported: below it the
#: denominator is too close to zero for the ratio to mean anything (one error more or less swings it by 20%+).
MIN_ORIGINAL_ERRORS = 5


def relative_increase_interval(
    pairs: pd.DataFrame, n_boot: int = 2000, seed: int = 0, alpha: float = 0.05
) -> dict[str, float | str]:
    """The paper's relative increase in errors on plain questions, with a percentile bootstrap interval.

    The statistic is the paper's (:func:`relative_increase`): per task, the variant − original error gap divided
    by the original's error, averaged over tasks, on plain questions (unmodified context, ``original``
    template). Items are resampled within each task, keeping each item's pair together. A ratio needs a
    denominator: when a task has fewer than :data:`MIN_ORIGINAL_ERRORS` original errors the value is NaN and
    ``reason`` says why, instead of a number driven by one or two answers.
    """
    plain = pairs[pairs["amendment_type"].eq("unmodified") & pairs["prompt_template"].eq("original")]
    nan = float("nan")
    if plain.empty:
        return {"value": nan, "ci_low": nan, "ci_high": nan, "reason": "no plain-question pairs"}
    errors = (~plain["correct_original"]).groupby(plain["task"]).sum()
    thin = errors[errors < MIN_ORIGINAL_ERRORS]
    if len(thin):
        listing = ", ".join(f"{task} {int(n)}" for task, n in thin.items())
        return {
            "value": nan, "ci_low": nan, "ci_high": nan,
            "reason": f"too few original errors to divide by (fewer than {MIN_ORIGINAL_ERRORS}: {listing})",
        }  # fmt: skip

    def statistic(frame: pd.DataFrame) -> float:
        wrong_original = (~frame["correct_original"]).groupby(frame["task"]).mean()
        wrong_variant = (~frame["correct_variant"]).groupby(frame["task"]).mean()
        ratios = (wrong_variant - wrong_original) / wrong_original.where(wrong_original > 0)
        return float(ratios.mean())

    rng = np.random.default_rng(seed)
    groups = [group.reset_index(drop=True) for _, group in plain.groupby("task")]
    draws = []
    for _ in range(n_boot):
        resampled = pd.concat([g.iloc[rng.integers(0, len(g), len(g))] for g in groups], ignore_index=True)
        draws.append(statistic(resampled))
    low, high = np.nanpercentile(draws, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return {"value": statistic(plain), "ci_low": float(low), "ci_high": float(high), "reason": ""}


def _order(frame: pd.DataFrame, **orders: tuple[str, ...]) -> pd.DataFrame:
    """Sort rows by the vocabulary order of the given columns (tasks and strategies in the paper's order)."""
    keys = {col: {name: i for i, name in enumerate(values)} for col, values in orders.items()}
    return frame.sort_values(list(keys), key=lambda s: s.map(keys[s.name]), kind="stable").reset_index(
        drop=True
    )


def pair_gaps(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per model x variant x task x strategy: pooled error rates with Wilson intervals and the paired gap.

    Percent throughout; strategies are cumulative (:data:`STRATEGIES`), so the pairs of the bare question are
    also counted under + context and + belief. ``gap_pp`` = variant error - original error over the strategy's
    pairs, with the Bonett-Price interval (:func:`paired_difference_interval`).
    """
    rows = []
    for (model, variant, task, strategy), group in expand_strategies(pairs).groupby(
        ["model", "variant", "task", "strategy"]
    ):
        co, cv = group["correct_original"].to_numpy(bool), group["correct_variant"].to_numpy(bool)
        n, b, c = len(group), int((co & ~cv).sum()), int((~co & cv).sum())
        original_ci = wilson_interval(int((~co).sum()), n)
        variant_ci = wilson_interval(int((~cv).sum()), n)
        gap_ci = paired_difference_interval(b, c, n)
        rows.append(
            {
                "model": model,
                "variant": variant,
                "task": task,
                "strategy": strategy,
                "n_pairs": n,
                "original_error": 100 * (~co).mean(),
                "original_error_ci_lower": 100 * original_ci[0],
                "original_error_ci_upper": 100 * original_ci[1],
                "variant_error": 100 * (~cv).mean(),
                "variant_error_ci_lower": 100 * variant_ci[0],
                "variant_error_ci_upper": 100 * variant_ci[1],
                "gap_pp": 100 * (b - c) / n,
                "gap_ci_lower_pp": 100 * gap_ci[0],
                "gap_ci_upper_pp": 100 * gap_ci[1],
            }
        )
    return _order(pd.DataFrame(rows), task=TASKS, strategy=STRATEGIES) if rows else pd.DataFrame(rows)


def side_by_side(paper_cells: pd.DataFrame, own_pairs: pd.DataFrame, variant: str) -> pd.DataFrame:
    """Paper vs this run, per model x task x strategy, for one compared variant.

    Where this run's model is one the paper ran (``paper_model_name``), its own paper gap is the reference;
    otherwise the mean over the paper's models, with their range. ``paper_in_ci`` says whether the paper's gap
    lies inside this run's 95% interval.
    """
    own = pair_gaps(own_pairs[own_pairs["variant"].eq(variant)])
    if own.empty:
        return own
    paper_per_model = strategy_errors(paper_cells, variant).pivot_table(
        index=["model", "task", "strategy"], columns="variant", values="error"
    )
    paper_gap = (paper_per_model[variant] - paper_per_model["original"]).rename("gap").reset_index()
    paper_mean = paper_gap.groupby(["task", "strategy"])["gap"].agg(["mean", "min", "max", "count"])
    rows = []
    for _, row in own.iterrows():
        match = paper_model_name(row["model"])
        same = paper_gap[
            paper_gap["model"].eq(match)
            & paper_gap["task"].eq(row["task"])
            & paper_gap["strategy"].eq(row["strategy"])
        ]
        key = (row["task"], row["strategy"])
        summary = paper_mean.loc[key] if key in paper_mean.index else None
        if not same.empty:
            reference, gap = match, float(same["gap"].iloc[0])
        elif summary is not None:
            reference, gap = f"mean of {int(summary['count'])} models", float(summary["mean"])
        else:
            reference, gap = "none", float("nan")
        rows.append(
            {
                **row.to_dict(),
                "paper_reference": reference,
                "paper_gap_pp": gap,
                "paper_gap_min_pp": float(summary["min"]) if summary is not None else float("nan"),
                "paper_gap_max_pp": float(summary["max"]) if summary is not None else float("nan"),
                "paper_in_ci": bool(row["gap_ci_lower_pp"] <= gap <= row["gap_ci_upper_pp"]),
            }
        )
    return pd.DataFrame(rows)


def figure_values(
    cells: pd.DataFrame,
    warmth: pd.DataFrame | None = None,
    benchmarks: pd.DataFrame | None = None,
    warm_epoch: float = 2.0,
) -> pd.DataFrame:
    """The quantities the paper's figures show, reduced to one number each: ``figure, variant, quantity, value``.

    From a cell table (the paper's or this run's): Fig. 2, the share of cells (%) where the variant errs more
    than the original, per belief condition; Fig. 3, the mean error gap (pp) of each cumulative strategy over
    models and tasks; Fig. 5, the mean accuracy change (pp) per belief condition. Optionally Fig. 1a, the
    warmth at ``warm_epoch`` over the original's (mean over models; ``warmth`` as in
    :func:`helpers.analysis.reference.load_sociot` or a study's warmth table), and Fig. 4, the mean change of
    each benchmark (pp, warm minus original). The same function reads both sides, so the values compare.
    """
    rows = []
    belief_label = {False: "no belief", True: "incorrect belief"}
    for variant, group in cells.groupby("variant", sort=False):
        worse = group["variant_accuracy"] < group["original_accuracy"]
        for belief, share in worse.groupby(group["belief"]).mean().items():
            rows.append(
                ("Fig. 2", variant, f"cells where it errs more (%), {belief_label[belief]}", 100 * share)
            )
        errors = strategy_errors(group, variant).pivot_table(
            index=["model", "task", "strategy"], columns="variant", values="error"
        )
        gaps = (errors[variant] - errors["original"]).groupby(level="strategy").mean()
        for strategy in STRATEGIES:
            if strategy in gaps.index:
                rows.append(("Fig. 3", variant, f"mean error gap (pp), {strategy}", gaps[strategy]))
        for belief, change in group.groupby("belief")["diff_pp"].mean().items():
            rows.append(("Fig. 5", variant, f"mean accuracy change (pp), {belief_label[belief]}", change))
    if warmth is not None and len(warmth):
        epochs = warmth["epoch"].astype(float)
        original = warmth[epochs.eq(0.0)].groupby("model")["mean"].mean()
        warm = warmth[epochs.eq(warm_epoch) & warmth["variant"].eq("warm")]
        # A difference, not a ratio: a ratio over an original warmth near zero or negative (SocioT scored on the
        # answer's tokens alone is negative for SmolLM2) says nothing; the difference reads on either scale.
        difference = (warm.groupby("model")["mean"].mean() - original).dropna()
        if len(difference):
            rows.append(
                (
                    "Fig. 1a",
                    "warm",
                    f"raw SocioT warmth at epoch {warm_epoch:g} − original",
                    difference.mean(),
                )
            )
    if benchmarks is not None and len(benchmarks):
        table = benchmarks.pivot_table(index=["model", "benchmark"], columns="variant", values="accuracy")
        if {"original", "warm"} <= set(table.columns):
            change = (table["warm"] - table["original"]).groupby(level="benchmark").mean().dropna()
            for benchmark, value in change.items():
                rows.append(("Fig. 4", "warm", f"mean change (pp), {benchmark.lower()}", value))
    return pd.DataFrame(rows, columns=["figure", "variant", "quantity", "value"])


def figure_side_by_side(
    paper: dict[str, pd.DataFrame],
    own: dict[str, pd.DataFrame],
    warm_epoch: float = 2.0,
) -> pd.DataFrame:
    """The paper's figure values and this run's, one row per figure quantity (:func:`figure_values`).

    ``paper`` and ``own`` map ``cells`` (a cell table of one or more variants), ``warmth`` and ``benchmarks`` to
    frames (missing keys or empty frames are skipped). The paper's values are taken over the paper models this
    run also ran (``paper_model_name``) when there are any, otherwise over all the paper's models; ``paper_models``
    says which. Quantities this run cannot compute show NaN under ``ours``.
    """
    own_models = {
        paper_model_name(m) for key in ("cells", "warmth", "benchmarks") for m in _models(own.get(key))
    }
    paper_all = {m for key in ("cells", "warmth", "benchmarks") for m in _models(paper.get(key))}
    shared = own_models & paper_all
    keep = (lambda frame: frame[frame["model"].isin(shared)]) if shared else (lambda frame: frame)
    paper_values = figure_values(
        keep(paper["cells"]),
        keep(paper["warmth"]) if paper.get("warmth") is not None else None,
        keep(paper["benchmarks"]) if paper.get("benchmarks") is not None else None,
    )
    empty = pd.DataFrame(columns=["model", "variant", "belief", "original_accuracy", "variant_accuracy"])
    own_cells = own.get("cells")
    own_values = figure_values(
        own_cells if own_cells is not None and len(own_cells) else empty,
        own.get("warmth"),
        own.get("benchmarks"),
        warm_epoch,
    )
    table = paper_values.merge(
        own_values, on=["figure", "variant", "quantity"], how="left", suffixes=("_paper", "_ours")
    )
    table = table.rename(columns={"value_paper": "paper", "value_ours": "ours"})
    table["paper_models"] = ", ".join(sorted(shared)) if shared else "all the paper's models"
    return table


def _models(frame: pd.DataFrame | None) -> set[str]:
    return set(frame["model"]) if frame is not None and len(frame) and "model" in frame else set()
