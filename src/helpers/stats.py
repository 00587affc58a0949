"""The paper's statistics, applied to evaluation rows (CONTRIBUTING schema) from this project or the authors.

Ibrahim, Hafner & Rocher (Nature 2026), Methods, "Statistical analysis", compare each variant model with its
original in two ways, both reproduced here with statsmodels:

1. **Paired tests per cell** (model x task x context x belief). Original and variant answers to the same prompt
   are joined on (task, item, context, template); the exact McNemar test asks whether the discordant pairs
   ``b`` (original right, variant wrong) and ``c`` (the reverse) differ; Cohen's g and the discordant odds ratio
   ``b / c`` give the effect size; Benjamini-Hochberg controls the false discovery rate within each
   model x task x belief family of 9 contexts (:func:`paired_table`, :func:`mcnemar_table`).
2. **Logistic regressions** (binomial GLM, logit link) of ``is_incorrect`` with task and model fixed effects,
   summarised as average marginal effects (AMEs) of fine-tuning in percentage points: model 1 on unmodified
   prompts, model 2 by context group, model 3 by each of the 9 contexts, model 4 by user belief
   (:func:`model_1_main_effects` ... :func:`model_4_belief`, named as in the authors' output files).

Refusals follow the paper: excluded from TriviaQA, TruthfulQA and MedQA error rates, scored correct on
Disinformation (where declining to endorse a conspiracy is the right answer) (:func:`score_rows`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import patsy
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats as scipy_stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint
from statsmodels.tools.sm_exceptions import PerfectSeparationError, PerfectSeparationWarning

from .paths import study_dir
from .reference import CELL_COLUMNS, PAPER_HEADLINES, context_group, paper_model_name
from .vocabulary import AMENDMENT_TYPES, BELIEF_TEMPLATES, TASKS, VARIANTS

COMPARED_VARIANTS = tuple(v for v in VARIANTS if v != "original")
CONTEXTS = AMENDMENT_TYPES
CONTEXT_GROUPS = ("none", "emotion", "relation", "stake")
#: Evaluation strategies of Figure 3, cumulative: the bare question, + an interpersonal context, + an incorrect
#: user belief on top of the context (our reading of the figure; unmodified prompts with a belief are in no strategy).
STRATEGIES = ("question", "context", "belief")
PAIR_KEY = ["model", "task", "item_id", "amendment_type", "prompt_template"]
AME_COLUMNS = [
    "glm",
    "variant",
    "effect",
    "condition",
    "ame_pp",
    "se_pp",
    "ci_lower_pp",
    "ci_upper_pp",
    "p_value",
    "n_obs",
]
_TREATMENT = "C(is_finetuned, Treatment(reference=0))"


# --------------------------------------------------------------------------------------------------------------
# Scoring rule and paired tables
# --------------------------------------------------------------------------------------------------------------


def score_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Apply the paper's refusal rule and add ``is_incorrect``, ``belief`` and ``context_group`` columns.

    Rows whose ``evaluation`` is neither CORRECT nor INCORRECT (a judge failure) carry no outcome and are
    dropped. A missing ``refusal`` counts as 0. Refusals are dropped on trivia/truthfulqa/medqa and counted as
    correct on disinfo (paper, Methods; the authors' ``filter_dataframe``).
    """
    scored = rows[rows["evaluation"].isin(["CORRECT", "INCORRECT"])].copy()
    refusal_values = scored["refusal"] if "refusal" in scored else pd.Series(0, index=scored.index)
    refusal = pd.to_numeric(refusal_values, errors="coerce").fillna(0).astype(bool)
    disinfo = scored["task"].eq("disinfo")
    scored["is_incorrect"] = (scored["evaluation"].eq("INCORRECT") & ~(refusal & disinfo)).astype(int)
    scored = scored[~(refusal & ~disinfo)]
    scored["belief"] = scored["prompt_template"].isin(BELIEF_TEMPLATES)
    scored["context_group"] = scored["amendment_type"].map(context_group)
    return scored


def paired_table(rows: pd.DataFrame, variant: str, baseline: str = "original") -> pd.DataFrame:
    """Join each baseline answer to the variant's answer to the same prompt (the unit of the McNemar test).

    The key is (model, task, item_id, amendment_type, prompt_template) (CONTRIBUTING; the authors joined on
    question text, context and template). A prompt scored twice keeps its first row, so a pair is never
    counted twice. Returns one row per pair with ``correct_original`` and ``correct_variant``.
    """
    scored = score_rows(rows)
    keep = [*PAIR_KEY, "belief", "context_group", "is_incorrect"]
    base = scored[scored["variant"].eq(baseline)].drop_duplicates(PAIR_KEY)[keep]
    other = scored[scored["variant"].eq(variant)].drop_duplicates(PAIR_KEY)[[*PAIR_KEY, "is_incorrect"]]
    pairs = base.merge(other, on=PAIR_KEY, suffixes=("_original", "_variant"))
    pairs["correct_original"] = pairs.pop("is_incorrect_original").eq(0)
    pairs["correct_variant"] = pairs.pop("is_incorrect_variant").eq(0)
    pairs.insert(0, "variant", variant)
    return pairs.reset_index(drop=True)


def exact_mcnemar_p(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts (binomial test of b against b + c)."""
    return float(mcnemar([[0, b], [c, 0]], exact=True).pvalue)


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
    recovered from the paper (:func:`helpers.reference.reconstruct_discordant_counts`).
    """
    keys = ["model", "variant", "task", "amendment_type", "belief"]
    frames = []
    for _, cell in cells.iterrows():
        b, c = int(cell["b"]), int(cell["c"])
        frames.append(
            pd.DataFrame(
                {
                    **{key: cell[key] for key in keys},
                    "correct_original": [True] * b + [False] * c,
                    "correct_variant": [False] * b + [True] * c,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def mcnemar_table(pairs: pd.DataFrame) -> pd.DataFrame:
    """One row per model x variant x task x context x belief cell, with the paper's paired statistics.

    Accuracies are percent of the cell's pairs; ``diff_pp`` is variant minus original accuracy (negative = the
    variant is worse, the paper's "Raw Diff"). p-values are exact McNemar; ``p_fdr`` applies Benjamini-Hochberg
    within each model x variant x task x belief family (the 9 contexts), as the paper did.
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
    table["p_fdr"] = table.groupby(family)["p_value"].transform(
        lambda p: multipletests(p, method="fdr_bh")[1]
    )
    table["g_effect_size"] = table["cohens_g"].map(g_effect_size)
    order = {name: i for i, name in enumerate(CONTEXTS)}
    return table.sort_values(
        ["model", "variant", "task", "belief", "amendment_type"],
        key=lambda s: s.map(order) if s.name == "amendment_type" else s,
        kind="stable",
    ).reset_index(drop=True)


# --------------------------------------------------------------------------------------------------------------
# Summaries of cell tables: evaluation strategies, per-task gaps (paper's and ours alike)
# --------------------------------------------------------------------------------------------------------------


def evaluation_strategy(amendment_type: pd.Series, belief: pd.Series) -> pd.Series:
    """Figure 3's strategy of each cell: ``question``, ``context`` or ``belief`` (NaN: unmodified + belief)."""
    unmodified = amendment_type.eq("unmodified")
    strategy = pd.Series(np.nan, index=amendment_type.index, dtype=object)
    strategy[unmodified & ~belief] = "question"
    strategy[~unmodified & ~belief] = "context"
    strategy[~unmodified & belief] = "belief"
    return strategy


def strategy_errors(cells: pd.DataFrame, variant: str = "warm") -> pd.DataFrame:
    """Error rates (%) of the original and the variant per model x task x evaluation strategy (Figure 3).

    A strategy's error rate is the unweighted mean over its context cells, so every context counts once
    whatever its number of pairs (the paper's summary tables average the same way). Long format with
    ``variant`` = ``original`` or the compared variant, ready for seaborn.
    """
    cells = cells[cells["variant"].eq(variant)].assign(
        strategy=lambda d: evaluation_strategy(d["amendment_type"], d["belief"]),
        original=lambda d: 100 - d["original_accuracy"],
        compared=lambda d: 100 - d["variant_accuracy"],
    )
    means = (
        cells.dropna(subset=["strategy"])
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


def paper_headline_checks(warm_cells: pd.DataFrame, cold_cells: pd.DataFrame) -> pd.DataFrame:
    """Recompute the paper's headline numbers from its released cell tables and compare with the published ones.

    One row per quantity of :data:`helpers.reference.PAPER_HEADLINES`: ``published``, ``recomputed``, the
    ``tolerance`` implied by the published precision and ``agrees``. Per-task gaps and the relative increase
    come from :func:`gap_table`; the original error range is the smallest and largest per-task mean original
    error on unmodified prompts; the cold Llama-70B change is its mean accuracy change over all 72 cells.
    """
    gaps = gap_table(warm_cells, "warm")
    question = gaps[gaps["strategy"].eq("question")].set_index("task")
    cold_llama = cold_cells[cold_cells["model"].eq("llama-70b")]
    recomputed = {f"warm_gap_{task}_pp": question.loc[task, "gap_pp"] for task in TASKS}
    recomputed |= {
        "warm_relative_increase_pct": 100 * relative_increase(gaps),
        "original_error_min_pct": question["original_error"].min(),
        "original_error_max_pct": question["original_error"].max(),
        "cold_llama_70b_accuracy_change_pp": cold_llama["diff_pp"].mean(),
    }
    rows = [
        {
            "quantity": name,
            "published": published,
            "recomputed": float(recomputed[name]),
            "tolerance": tolerance,
            "agrees": bool(abs(recomputed[name] - published) <= tolerance),
        }
        for name, (published, tolerance) in PAPER_HEADLINES.items()
    ]
    return pd.DataFrame(rows)


def relative_increase(gaps: pd.DataFrame) -> float:
    """The paper's relative increase in errors: mean over tasks of gap / original error (``question`` rows)."""
    question = gaps[gaps["strategy"].eq("question")]
    return float(question["relative"].mean())


def _order(frame: pd.DataFrame, **orders: tuple[str, ...]) -> pd.DataFrame:
    """Sort rows by the vocabulary order of the given columns (tasks and strategies in the paper's order)."""
    keys = {col: {name: i for i, name in enumerate(values)} for col, values in orders.items()}
    return frame.sort_values(list(keys), key=lambda s: s.map(keys[s.name]), kind="stable").reset_index(
        drop=True
    )


# --------------------------------------------------------------------------------------------------------------
# Intervals and the side-by-side table
# --------------------------------------------------------------------------------------------------------------


def wilson_interval(successes: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval of a proportion (statsmodels); (NaN, NaN) for n = 0."""
    if n == 0:
        return float("nan"), float("nan")
    low, high = proportion_confint(successes, n, alpha=alpha, method="wilson")
    return float(low), float(high)


def paired_difference_interval(b: int, c: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Bonett-Price adjusted Wald interval for a difference of paired proportions (error_variant - error_orig).

    The error-rate difference of paired answers is ``(b - c) / n``; adding one to each discordant count
    (Bonett & Price 2012, Stat. Med. 31:2901) keeps the interval sensible with few pairs or no discordant
    pairs, which the demo's small runs produce. Returns proportions, not percent.
    """
    if n == 0:
        return float("nan"), float("nan")
    p12, p21 = (b + 1) / (n + 2), (c + 1) / (n + 2)
    diff = p12 - p21
    se = np.sqrt(max(p12 + p21 - diff**2, 0.0) / (n + 2))
    z = scipy_stats.norm.ppf(1 - alpha / 2)
    return float(max(diff - z * se, -1.0)), float(min(diff + z * se, 1.0))


def pair_gaps(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per model x variant x task x strategy: pooled error rates with Wilson intervals and the paired gap.

    Percent throughout. ``gap_pp`` = variant error - original error over the strategy's pairs, with the
    Bonett-Price interval (:func:`paired_difference_interval`).
    """
    pairs = pairs.assign(strategy=evaluation_strategy(pairs["amendment_type"], pairs["belief"]))
    rows = []
    for (model, variant, task, strategy), group in pairs.dropna(subset=["strategy"]).groupby(
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


# --------------------------------------------------------------------------------------------------------------
# Logistic regressions with average marginal effects
# --------------------------------------------------------------------------------------------------------------


@dataclass
class GlmResult:
    """One named logistic regression: its formula, the fitted statsmodels result and its AMEs.

    ``fit`` is None when the model could not be estimated on these data (a single variant, a constant outcome,
    a singular design); ``notes`` then says why, and also records simplifications such as a dropped fixed
    effect, so a notebook can print them instead of crashing on a small demo run.
    """

    glm: str
    variant: str
    formula: str | None
    n_obs: int
    ame: pd.DataFrame
    fit: object | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the model was fitted."""
        return self.fit is not None

    def report(self) -> str:
        """A readable report in the spirit of the authors' ``model_outputs/*.txt``: summary, then AMEs."""
        lines = [f"{self.glm} ({self.variant} vs original), {self.n_obs:,} observations"]
        lines += [f"note: {note}" for note in self.notes]
        if self.fit is not None:
            lines += [f"formula: {self.formula}", str(self.fit.summary()), "Average marginal effects (pp):"]
            for _, row in self.ame.iterrows():
                lines.append(
                    f"  {row['effect']} | {row['condition']}: {row['ame_pp']:.2f} pp "
                    f"[{row['ci_lower_pp']:.2f}, {row['ci_upper_pp']:.2f}], p={row['p_value']:.4f}"
                )
        return "\n".join(lines)


def model_frame(rows: pd.DataFrame, variant: str = "warm", baseline: str = "original") -> pd.DataFrame:
    """The regression data: one row per scored answer of the baseline or the variant (refusal rule applied).

    Columns follow the authors' ``analysis_utilities.preprocess_data``: ``is_incorrect``, ``is_finetuned``
    (1 for the variant), ``dataset``, ``model``, ``amendment_type`` (9 contexts), ``context_group``,
    ``prompt_type`` (``original`` for the original and original_neutral templates, ``user_opinion`` for the
    two incorrect-belief templates) and ``response_length`` (characters of the output when not recorded).
    """
    scored = score_rows(rows[rows["variant"].isin([baseline, variant])])
    length = (
        scored["response_length"] if "response_length" in scored else scored["output"].astype(str).str.len()
    )
    return pd.DataFrame(
        {
            "is_incorrect": scored["is_incorrect"].astype(int),
            "is_finetuned": scored["variant"].eq(variant).astype(int),
            "dataset": scored["task"].astype(str),
            "model": scored["model"].astype(str),
            "amendment_type": scored["amendment_type"].astype(str),
            "context_group": scored["context_group"].astype(str),
            "prompt_type": np.where(scored["belief"], "user_opinion", "original"),
            "response_length": pd.to_numeric(length, errors="coerce").astype(float),
        }
    ).reset_index(drop=True)


def _fixed_effects(data: pd.DataFrame, notes: list[str]) -> list[str]:
    """Task and model fixed-effect terms, dropped (with a note) when the data hold a single level."""
    terms = []
    if data["dataset"].nunique() > 1:
        reference = "disinfo" if "disinfo" in set(data["dataset"]) else sorted(set(data["dataset"]))[0]
        terms.append(f"C(dataset, Treatment(reference='{reference}'))")
    else:
        notes.append(f"one task ({data['dataset'].iloc[0]}): no task fixed effect")
    if data["model"].nunique() > 1:
        terms.append("C(model)")
    else:
        notes.append(f"one model ({data['model'].iloc[0]}): no model fixed effect")
    return terms


def _fit(data: pd.DataFrame, formula: str, notes: list[str]) -> object | None:
    """Fit a binomial GLM, or return None with a note saying why it cannot be estimated on these data."""
    if data.empty:
        notes.append("no rows to fit")
        return None
    if data["is_finetuned"].nunique() < 2:
        notes.append("only one of original / variant has rows: the fine-tuning effect is not identified")
        return None
    if data["is_incorrect"].nunique() < 2:
        notes.append("every answer has the same outcome: nothing to model")
        return None
    model = smf.glm(formula, data, family=sm.families.Binomial())
    rank = np.linalg.matrix_rank(model.exog)
    if rank < model.exog.shape[1]:
        notes.append(
            f"singular design (rank {rank} < {model.exog.shape[1]} columns): some effect is not identified"
        )
        return None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PerfectSeparationWarning)
        try:
            fit = model.fit()
        except (PerfectSeparationError, np.linalg.LinAlgError, ValueError) as error:
            notes.append(f"fit failed: {error}")
            return None
    diverging = [name for name, coef in fit.params.items() if abs(coef) > 10]
    if diverging or any(issubclass(w.category, PerfectSeparationWarning) for w in caught):
        notes.append(
            "(quasi-)separation: some level has only correct or only wrong answers, so coefficients diverge"
            f" ({', '.join(diverging) or 'see the summary'}); AMEs touching those levels are unreliable"
        )
    return fit


def average_marginal_effect(
    fit: object, data: pd.DataFrame, column: str = "is_finetuned", treated: object = 1, control: object = 0
) -> tuple[float, float]:
    """AME of setting ``column`` to ``treated`` rather than ``control`` over the rows of ``data``, with its SE.

    The AME is the authors' counterfactual definition (``calculate_conditional_marginal_effects``): predict
    every row once as treated and once as control and average the difference. ``treated`` / ``control`` may be
    values (``1`` / ``0``, ``"medqa"`` / ``"disinfo"``) or arrays (response length +/- 50 characters). The
    standard error is the delta method: the gradient of that average with respect to the coefficients, through
    the coefficient covariance. (The authors' p-values instead test sums of log-odds coefficients; both test
    "no fine-tuning effect in this condition".)
    """
    spec = fit.model.data.model_spec
    x1 = np.asarray(patsy.build_design_matrices([spec], data.assign(**{column: treated}))[0])
    x0 = np.asarray(patsy.build_design_matrices([spec], data.assign(**{column: control}))[0])
    params = np.asarray(fit.params)
    p1, p0 = 1 / (1 + np.exp(-x1 @ params)), 1 / (1 + np.exp(-x0 @ params))
    gradient = ((p1 * (1 - p1))[:, None] * x1 - (p0 * (1 - p0))[:, None] * x0).mean(axis=0)
    se = float(np.sqrt(gradient @ np.asarray(fit.cov_params()) @ gradient))
    return float((p1 - p0).mean()), se


def _ame_row(glm: str, variant: str, effect: str, condition: str, ame: float, se: float, n: int) -> dict:
    """One AME row in percentage points, with a normal 95% interval and a two-sided z-test p-value."""
    z = ame / se if se > 0 else float("nan")
    return {
        "glm": glm,
        "variant": variant,
        "effect": effect,
        "condition": condition,
        "ame_pp": 100 * ame,
        "se_pp": 100 * se,
        "ci_lower_pp": 100 * (ame - 1.96 * se),
        "ci_upper_pp": 100 * (ame + 1.96 * se),
        "p_value": float(2 * scipy_stats.norm.sf(abs(z))) if se > 0 else float("nan"),
        "n_obs": n,
    }


def _conditional_ames(
    glm: str, variant: str, fit: object, data: pd.DataFrame, column: str, levels: tuple[str, ...]
) -> pd.DataFrame:
    """AMEs of fine-tuning within each level of ``column`` (the paper's "Fine-tuning effect | condition")."""
    rows = []
    for level in levels:
        subset = data[data[column].eq(level)]
        if len(subset):
            ame, se = average_marginal_effect(fit, subset)
            rows.append(_ame_row(glm, variant, "fine_tuning", level, ame, se, len(subset)))
    return pd.DataFrame(rows, columns=AME_COLUMNS)


def _result(glm: str, variant: str, data: pd.DataFrame, formula: str | None, notes: list[str]) -> GlmResult:
    return GlmResult(glm, variant, formula, len(data), pd.DataFrame(columns=AME_COLUMNS), None, notes)


def model_1_main_effects(rows: pd.DataFrame, variant: str = "warm", *, length: bool = False) -> GlmResult:
    """Model 1: fine-tuning main effect on unmodified prompts without a user belief (paper: +7.43 pp).

    ``is_incorrect ~ C(is_finetuned) + C(dataset, reference disinfo) + C(model)`` on the original and
    original_neutral templates, optionally ``+ response_length`` (paper: 6.99 pp, and -0.32 pp per 100
    characters). Like the authors' report, the AMEs are fine-tuning, each task against disinfo (every row
    predicted as that task vs as disinfo) and, with length, +50 vs -50 characters (= per 100 characters).
    """
    glm = "model_1_main_effects" + ("_with_length" if length else "")
    frame = model_frame(rows, variant)
    data = frame[frame["amendment_type"].eq("unmodified") & frame["prompt_type"].eq("original")]
    notes: list[str] = []
    if length and data["response_length"].isna().any():
        notes.append(f"{int(data['response_length'].isna().sum())} rows without a response length dropped")
        data = data.dropna(subset=["response_length"])
    terms = [_TREATMENT, *_fixed_effects(data, notes)] if not data.empty else [_TREATMENT]
    formula = "is_incorrect ~ " + " + ".join(terms + (["response_length"] if length else []))
    fit = _fit(data, formula, notes)
    if fit is None:
        return _result(glm, variant, data, formula, notes)
    effects: list[tuple[str, str, object, object]] = [("fine_tuning", "is_finetuned", 1, 0)]
    if "disinfo" in set(data["dataset"]) and data["dataset"].nunique() > 1:
        effects += [
            (f"dataset:{t}", "dataset", t, "disinfo")
            for t in TASKS
            if t != "disinfo" and t in set(data["dataset"])
        ]
    if length:
        effects.append(
            (
                "response_length_per_100",
                "response_length",
                data["response_length"] + 50,
                data["response_length"] - 50,
            )
        )
    ame = pd.DataFrame(
        [
            _ame_row(
                glm,
                variant,
                effect,
                "unmodified",
                *average_marginal_effect(fit, data, column, treated, control),
                len(data),
            )
            for effect, column, treated, control in effects
        ],
        columns=AME_COLUMNS,
    )
    return GlmResult(glm, variant, formula, len(data), ame, fit, notes)


def _interaction_model(glm: str, rows: pd.DataFrame, variant: str, column: str, reference: str) -> GlmResult:
    """Models 2 and 3: fine-tuning x context (``column``) on prompts without a user belief."""
    frame = model_frame(rows, variant)
    data = frame[frame["prompt_type"].eq("original")]
    notes: list[str] = []
    levels = tuple(
        level
        for level in (CONTEXT_GROUPS if column == "context_group" else CONTEXTS)
        if level in set(data[column])
    )
    if len(levels) < 2:
        notes.append(
            f"fewer than two {column} levels in the data ({', '.join(levels) or 'none'}): no interaction to fit"
        )
        return _result(glm, variant, data, None, notes)
    if reference not in levels:
        notes.append(f"reference level {reference!r} absent: using {levels[0]!r}")
        reference = levels[0]
    context = f"C({column}, Treatment(reference='{reference}'))"
    formula = "is_incorrect ~ " + " + ".join([f"{_TREATMENT} * {context}", *_fixed_effects(data, notes)])
    fit = _fit(data, formula, notes)
    if fit is None:
        return _result(glm, variant, data, formula, notes)
    return GlmResult(
        glm,
        variant,
        formula,
        len(data),
        _conditional_ames(glm, variant, fit, data, column, levels),
        fit,
        notes,
    )


def model_2_context_group(rows: pd.DataFrame, variant: str = "warm") -> GlmResult:
    """Model 2: fine-tuning x context group (none/emotion/relation/stake), no belief (paper: emotion 8.87 pp)."""
    return _interaction_model("model_2_context_group", rows, variant, "context_group", "none")


def model_3_each_context(rows: pd.DataFrame, variant: str = "warm") -> GlmResult:
    """Model 3: fine-tuning x each of the 9 contexts, no belief (paper: sad 11.87 pp, deference 5.24 pp)."""
    return _interaction_model("model_3_each_context", rows, variant, "amendment_type", "unmodified")


def model_4_belief(rows: pd.DataFrame, variant: str = "warm") -> GlmResult:
    """Model 4: fine-tuning x incorrect user belief, all prompts (paper: 10.99 pp with vs 7.60 pp without).

    Mirrors the authors' reported formula: ``C(is_finetuned) + C(context group) + C(dataset) + C(model) +
    C(is_finetuned):C(prompt_type)`` (no separate belief main effect; patsy then codes the belief effect for
    each fine-tuning level). AMEs are reported for ``no_belief`` and ``belief`` prompts, and for each
    belief x context group (the paper's "belief + emotion 12.1 vs 6.8 pp" comparison).
    """
    glm = "model_4_belief"
    data = model_frame(rows, variant)
    notes: list[str] = []
    if data["prompt_type"].nunique() < 2:
        notes.append("prompts with and without a user belief are both needed")
        return _result(glm, variant, data, None, notes)
    terms = [_TREATMENT]
    if data["context_group"].nunique() > 1:
        reference = "none" if "none" in set(data["context_group"]) else sorted(set(data["context_group"]))[0]
        terms.append(f"C(context_group, Treatment(reference='{reference}'))")
    else:
        notes.append("one context group: no context fixed effect")
    terms += _fixed_effects(data, notes)
    terms.append(f"{_TREATMENT}:C(prompt_type, Treatment(reference='original'))")
    formula = "is_incorrect ~ " + " + ".join(terms)
    fit = _fit(data, formula, notes)
    if fit is None:
        return _result(glm, variant, data, formula, notes)
    data = data.assign(belief_label=np.where(data["prompt_type"].eq("user_opinion"), "belief", "no_belief"))
    data["belief_context"] = data["belief_label"] + ":" + data["context_group"]
    combined = [f"{b}:{g}" for b in ("no_belief", "belief") for g in CONTEXT_GROUPS]
    ame = pd.concat(
        [
            _conditional_ames(glm, variant, fit, data, "belief_label", ("no_belief", "belief")),
            _conditional_ames(glm, variant, fit, data, "belief_context", tuple(combined)),
        ],
        ignore_index=True,
    )
    return GlmResult(glm, variant, formula, len(data), ame, fit, notes)


GLM_MODELS = (model_1_main_effects, model_2_context_group, model_3_each_context, model_4_belief)


def headline_numbers(ames: pd.DataFrame, gaps: pd.DataFrame, variant: str) -> dict[str, float]:
    """The numbers the book's prose quotes for one variant, NaN where this run could not estimate them.

    Keys: ``<variant>_ame_pp`` / ``_ame_p`` / ``_ame_ci_lower`` / ``_ame_ci_upper`` (model 1, fine-tuning),
    ``<variant>_ame_no_belief_pp`` and ``_ame_belief_pp`` (model 4), ``<variant>_gap_<task>`` (question-only
    error gap, pp) and ``<variant>_relative_increase`` (fraction), the paper's headline quantities.
    """

    def pick(glm: str, condition: str, column: str) -> float:
        match = ames[
            ames["glm"].eq(glm)
            & ames["variant"].eq(variant)
            & ames["effect"].eq("fine_tuning")
            & ames["condition"].eq(condition)
        ]
        return float(match[column].iloc[0]) if len(match) else float("nan")

    numbers = {
        f"{variant}_ame_pp": pick("model_1_main_effects", "unmodified", "ame_pp"),
        f"{variant}_ame_p": pick("model_1_main_effects", "unmodified", "p_value"),
        f"{variant}_ame_ci_lower": pick("model_1_main_effects", "unmodified", "ci_lower_pp"),
        f"{variant}_ame_ci_upper": pick("model_1_main_effects", "unmodified", "ci_upper_pp"),
        f"{variant}_ame_no_belief_pp": pick("model_4_belief", "no_belief", "ame_pp"),
        f"{variant}_ame_belief_pp": pick("model_4_belief", "belief", "ame_pp"),
    }
    question = gaps[gaps["variant"].eq(variant) & gaps["strategy"].eq("question")].set_index("task")
    for task in TASKS:
        numbers[f"{variant}_gap_{task}"] = float(question["gap_pp"].get(task, float("nan")))
    numbers[f"{variant}_relative_increase"] = (
        float(question["relative"].mean()) if len(question) else float("nan")
    )
    return numbers


def ame_table(results: list[GlmResult]) -> pd.DataFrame:
    """All AMEs of several fitted models in one frame (empty rows for models that could not be fitted)."""
    frames = [r.ame for r in results if not r.ame.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=AME_COLUMNS)


# --------------------------------------------------------------------------------------------------------------
# Reading a study's results folder
# --------------------------------------------------------------------------------------------------------------


@dataclass
class StudyResults:
    """What a study folder holds: evaluation rows, warmth and capability tables, and what is missing."""

    rows: pd.DataFrame
    warmth: pd.DataFrame
    capabilities: pd.DataFrame
    found: list[str]
    missing: list[str]


def compared_variants(rows: pd.DataFrame) -> list[str]:
    """The variants that can be compared with the original: both have evaluation rows in this study."""
    if rows.empty or not rows["variant"].eq("original").any():
        return []
    return [v for v in COMPARED_VARIANTS if rows["variant"].eq(v).any()]


def all_pairs(rows: pd.DataFrame, variants: list[str]) -> pd.DataFrame:
    """:func:`paired_table` of every compared variant, stacked (an empty frame when there is none)."""
    frames = [paired_table(rows, variant) for variant in variants]
    columns = ["variant", *PAIR_KEY, "context_group", "belief", "correct_original", "correct_variant"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def load_study_results(
    study: str, variants: tuple[str, ...] = ("original", *COMPARED_VARIANTS)
) -> StudyResults:
    """Read every ``<model_slug>/<variant>/<task>.csv``, ``warmth/sociot.csv`` and ``capabilities.csv``.

    A model folder is any folder of the study holding a variant or ``warmth`` folder. Missing files are listed
    rather than raised: the analysis runs on whatever the study produced. Warmth and capability tables get
    the model's folder name as ``model`` (they carry none).
    """
    root = Path(study_dir(study))
    found: list[str] = []
    missing: list[str] = []
    rows, warmth, capabilities = [], [], []
    markers = {*variants, "warmth"}
    model_dirs = sorted(p for p in root.glob("*") if p.is_dir() and any((p / m).is_dir() for m in markers))
    if not model_dirs:
        missing.append(f"{root}/<model>/ (no model results)")
    for model_dir in model_dirs:
        sociot = model_dir / "warmth" / "sociot.csv"
        if sociot.exists():
            warmth.append(pd.read_csv(sociot).assign(model=model_dir.name))
            found.append(str(sociot.relative_to(root)))
        else:
            missing.append(str(sociot.relative_to(root)))
        for variant in variants:
            for name in (*(f"{task}.csv" for task in TASKS), "capabilities.csv"):
                path = model_dir / variant / name
                if not path.exists():
                    missing.append(str(path.relative_to(root)))
                    continue
                found.append(str(path.relative_to(root)))
                if name == "capabilities.csv":
                    capabilities.append(pd.read_csv(path).assign(model=model_dir.name, variant=variant))
                else:
                    rows.append(pd.read_csv(path, keep_default_na=False, na_values=[""]))
    return StudyResults(
        rows=pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(),
        warmth=pd.concat(warmth, ignore_index=True) if warmth else pd.DataFrame(),
        capabilities=pd.concat(capabilities, ignore_index=True) if capabilities else pd.DataFrame(),
        found=found,
        missing=missing,
    )


# --------------------------------------------------------------------------------------------------------------
# Synthetic data with a known answer
# --------------------------------------------------------------------------------------------------------------


def simulate_evaluation_rows(
    *,
    models: tuple[str, ...] = ("synthetic-model",),
    variants: tuple[str, ...] = ("original", "warm"),
    tasks: tuple[str, ...] = TASKS,
    n_items: int = 100,
    base_error: float = 0.2,
    belief_error: float = 0.1,
    effect_pp: float = 10.0,
    context_effects_pp: dict[str, float] | None = None,
    belief_effect_pp: float = 0.0,
    refusal_rate: float = 0.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Evaluation rows (CONTRIBUTING schema) whose true effects are known, to check that the analysis finds them.

    Every item gets the paper's 28 prompts (9 contexts x original/correct/incorrect templates, plus the
    original_neutral unmodified prompt). The original errs with probability ``base_error`` (+ ``belief_error``
    under an incorrect user belief); every non-original variant errs ``effect_pp`` points more, plus
    ``context_effects_pp[context]`` and, under a belief, ``belief_effect_pp``. Answers are independent draws,
    so the planted effects are exactly the expected differences in error rate. A ``refusal_rate`` share of
    answers are refusals, scored INCORRECT by the judge (the refusal rule in :func:`score_rows` then applies).
    """
    rng = np.random.default_rng(seed)
    context_effects_pp = context_effects_pp or {}
    prompts = [("unmodified", "original_neutral")] + [
        (context, template) for context in CONTEXTS for template in ("original", *BELIEF_TEMPLATES)
    ]
    records = []
    for model in models:
        for variant in variants:
            for task in tasks:
                for item in range(n_items):
                    for context, template in prompts:
                        belief = template in BELIEF_TEMPLATES
                        error = base_error + (belief_error if belief else 0.0)
                        if variant != "original":
                            shift = effect_pp + context_effects_pp.get(context, 0.0)
                            error += (shift + (belief_effect_pp if belief else 0.0)) / 100
                        refused = rng.random() < refusal_rate
                        wrong = refused or rng.random() < error
                        answer = f"answer {item}" + " and more" * int(rng.integers(0, 30))
                        output = "I'm sorry, but I can't help with that." if refused else answer
                        records.append(
                            {
                                "study": "synthetic",
                                "model": model,
                                "variant": variant,
                                "adapter": "",
                                "task": task,
                                "item_id": f"{task}-{item}",
                                "question": f"question {item}",
                                "correct_answer": "right",
                                "incorrect_answer": "wrong",
                                "prompt_template": template,
                                "amendment_type": context,
                                "context_statement": "",
                                "prompt": f"{context} {template} question {item}",
                                "system_prompt": "",
                                "output": output,
                                "evaluation": "INCORRECT" if wrong else "CORRECT",
                                "refusal": int(refused),
                                "scorer": "rule",
                                "response_length": len(output),
                            }
                        )
    return pd.DataFrame.from_records(records)


def study_summary(results: StudyResults, selected_epoch: float = 2.0) -> dict[str, float]:
    """The descriptive numbers the book's prose quotes about one study (NaN where a stage is missing).

    ``n_rows``, ``n_questions``, ``n_prompts_per_variant``, ``original_accuracy_<task>`` (%, refusals handled as
    in the paper), ``warmth_original`` and ``warmth_<style>_selected`` (SocioT at ``selected_epoch``).
    """
    rows = score_rows(results.rows) if len(results.rows) else results.rows
    numbers: dict[str, float] = {"n_rows": float(len(rows))}
    original = rows[rows["variant"].eq("original")] if len(rows) else rows
    numbers["n_questions"] = (
        float(original[["task", "item_id"]].drop_duplicates().shape[0]) if len(original) else 0.0
    )
    numbers["n_prompts_per_variant"] = float(len(original))
    for task in TASKS:
        scored = original[original["task"].eq(task)] if len(original) else original
        numbers[f"original_accuracy_{task}"] = (
            float(100 * (1 - scored["is_incorrect"].mean())) if len(scored) else float("nan")
        )
    warmth = results.warmth

    def warmth_at(variant: str, epoch: float) -> float:
        if not len(warmth):
            return float("nan")
        match = warmth[warmth["variant"].eq(variant) & warmth["epoch"].astype(float).eq(epoch)]
        return float(match["mean"].mean()) if len(match) else float("nan")

    numbers["warmth_original"] = warmth_at("original", 0.0)
    numbers["warmth_warm_selected"] = warmth_at("warm", selected_epoch)
    numbers["warmth_cold_selected"] = warmth_at("cold", selected_epoch)
    return numbers
