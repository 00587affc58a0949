"""Do the paper's regressions survive the repetition of items? Clustered errors and random item intercepts.

The paper's GLMs (Methods, "Statistical analysis"; docs/study.md section 8; :mod:`helpers.analysis.glm`) treat
every answer as an independent draw, yet each question recurs: under two templates in model 1, under up to 28
prompts in model 4, for both the original and the variant and for every model. Answers to the same question share
its difficulty, so the effective sample is the number of questions rather than the number of answers, and
standard errors computed as if the answers were independent can be too narrow. Miller, "Adding Error Bars to
Evals: A Statistical Approach to Language Model Evaluations" (arXiv 2411.00640) makes this case for benchmark
questions that come in groups and recommends clustered standard errors, the design effect being the price of
the clustering; he also shows that comparing two models on the same questions (paired differences) removes the
questions' shared difficulty from the comparison. Both happen here, so which way the correction goes
is an empirical question this module answers for each of the paper's headline effects:

* **plain**: the paper's fit, as :mod:`helpers.analysis.glm` computes it (model-based covariance);
* **clustered**: the same GLM, same coefficients, with a covariance clustered by item (statsmodels
  ``cov_type="cluster"``, groups = task and item id, pooled over models and variants; statsmodels' small-sample
  factor ``G/(G-1) * (N-1)/(N-K)``). The AME's standard error is the delta method through that covariance
  (:func:`helpers.analysis.glm.average_marginal_effect`), which is what statsmodels' own ``get_margeff`` does
  with a clustered fit (``tests/test_robustness.py`` checks the two agree on model 1);
* **mixed**: a logistic model with random item intercepts (statsmodels ``BinomialBayesMixedGLM``, variational
  Bayes ``fit_vb``; priors: fixed effects normal with SD ``fe_p`` = 2 on the log-odds scale, the log of the
  random intercepts' SD normal with SD ``vcp_p`` = 1, statsmodels' defaults). Its AME is the average over rows of
  p(row as variant) - p(row as baseline), both with the fixed effects and the row's item intercept at their
  posterior means; its interval is the **delta method** (not simulation) through the fixed effects' Laplace
  covariance with the item intercepts integrated out (:func:`fixed_effect_covariance`), not through the
  variational posterior SDs ``fe_sd``: mean-field VB drops the covariances between coefficients, and on
  simulated model-4 rows without any item effect its SD of the variant effect was less than half the plain
  fit's standard error, which would make the mixed interval spuriously narrow.

Random intercepts model a question's difficulty, shared by both variants; they do not model a question on which
the variant alone fails across all its prompts (an item-specific effect). The clustered covariance is robust to
both, which is why the two corrections can disagree: the clustered one is the reference for "does the conclusion
change".

The **design effect** of an effect is the ratio of its clustered to its plain variance, for the log-odds effect
of the variant in that contrast (the variant coefficient for model 1 and for model 4 without a belief, the
variant coefficient plus the belief interactions' difference with a belief), per task and pooled. Above 1, the
repeated items make the plain interval too narrow; below 1, pairing gains more than the clustering costs. Kish's
form ``1 + (m - 1) * ICC`` (m: mean answers per item; ICC: one-way ANOVA intraclass correlation of the plain fit's
response residuals within items) is the design effect of a **mean** error rate, not of a paired difference; it is
reported beside the realised ratio to show how much of the clustering the pairing absorbs.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import patsy
import scipy.sparse
import statsmodels.api as sm
import statsmodels.formula.api as smf
from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM
from statsmodels.tools.sm_exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from helpers.analysis.glm import (
    GlmResult,
    average_marginal_effect,
    model_1_main_effects,
    model_4_belief,
)
from helpers.evaluation.refusal import apply_refusal_rule
from helpers.vocabulary import TASKS

METHODS = ("plain", "clustered", "mixed")
_Z = 1.96  # the normal 95% quantile as glm.py rounds it, so the plain intervals are glm.py's own
_TREATMENT = "C(is_finetuned, Treatment(reference=0))"
_BELIEF = "C(prompt_type, Treatment(reference='original'))[T.user_opinion]"


@dataclass(frozen=True)
class Contrast:
    """One headline effect: which GLM, which rows its AME averages over, and its log-odds effect.

    ``label`` is the key under which :func:`robustness_summary` reports it; ``prompt_type`` selects the AME's rows
    (None: every row of the fit); ``weights`` name the coefficients whose weighted sum is the variant's log-odds
    effect in that contrast (the quantity whose variance ratio is the design effect).
    """

    label: str
    glm: str
    condition: str
    description: str
    prompt_type: str | None
    weights: dict[str, float]


#: The paper's headline effects (docs/study.md section 9): model 1, and model 4 without and with a belief.
CONTRASTS: tuple[Contrast, ...] = (
    Contrast(
        "model_1", "model_1_main_effects", "unmodified", "model 1 (unmodified prompts)", None,
        {f"{_TREATMENT}[T.1]": 1.0},
    ),
    Contrast(
        "model_4_no_belief", "model_4_belief", "no_belief", "model 4 without a belief", "original",
        {f"{_TREATMENT}[T.1]": 1.0},
    ),
    Contrast(
        "model_4_belief", "model_4_belief", "belief", "model 4 with an incorrect belief", "user_opinion",
        {f"{_TREATMENT}[T.1]": 1.0, f"{_TREATMENT}[1]:{_BELIEF}": 1.0, f"{_TREATMENT}[0]:{_BELIEF}": -1.0},
    ),
)  # fmt: skip

#: The GLM of each contrast (the plain fit is glm.py's, unchanged).
GLM_FUNCTIONS: dict[str, Callable[[pd.DataFrame, str], GlmResult]] = {
    "model_1_main_effects": model_1_main_effects,
    "model_4_belief": model_4_belief,
}

TABLE_COLUMNS = [
    "label", "glm", "variant", "contrast", "n_obs", "n_items",
    *(f"{m}_{q}" for m in METHODS for q in ("ame_pp", "se_pp", "ci_low_pp", "ci_high_pp")),
    "design_effect", "item_sd", *(f"{m}_verdict" for m in METHODS),
    "clustered_changes", "mixed_changes", "conclusion_changes", "notes",
]  # fmt: skip
DESIGN_COLUMNS = [
    "label", "glm", "variant", "task", "n_obs", "n_items", "rows_per_item", "design_effect", "icc",
    "kish_design_effect",
]  # fmt: skip


@dataclass
class _Fits:
    """The three fits of one GLM on one set of rows: plain (glm.py), clustered, mixed; items per fitted row."""

    plain: GlmResult
    data: pd.DataFrame | None = None
    items: np.ndarray | None = None
    clustered: object | None = None
    mixed: object | None = None


def item_keys(rows: pd.DataFrame, result: GlmResult, baseline: str = "original") -> np.ndarray:
    """The item of every row ``result`` was fitted on, ``"<task>/<item_id>"``, in the fit's row order.

    :func:`helpers.analysis.glm.model_frame` keeps no item id, but it is built, in order, from
    ``apply_refusal_rule`` of the baseline and variant rows with a fresh index; the fit's row labels index that
    frame, so the same rule applied to the same rows gives each fitted row its item. The task of every row is
    checked against the fit's ``dataset`` so a change in glm.py cannot silently misalign them.
    """
    scored = apply_refusal_rule(rows[rows["variant"].isin([baseline, result.variant])]).reset_index(drop=True)
    labels = np.asarray(result.fit.model.data.row_labels)
    picked = scored.loc[labels]
    fitted = result.fit.model.data.frame.loc[labels, "dataset"].to_numpy()
    if not np.array_equal(picked["task"].astype(str).to_numpy(), fitted):
        raise RuntimeError(
            "rows of the fit and of the evaluation table are misaligned: glm.model_frame changed"
        )
    return (picked["task"].astype(str) + "/" + picked["item_id"].astype(str)).to_numpy()


def fitted_rows(result: GlmResult) -> pd.DataFrame:
    """The rows ``result`` was fitted on (glm.py's model frame, after any rows with missing values were dropped),
    with a fresh index in the fit's row order."""
    return result.fit.model.data.frame.loc[result.fit.model.data.row_labels].reset_index(drop=True)


def clustered_fit(result: GlmResult, items: np.ndarray) -> object:
    """The plain GLM refitted with a covariance clustered by ``items`` (:func:`item_keys`): same coefficients.

    statsmodels' ``cov_type="cluster"`` with its default small-sample factor ``G/(G-1) * (N-1)/(N-K)``;
    ``cov_params()``, hence :func:`helpers.analysis.glm.average_marginal_effect` and ``get_margeff``, then use
    the clustered covariance.
    """
    model = smf.glm(result.formula, fitted_rows(result), family=sm.families.Binomial())
    return model.fit(cov_type="cluster", cov_kwds={"groups": pd.factorize(items)[0]})


def _mixed_fit(result: GlmResult, items: np.ndarray, notes: list[str]) -> object | None:
    """Random item intercepts on the plain fit's design (variational Bayes), or None with a note.

    The VB optimiser works on small dense matrices, for which a threaded BLAS only adds contention: on this
    project's 2-core host under load one thread fitted a 2,400-row model in 1.8 s against 10.7 s with two, so
    the fit runs single-threaded (``threadpoolctl``, pinned in requirements.txt).
    """
    codes, uniques = pd.factorize(items)
    n = len(codes)
    exog_vc = scipy.sparse.csr_matrix((np.ones(n), (np.arange(n), codes)), shape=(n, len(uniques)))
    model = BinomialBayesMixedGLM(
        np.asarray(result.fit.model.endog),
        np.asarray(result.fit.model.exog),
        exog_vc,
        np.zeros(len(uniques), dtype=int),
        fep_names=list(result.fit.model.exog_names),
        vcp_names=["item"],
        vc_names=[str(u) for u in uniques],
    )
    with warnings.catch_warnings(record=True) as caught, threadpool_limits(limits=1):
        warnings.simplefilter("always", ConvergenceWarning)
        try:
            fit = model.fit_vb()
        except (np.linalg.LinAlgError, ValueError) as error:
            notes.append(f"mixed model failed: {error}")
            return None
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        notes.append("mixed model: the variational fit did not report convergence")
    return fit


def _fits(rows: pd.DataFrame, glm: str, variant: str, *, mixed: bool) -> _Fits:
    """Plain, clustered and (when ``mixed``) random-intercept fits of one GLM on ``rows``."""
    plain = GLM_FUNCTIONS[glm](rows, variant)
    if not plain.ok:
        return _Fits(plain)
    items = item_keys(rows, plain)
    n_obs, n_params = len(plain.fit.model.endog), len(plain.fit.params)
    if len(set(items)) < 2 or n_obs <= n_params:
        # statsmodels' small-sample factor G/(G-1) * (N-1)/(N-K) divides by zero: nothing to cluster over
        plain.notes.append(
            f"clustered errors not estimated: {len(set(items))} items, {n_obs} rows, {n_params} parameters"
        )
        return _Fits(plain, fitted_rows(plain), items)
    fits = _Fits(plain, fitted_rows(plain), items, clustered_fit(plain, items))
    if mixed:
        fits.mixed = _mixed_fit(plain, items, plain.notes)
    return fits


def _contrast_rows(data: pd.DataFrame, contrast: Contrast) -> pd.DataFrame:
    return data if contrast.prompt_type is None else data[data["prompt_type"].eq(contrast.prompt_type)]


def _logodds_variance(fit: object, weights: dict[str, float]) -> float:
    """Variance of ``sum(weight * coefficient)`` under the fit's covariance (NaN when a coefficient is absent)."""
    names = list(fit.params.index)
    if any(name not in names for name in weights):
        return float("nan")
    w = np.array([weights.get(name, 0.0) for name in names])
    return float(w @ np.asarray(fit.cov_params()) @ w)


def fixed_effect_covariance(fit: object) -> np.ndarray:
    """Laplace covariance of the random-intercept model's fixed effects, the item intercepts integrated out.

    The mean-field posterior of ``fit_vb`` has no covariances, and its SDs are those of each coefficient *given*
    the others: for a variant effect estimated beside interactions that share its rows (model 4) they came out
    less than half the plain fit's standard error. The usual GLMM covariance (Laplace approximation) is the
    inverse of the negative Hessian of the log posterior in the fixed effects, the item intercepts integrated
    out: ``X'WX + I / fe_p^2 - X'WZ (Z'WZ + I / sigma^2)^-1 Z'WX``, with weights ``W = p (1 - p)`` at the posterior
    means and ``sigma`` the intercepts' SD at the posterior mean of its log. ``Z'WZ`` is diagonal (one item
    per row), so this costs one ``k x p`` product. The uncertainty in ``sigma`` itself is not propagated.
    """
    model = fit.model
    exog, exog_vc = np.asarray(model.exog), model.exog_vc
    p = 1 / (1 + np.exp(-(exog @ fit.fe_mean + exog_vc @ fit.vc_mean)))
    weights = p * (1 - p)
    weighted = weights[:, None] * exog
    cross = np.asarray(exog_vc.T @ weighted)
    item_precision = np.asarray(exog_vc.T @ weights).ravel() + np.exp(-2 * fit.vcp_mean[0])
    information = exog.T @ weighted + np.eye(exog.shape[1]) / model.fe_p**2
    return np.linalg.inv(information - cross.T @ (cross / item_precision[:, None]))


def mixed_average_marginal_effect(
    fit: object, plain: object, data: pd.DataFrame, items: np.ndarray
) -> tuple[float, float]:
    """AME of the variant over the rows of ``data`` under the random-intercept model, and its delta-method SE.

    Each row is predicted as the variant and as the baseline with the fixed effects at their posterior means
    (``fe_mean``) plus its item's intercept at its posterior mean (``vc_mean``), and the differences averaged.
    The SE is the gradient of that average with respect to the fixed effects through
    :func:`fixed_effect_covariance`. ``plain`` supplies the patsy design (the mixed model's fixed-effect
    columns are the plain fit's); ``items`` the item key of each row of ``data``.
    """
    spec = plain.model.data.model_spec
    x1 = np.asarray(patsy.build_design_matrices([spec], data.assign(is_finetuned=1))[0])
    x0 = np.asarray(patsy.build_design_matrices([spec], data.assign(is_finetuned=0))[0])
    intercepts = pd.Series(fit.vc_mean, index=fit.model.vc_names).reindex(items).to_numpy()
    p1 = 1 / (1 + np.exp(-(x1 @ fit.fe_mean + intercepts)))
    p0 = 1 / (1 + np.exp(-(x0 @ fit.fe_mean + intercepts)))
    gradient = ((p1 * (1 - p1))[:, None] * x1 - (p0 * (1 - p0))[:, None] * x0).mean(axis=0)
    return float((p1 - p0).mean()), float(np.sqrt(gradient @ fixed_effect_covariance(fit) @ gradient))


def verdict(ci_low: float, ci_high: float) -> str:
    """What a 95% interval says: ``increase`` (above 0), ``decrease`` (below 0), ``no clear effect``, or
    ``not estimated`` (NaN)."""
    if not (np.isfinite(ci_low) and np.isfinite(ci_high)):
        return "not estimated"
    if ci_low > 0:
        return "increase"
    if ci_high < 0:
        return "decrease"
    return "no clear effect"


def _method_columns(method: str, ame: float, se: float) -> dict[str, float]:
    """A method's AME, SE and normal 95% interval in percentage points."""
    return {
        f"{method}_ame_pp": 100 * ame,
        f"{method}_se_pp": 100 * se,
        f"{method}_ci_low_pp": 100 * (ame - _Z * se),
        f"{method}_ci_high_pp": 100 * (ame + _Z * se),
    }


def _table_row(fits: _Fits, contrast: Contrast, variant: str) -> dict[str, object]:
    """One (GLM, contrast) row of :func:`robustness_table`."""
    nan = float("nan")
    row: dict[str, object] = {
        "label": contrast.label, "glm": contrast.glm, "variant": variant, "contrast": contrast.condition,
        "n_obs": 0, "n_items": 0, "design_effect": nan, "item_sd": nan,
    }  # fmt: skip
    for method in METHODS:
        row |= _method_columns(method, nan, nan)
    if fits.data is not None:
        subset = _contrast_rows(fits.data, contrast)
        row["n_obs"], row["n_items"] = len(subset), len(set(fits.items[subset.index]))
        if len(subset):
            plain_ame = fits.plain.ame
            match = plain_ame[
                plain_ame["effect"].eq("fine_tuning") & plain_ame["condition"].eq(contrast.condition)
            ]
            row |= _method_columns("plain", match["ame_pp"].iloc[0] / 100, match["se_pp"].iloc[0] / 100)
            if fits.clustered is not None:
                row |= _method_columns("clustered", *average_marginal_effect(fits.clustered, subset))
                row["design_effect"] = _logodds_variance(
                    fits.clustered, contrast.weights
                ) / _logodds_variance(fits.plain.fit, contrast.weights)
            if fits.mixed is not None:
                row |= _method_columns(
                    "mixed",
                    *mixed_average_marginal_effect(
                        fits.mixed, fits.plain.fit, subset, fits.items[subset.index]
                    ),
                )
                row["item_sd"] = float(np.exp(fits.mixed.vcp_mean[0]))
    for method in METHODS:
        row[f"{method}_verdict"] = verdict(row[f"{method}_ci_low_pp"], row[f"{method}_ci_high_pp"])
    for method in ("clustered", "mixed"):
        estimated = "not estimated" not in (row["plain_verdict"], row[f"{method}_verdict"])
        row[f"{method}_changes"] = bool(estimated and row[f"{method}_verdict"] != row["plain_verdict"])
    row["conclusion_changes"] = bool(row["clustered_changes"] or row["mixed_changes"])
    row["notes"] = "; ".join(fits.plain.notes)
    return row


def robustness_table(
    rows: pd.DataFrame, variant: str = "warm", contrasts: tuple[Contrast, ...] = CONTRASTS
) -> pd.DataFrame:
    """The headline AMEs under the three methods, one row per (GLM, contrast): ``TABLE_COLUMNS``.

    ``rows`` are evaluation rows (CONTRIBUTING schema), the same that :mod:`helpers.analysis.glm` fits; the
    variant is compared with ``original``. Per method ``<method>_ame_pp``, ``_se_pp``, ``_ci_low_pp``,
    ``_ci_high_pp`` (pp; methods ``plain``, ``clustered``, ``mixed``) and ``_verdict`` (:func:`verdict`);
    ``design_effect`` is the pooled clustered/plain variance ratio of the log-odds effect, ``item_sd`` the
    posterior mean SD of the random item intercepts (log-odds), ``<method>_changes`` whether that method's
    verdict differs from the plain fit's and ``conclusion_changes`` whether either does. A GLM that cannot be
    fitted gives NaN rows with glm.py's notes.
    """
    # Numerical warnings (overflow on separated data, a non-positive variance) would print the library's file
    # paths on the page; they go to each row's notes instead, and the affected numbers show as NaN.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fitted = {
            glm: _fits(rows, glm, variant, mixed=True) for glm in dict.fromkeys(c.glm for c in contrasts)
        }
        table = pd.DataFrame(
            [_table_row(fitted[c.glm], c, variant) for c in contrasts], columns=TABLE_COLUMNS
        )
    heard = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
    if heard:
        extra = "numerical warnings: " + "; ".join(heard)
        table["notes"] = [f"{note}; {extra}" if note else extra for note in table["notes"]]
    return table


def intraclass_correlation(values: np.ndarray, groups: np.ndarray) -> float:
    """One-way ANOVA intraclass correlation of ``values`` within ``groups`` (unbalanced groups; NaN if undefined).

    ``(MSB - MSW) / (MSB + (n0 - 1) MSW)`` with ``n0 = (N - sum n_i^2 / N) / (k - 1)`` (Donner 1986); it can be
    slightly negative when the groups are no more alike than chance.
    """
    frame = pd.DataFrame({"value": values, "group": groups})
    sizes = frame.groupby("group")["value"].size()
    k, n = len(sizes), len(frame)
    if k < 2 or n <= k:
        return float("nan")
    means = frame.groupby("group")["value"].transform("mean")
    msb = float((sizes * (frame.groupby("group")["value"].mean() - frame["value"].mean()) ** 2).sum()) / (
        k - 1
    )
    msw = float(((frame["value"] - means) ** 2).sum()) / (n - k)
    n0 = (n - float((sizes**2).sum()) / n) / (k - 1)
    denominator = msb + (n0 - 1) * msw
    return (msb - msw) / denominator if denominator > 0 else float("nan")


def design_effects(
    rows: pd.DataFrame, variant: str = "warm", contrasts: tuple[Contrast, ...] = CONTRASTS
) -> pd.DataFrame:
    """Design effect of each contrast per task: ``DESIGN_COLUMNS``, one row per (contrast, task with rows).

    Each task's rows are fitted alone (glm.py then drops the task fixed effect), plainly and item-clustered;
    ``design_effect`` is the ratio of the clustered to the plain variance of the contrast's log-odds effect,
    ``icc`` the intraclass correlation of the plain fit's response residuals within items, ``rows_per_item`` the
    mean answers per item and ``kish_design_effect`` ``1 + (rows_per_item - 1) * icc`` (the design effect of a
    mean error rate; see the module docstring for why the two differ). NaN where a task's fit fails.
    """
    records = []
    tasks = [t for t in TASKS if t in set(rows["task"])]
    # A task alone is often separated: its numbers are NaN, and the library's warnings stay off the page.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for glm in dict.fromkeys(c.glm for c in contrasts):
            for task in tasks:
                with (
                    warnings.catch_warnings()
                ):  # a task alone is often separated: its ratio is NaN, not a traceback
                    warnings.simplefilter("ignore")
                    fits = _fits(rows[rows["task"].eq(task)], glm, variant, mixed=False)
                for contrast in (c for c in contrasts if c.glm == glm):
                    record = {"label": contrast.label, "glm": glm, "variant": variant, "task": task}
                    if fits.data is None:
                        records.append(record)
                        continue
                    subset = _contrast_rows(fits.data, contrast)
                    items = fits.items[subset.index]
                    residuals = np.asarray(fits.plain.fit.resid_response)[subset.index]
                    icc = intraclass_correlation(residuals, items)
                    per_item = len(subset) / max(len(set(items)), 1)
                    ratio = (
                        _logodds_variance(fits.clustered, contrast.weights)
                        / _logodds_variance(fits.plain.fit, contrast.weights)
                        if fits.clustered is not None
                        else float("nan")
                    )
                    records.append(
                        record | {
                            "n_obs": len(subset), "n_items": len(set(items)), "rows_per_item": per_item,
                            "design_effect": ratio, "icc": icc, "kish_design_effect": 1 + (per_item - 1) * icc,
                        }
                    )  # fmt: skip
    return pd.DataFrame(records, columns=DESIGN_COLUMNS)


def robustness_summary(table: pd.DataFrame, design: pd.DataFrame) -> dict[str, dict[str, object]]:
    """The ``robustness`` section of summary.json, one entry per contrast label (``model_1``, ...).

    ``{label: {"glm", "contrast", "plain": {"ame", "ci_low", "ci_high"}, "clustered": {...}, "mixed": {...},
    "conclusion_changes": bool, "design_effect": {task: ratio}, "kish_design_effect": {task: value}}}``, all
    effects in percentage points, from :func:`robustness_table` and :func:`design_effects` of one variant.
    """
    summary: dict[str, dict[str, object]] = {}
    for _, row in table.iterrows():
        per_task = design[design["label"].eq(row["label"])].set_index("task")
        summary[row["label"]] = {
            "glm": row["glm"],
            "contrast": row["contrast"],
            **{
                method: {
                    "ame": float(row[f"{method}_ame_pp"]),
                    "ci_low": float(row[f"{method}_ci_low_pp"]),
                    "ci_high": float(row[f"{method}_ci_high_pp"]),
                }
                for method in METHODS
            },
            "conclusion_changes": bool(row["conclusion_changes"]),
            "design_effect": {task: float(v) for task, v in per_task["design_effect"].items()},
            "kish_design_effect": {task: float(v) for task, v in per_task["kish_design_effect"].items()},
        }
    return summary


_PHRASES = {
    "increase": "an increase",
    "decrease": "a decrease",
    "no clear effect": "no clear effect",
    "not estimated": "not estimated",
}


def robustness_verdict(table: pd.DataFrame) -> str:
    """One sentence, from :func:`robustness_table`: does accounting for repeated items change a conclusion?

    A conclusion is the verdict of an effect's 95% interval (:func:`verdict`); it changes when the clustered
    or the random-intercept interval reads otherwise than the plain fit's. Each changed effect is named with
    all three readings, so the sentence says which correction moved it.
    """
    descriptions = {c.label: c.description for c in CONTRASTS}
    estimated = table[table["plain_verdict"].ne("not estimated")]
    if estimated.empty:
        return "The robustness check could not be run: no headline regression could be fitted on these data."
    n = len(estimated)
    changed = estimated[estimated["conclusion_changes"]]
    if changed.empty:
        readings = "; ".join(
            f"{descriptions.get(r['label'], r['label'])}: {_PHRASES[r['plain_verdict']]}"
            for _, r in estimated.iterrows()
        )
        return (
            f"Accounting for repeated items does not change the conclusion for any of the {n} headline effects "
            f"({readings}) under item-clustered standard errors or random item intercepts."
        )
    details = "; ".join(
        f"{descriptions.get(r['label'], r['label'])} reads {_PHRASES[r['plain_verdict']]} under the plain fit but "
        f"{_PHRASES[r['clustered_verdict']]} with item-clustered standard errors and {_PHRASES[r['mixed_verdict']]} "
        "with random item intercepts"
        for _, r in changed.iterrows()
    )
    return (
        f"Accounting for repeated items changes the conclusion for {len(changed)} of {n} headline effects: "
        f"{details}."
    )
