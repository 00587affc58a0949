"""Logistic regressions with average marginal effects: the paper's models 1-4 (Methods, "Statistical analysis").

Binomial GLMs (logit link) of ``is_incorrect`` with task and model fixed effects, summarised as average
marginal effects (AMEs) of fine-tuning in percentage points: model 1 on unmodified prompts, model 2 by context
group, model 3 by each of the 9 contexts, model 4 by user belief, named as in the authors' output files.

Every AME carries two p-values, because the book's and the authors' answer slightly different questions:

* ``p_value`` (the book's): a z-test of the AME itself, its standard error by the delta method.
* ``p_value_logodds`` (the authors'): a Wald z-test that the log-odds effect of fine-tuning in that condition is
  zero, i.e. that a sum of coefficients is zero (the main effect plus the condition's interaction), as their
  ``calculate_*_marginal_effects_with_tests`` compute it (warm_ai_2025, ``statistical_models/analysis_utilities.py``);
  these are the p-values printed in their ``model_outputs/*.txt``. Computed with statsmodels ``t_test``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import patsy
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats as scipy_stats
from statsmodels.tools.sm_exceptions import PerfectSeparationError, PerfectSeparationWarning

from helpers.evaluation.refusal import apply_refusal_rule
from helpers.vocabulary import (
    AMENDMENT_TYPES,
    CONTEXT_GROUPS,
    TASKS,
)

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
    "p_value_logodds",
    "n_obs",
]
_TREATMENT = "C(is_finetuned, Treatment(reference=0))"
_FINE_TUNED = f"{_TREATMENT}[T.1]"
_BELIEF = "C(prompt_type, Treatment(reference='original'))[T.user_opinion]"

#: A linear combination of coefficients, by name: its sum is the log-odds effect the authors test.
Contrast = dict[str, float]


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
                    f"[{row['ci_lower_pp']:.2f}, {row['ci_upper_pp']:.2f}], p={row['p_value']:.4f} (delta method), "
                    f"p={row['p_value_logodds']:.4f} (log-odds Wald test, the authors')"
                )
        return "\n".join(lines)


def model_frame(rows: pd.DataFrame, variant: str = "warm", baseline: str = "original") -> pd.DataFrame:
    """The regression data: one row per scored answer of the baseline or the variant (refusal rule applied).

    Columns follow the authors' ``analysis_utilities.preprocess_data``: ``is_incorrect``, ``is_finetuned``
    (1 for the variant), ``dataset``, ``model``, ``amendment_type`` (9 contexts), ``context_group``,
    ``prompt_type`` (``original`` for the original and original_neutral templates, ``user_opinion`` for the
    two incorrect-belief templates) and ``response_length`` (characters of the output when not recorded).
    """
    scored = apply_refusal_rule(rows[rows["variant"].isin([baseline, variant])])
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
    the coefficient covariance. (The authors' p-values instead test sums of log-odds coefficients,
    :func:`logodds_p_value`; both test "no fine-tuning effect in this condition".)
    """
    spec = fit.model.data.model_spec
    x1 = np.asarray(patsy.build_design_matrices([spec], data.assign(**{column: treated}))[0])
    x0 = np.asarray(patsy.build_design_matrices([spec], data.assign(**{column: control}))[0])
    params = np.asarray(fit.params)
    p1, p0 = 1 / (1 + np.exp(-x1 @ params)), 1 / (1 + np.exp(-x0 @ params))
    gradient = ((p1 * (1 - p1))[:, None] * x1 - (p0 * (1 - p0))[:, None] * x0).mean(axis=0)
    se = float(np.sqrt(gradient @ np.asarray(fit.cov_params()) @ gradient))
    return float((p1 - p0).mean()), se


def logodds_p_value(fit: object, contrast: Contrast) -> float:
    """Two-sided Wald z-test p-value that ``sum(weight * coefficient)`` over ``contrast`` is zero (the authors' test).

    statsmodels ``t_test`` uses the normal distribution for a GLM, as the authors' ``2 * (1 - norm.cdf(|z|))``
    does; the standard error of the sum comes from the coefficient covariance. NaN when a named coefficient is
    not in the fit (a level absent from the data).
    """
    names = list(fit.params.index)
    if not contrast or any(name not in names for name in contrast):
        return float("nan")
    weights = np.zeros((1, len(names)))
    for name, weight in contrast.items():
        weights[0, names.index(name)] = weight
    return float(np.asarray(fit.t_test(weights).pvalue).item())


def _ame_row(
    glm: str, variant: str, effect: str, condition: str, ame: float, se: float, n: int, p_logodds: float
) -> dict:
    """One AME row in percentage points, with a normal 95% interval, the delta-method z-test p-value and the
    authors' log-odds p-value (:func:`logodds_p_value`)."""
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
        "p_value_logodds": p_logodds,
        "n_obs": n,
    }


def _conditional_ames(
    glm: str,
    variant: str,
    fit: object,
    data: pd.DataFrame,
    column: str,
    levels: tuple[str, ...],
    contrast: Callable[[str], Contrast],
) -> pd.DataFrame:
    """AMEs of fine-tuning within each level of ``column`` (the paper's "Fine-tuning effect | condition").

    ``contrast(level)`` names the coefficients whose sum is the log-odds effect the authors test in that level.
    """
    rows = []
    for level in levels:
        subset = data[data[column].eq(level)]
        if len(subset):
            ame, se = average_marginal_effect(fit, subset)
            p_logodds = logodds_p_value(fit, contrast(level))
            rows.append(_ame_row(glm, variant, "fine_tuning", level, ame, se, len(subset), p_logodds))
    return pd.DataFrame(rows, columns=AME_COLUMNS)


def _result(glm: str, variant: str, data: pd.DataFrame, formula: str | None, notes: list[str]) -> GlmResult:
    return GlmResult(glm, variant, formula, len(data), pd.DataFrame(columns=AME_COLUMNS), None, notes)


def model_1_main_effects(rows: pd.DataFrame, variant: str = "warm", *, length: bool = False) -> GlmResult:
    """Model 1: fine-tuning main effect on unmodified prompts without a user belief (paper: +7.43 pp).

    ``is_incorrect ~ C(is_finetuned) + C(dataset, reference disinfo) + C(model)`` on the original and
    original_neutral templates, optionally ``+ response_length`` (paper: 6.99 pp, and -0.32 pp per 100
    characters). Like the authors' report, the AMEs are fine-tuning, each task against disinfo (every row
    predicted as that task vs as disinfo) and, with length, +50 vs -50 characters (= per 100 characters).
    Each effect's log-odds p-value tests its one coefficient (the authors' report prints none for model 1).
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
    effects: list[tuple[str, str, object, object, str]] = [("fine_tuning", "is_finetuned", 1, 0, _FINE_TUNED)]
    if "disinfo" in set(data["dataset"]) and data["dataset"].nunique() > 1:
        effects += [
            (f"dataset:{t}", "dataset", t, "disinfo", f"C(dataset, Treatment(reference='disinfo'))[T.{t}]")
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
                "response_length",
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
                logodds_p_value(fit, {coefficient: 1.0}),
            )
            for effect, column, treated, control, coefficient in effects
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
        for level in (CONTEXT_GROUPS if column == "context_group" else AMENDMENT_TYPES)
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

    def contrast(level: str) -> Contrast:
        """Main effect, plus the level's interaction outside the reference level (the authors' sum)."""
        if level == reference:
            return {_FINE_TUNED: 1.0}
        return {_FINE_TUNED: 1.0, f"{_FINE_TUNED}:{context}[T.{level}]": 1.0}

    return GlmResult(
        glm,
        variant,
        formula,
        len(data),
        _conditional_ames(glm, variant, fit, data, column, levels, contrast),
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

    The log-odds p-value is the authors' (``calculate_sycophancy_marginal_effects_with_tests``): without a belief
    the fine-tuning main effect; with a belief the difference of the two belief coefficients,
    ``[1]:user_opinion - [0]:user_opinion``. That contrast leaves out the main effect, so it tests whether
    fine-tuning changes the *belief effect*, not whether it changes the error rate on belief prompts; it is
    reported as they computed it so that the book's p-values can be set beside theirs. Belief x context group
    rows carry the test of their belief condition (the model has no fine-tuning x context term).
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

    def contrast(level: str) -> Contrast:
        if level.startswith("no_belief"):
            return {_FINE_TUNED: 1.0}
        return {f"{_TREATMENT}[1]:{_BELIEF}": 1.0, f"{_TREATMENT}[0]:{_BELIEF}": -1.0}

    ame = pd.concat(
        [
            _conditional_ames(glm, variant, fit, data, "belief_label", ("no_belief", "belief"), contrast),
            _conditional_ames(glm, variant, fit, data, "belief_context", tuple(combined), contrast),
        ],
        ignore_index=True,
    )
    return GlmResult(glm, variant, formula, len(data), ame, fit, notes)


GLM_MODELS = (model_1_main_effects, model_2_context_group, model_3_each_context, model_4_belief)


def headline_numbers(ames: pd.DataFrame, gaps: pd.DataFrame, variant: str) -> dict[str, float]:
    """The numbers the book's prose quotes for one variant, NaN where this run could not estimate them.

    Keys: ``<variant>_ame_pp`` / ``_ame_p`` / ``_ame_ci_lower`` / ``_ame_ci_upper`` (model 1, fine-tuning),
    ``<variant>_ame_no_belief_pp`` and ``_ame_belief_pp`` (model 4), ``<variant>_gap_<task>`` (question-only
    error gap, pp), the paper's headline quantities. The relative increase needs an interval and a denominator
    away from zero: :func:`helpers.analysis.gaps.relative_increase_interval` computes it from the pairs.
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
    return numbers


def ame_table(results: list[GlmResult]) -> pd.DataFrame:
    """All AMEs of several fitted models in one frame (empty rows for models that could not be fitted)."""
    frames = [r.ame for r in results if not r.ame.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=AME_COLUMNS)
