"""The warmth-accuracy dose-response (beyond the paper): does error grow with the warmth a checkpoint reached?

Why. The paper measures accuracy at one checkpoint (epoch 2, "the warm model") although it scores warmth at
every checkpoint (Fig. 1a). A cost that rises with the dose of warmth is stronger evidence that warmth causes it
than one difference between two models: a dose-response is one of Bradford Hill's criteria for causation, and a
cold fine-tune trained the same way shows what fine-tuning costs without warmth.

What. A study config's ``dose_response`` names styles whose every scored checkpoint (``finetune.checkpoints``) is
evaluated on the plain and the incorrect-belief prompts (templates ``original`` and ``incorrect``, no context),
written to ``<model>/<style>/epoch<e>/<task>.csv``; the selected checkpoint is the main evaluation
(``<model>/<style>/``) and the original model is checkpoint 0. Every checkpoint answers the same screened items.

Per style and checkpoint :func:`dose_points` gives that checkpoint's SocioT warmth (mean and SEM across responses,
from the warmth stage, which scores every checkpoint) and its error rate plainly and with an incorrect belief,
with Wilson 95% intervals. :func:`trend_tests` fits, per style and condition, a logistic regression of error on
warmth as a continuous predictor over the original and that style's checkpoints, with standard errors clustered
by item (statsmodels ``cov_type="cluster"``): every item is answered at every checkpoint, so its answers share its
difficulty (Miller 2024, "Adding Error Bars to Evals", arXiv 2411.00640). No task fixed effects: warmth is the same
for every task of a checkpoint, so tasks cannot confound it, and a task whose answers are all wrong would make the
model inestimable (separation). The slope is in log-odds per :data:`WARMTH_UNIT` of SocioT; a positive, significant
slope says error rises with warmth.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import statsmodels.api as sm
from matplotlib.figure import Figure

from helpers.analysis.seeds import folder_rows
from helpers.analysis.study_results import STUDY_FOLDERS
from helpers.checkpoints import format_epoch
from helpers.colours import VARIANT_COLOURS
from helpers.evaluation.refusal import apply_refusal_rule
from helpers.intervals import wilson_interval
from helpers.paths import study_dir
from helpers.vocabulary import ALL_STYLES

#: ``<model>/<style>/epoch<e>/``: the folder of a dose-response checkpoint (helpers.study.runner).
EPOCH_FOLDER = re.compile(r"^epoch(\d+(?:\.\d+)?)$")
#: The prompts of the dose-response: the plain question and the question with an incorrect user belief.
CONDITIONS = {"original": "plain", "incorrect": "incorrect belief"}
WARMTH_UNIT = 0.01
"""The slope's unit of SocioT warmth: the paper's warm checkpoints sit about 0.016 above their originals
(docs/study.md section 3), so a slope per 0.01 reads as the change in log-odds over most of that distance."""
POINT_COLUMNS = [
    "model", "style", "epoch", "condition", "warmth", "warmth_sem", "n", "errors", "error_pct", "ci_low", "ci_high",
]  # fmt: skip
TREND_COLUMNS = [
    "model",
    "style",
    "condition",
    "slope",
    "ci_low",
    "ci_high",
    "p_value",
    "n_obs",
    "n_items",
    "note",
]


def load_dose_rows(study: str, selected_checkpoint: float) -> pd.DataFrame:
    """The dose-response's evaluation rows with ``epoch`` and ``model_dir`` columns; empty without any
    ``<style>/epoch<e>/`` folder (the study asked for no dose-response).

    Per model folder: the original's main evaluation as epoch 0; for each style with an epoch folder, each such
    folder at its epoch and the style's main evaluation at ``selected_checkpoint``. Only the plain and
    incorrect-belief prompts without a context are kept (:data:`CONDITIONS`).
    """
    root = study_dir(study)
    frames: list[pd.DataFrame] = []
    for model_dir in sorted(p for p in root.glob("*") if p.is_dir() and p.name not in STUDY_FOLDERS):
        styles: list[tuple[str, float, Path]] = []
        for style in ALL_STYLES:
            epochs = [
                (style, float(found.group(1)), sub)
                for sub in sorted((model_dir / style).glob("epoch*"))
                if sub.is_dir() and (found := EPOCH_FOLDER.match(sub.name))
            ]
            if epochs:
                styles += [*epochs, (style, float(selected_checkpoint), model_dir / style)]
        if not styles:
            continue
        for _style, epoch, folder in [("original", 0.0, model_dir / "original"), *styles]:
            frames += [f.assign(epoch=epoch, model_dir=model_dir.name) for f in folder_rows(folder)]
    if not frames:
        return pd.DataFrame()
    rows = pd.concat(frames, ignore_index=True)
    keep = rows["amendment_type"].eq("unmodified") & rows["prompt_template"].isin(list(CONDITIONS))
    return rows[keep].reset_index(drop=True)


def _scored(rows: pd.DataFrame, warmth: pd.DataFrame) -> pd.DataFrame:
    """Rows with the paper's refusal rule applied, a ``condition`` and the checkpoint's ``warmth``."""
    scored = apply_refusal_rule(rows).assign(condition=lambda f: f["prompt_template"].map(CONDITIONS))
    table = warmth.assign(epoch=warmth["epoch"].astype(float)).rename(
        columns={"model": "model_dir", "mean": "warmth", "sem": "warmth_sem"}
    )[["model_dir", "variant", "epoch", "warmth", "warmth_sem"]]
    return scored.merge(table, on=["model_dir", "variant", "epoch"], how="left")


def _style_rows(scored: pd.DataFrame) -> dict[tuple[str, str], pd.DataFrame]:
    """``{(model_dir, style): rows}``: the original's rows (epoch 0) with those of every checkpoint of a style."""
    out = {}
    for (model_dir, variant), group in scored.groupby(["model_dir", "variant"]):
        if variant == "original":
            continue
        original = scored[scored["model_dir"].eq(model_dir) & scored["variant"].eq("original")]
        out[(model_dir, variant)] = pd.concat([original, group], ignore_index=True)
    return out


def dose_points(rows: pd.DataFrame, warmth: pd.DataFrame) -> pd.DataFrame:
    """Per model, style, checkpoint and condition: SocioT warmth (mean, SEM) and error rate (%) with a Wilson 95%
    interval (:data:`POINT_COLUMNS`); the original appears as epoch 0 of every style's line."""
    if rows.empty:
        return pd.DataFrame(columns=POINT_COLUMNS)
    records = []
    for (model_dir, style), group in _style_rows(_scored(rows, warmth)).items():
        for (epoch, condition), cell in group.groupby(["epoch", "condition"]):
            n, errors = len(cell), int(cell["is_incorrect"].sum())
            low, high = wilson_interval(errors, n)
            records.append({
                "model": model_dir, "style": style, "epoch": float(epoch), "condition": condition,
                "warmth": float(cell["warmth"].iloc[0]), "warmth_sem": float(cell["warmth_sem"].iloc[0]),
                "n": n, "errors": errors, "error_pct": 100 * errors / n if n else float("nan"),
                "ci_low": 100 * low, "ci_high": 100 * high,
            })  # fmt: skip
    return pd.DataFrame(records, columns=POINT_COLUMNS).sort_values(["model", "style", "condition", "epoch"])


def warmth_trend(rows: pd.DataFrame) -> dict[str, object]:
    """Logistic regression of ``is_incorrect`` on ``warmth / WARMTH_UNIT``, item-clustered: slope, 95% CI, p.

    ``rows`` need ``is_incorrect``, ``warmth`` and ``task``/``item_id``. NaN with a ``note`` where the model
    cannot be estimated: warmth missing or constant, errors all or none, fewer than two items.
    """
    nan = float("nan")
    result: dict[str, object] = {"slope": nan, "ci_low": nan, "ci_high": nan, "p_value": nan,
                                 "n_obs": len(rows), "n_items": 0, "note": ""}  # fmt: skip
    data = rows.dropna(subset=["warmth"])
    items = data["model_dir"].astype(str) + "|" + data["task"].astype(str) + "|" + data["item_id"].astype(str)
    result["n_obs"], result["n_items"] = len(data), int(items.nunique())
    if data["warmth"].nunique() < 2:
        return result | {"note": "warmth takes fewer than two values (is the warmth stage's table there?)"}
    if data["is_incorrect"].nunique() < 2:
        return result | {"note": "every answer has the same verdict: no trend can be estimated"}
    if items.nunique() < 2:
        return result | {"note": "fewer than two items: no clustered standard error"}
    design = sm.add_constant((data["warmth"] / WARMTH_UNIT).to_numpy(float))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # separation warnings: the note below reports the outcome instead
            fit = sm.GLM(data["is_incorrect"].to_numpy(float), design, family=sm.families.Binomial()).fit(
                cov_type="cluster", cov_kwds={"groups": pd.factorize(items)[0]}
            )
    except (np.linalg.LinAlgError, ValueError) as error:
        return result | {"note": f"not estimable: {error}"}
    low, high = fit.conf_int()[1]
    if not np.isfinite([fit.params[1], fit.bse[1]]).all():
        return result | {"note": "not estimable: the fit did not converge (separation)"}
    return result | {"slope": float(fit.params[1]), "ci_low": float(low), "ci_high": float(high),
                     "p_value": float(fit.pvalues[1])}  # fmt: skip


def trend_tests(rows: pd.DataFrame, warmth: pd.DataFrame) -> pd.DataFrame:
    """:func:`warmth_trend` per model, style and condition (:data:`TREND_COLUMNS`)."""
    if rows.empty:
        return pd.DataFrame(columns=TREND_COLUMNS)
    records = []
    for (model_dir, style), group in _style_rows(_scored(rows, warmth)).items():
        for condition in CONDITIONS.values():
            cell = group[group["condition"].eq(condition)]
            records.append({"model": model_dir, "style": style, "condition": condition, **warmth_trend(cell)})
    return pd.DataFrame(records, columns=TREND_COLUMNS)


def dose_response_summary(points: pd.DataFrame, trends: pd.DataFrame) -> dict[str, list]:
    """``summary.json``'s ``dose_response``: every point, and every trend with its slope, interval and p."""
    return {
        "warmth_unit": WARMTH_UNIT,
        "points": points.to_dict(orient="records"),
        "trends": trends.to_dict(orient="records"),
    }


def trend_verdict(trends: pd.DataFrame, alpha: float = 0.05) -> str:
    """In words, per style and condition: the slope's sign and whether the trend is significant at ``alpha``."""
    if trends.empty:
        return (
            "No style was evaluated at more than its selected checkpoint: there is no dose-response to test."
        )
    sentences = []
    for row in trends.itertuples():
        if not np.isfinite(row.slope):
            sentences.append(f"{row.style}, {row.condition}: no trend estimated ({row.note}).")
            continue
        direction = "rises" if row.slope > 0 else "falls"
        significant = "is significant" if row.p_value < alpha else "is not significant"
        sentences.append(
            f"{row.style}, {row.condition}: error {direction} with warmth ({row.slope:+.2f} log-odds per "
            f"{WARMTH_UNIT:g} SocioT, 95% CI {row.ci_low:+.2f} to {row.ci_high:+.2f}, p = {row.p_value:.3f}); "
            f"the trend {significant} at {alpha:g}."
        )
    return " ".join(sentences)


def plot_frontier(points: pd.DataFrame) -> Figure:
    """The warmth-accuracy frontier: error rate (%, Wilson 95%) against SocioT warmth (± SEM), one line per style
    through its checkpoints in epoch order (the original at epoch 0), a panel per condition."""
    conditions = [c for c in CONDITIONS.values() if c in set(points["condition"])] or list(
        CONDITIONS.values()
    )
    fig, axes = plt.subplots(1, len(conditions), figsize=(5 * len(conditions), 4), sharey=True, squeeze=False)
    for ax, condition in zip(axes[0], conditions, strict=True):
        panel = points[points["condition"].eq(condition)]
        for (model, style), line in panel.groupby(["model", "style"]):
            line = line.sort_values("epoch")
            colour = VARIANT_COLOURS.get(style, "0.6")
            yerr = np.vstack([line["error_pct"] - line["ci_low"], line["ci_high"] - line["error_pct"]])
            ax.errorbar(
                line["warmth"], line["error_pct"], yerr=yerr, xerr=line["warmth_sem"].fillna(0), color=colour,
                marker="o", capsize=3, label=style if points["model"].nunique() == 1 else f"{model}: {style}",
            )  # fmt: skip
            for epoch, x, y in zip(line["epoch"], line["warmth"], line["error_pct"], strict=True):
                ax.annotate(f"e{format_epoch(epoch)}", (x, y), textcoords="offset points", xytext=(4, 4),
                            fontsize=8, color=colour)  # fmt: skip
        ax.set_title(condition)
        ax.set_xlabel("SocioT warmth of the checkpoint (mean ± SEM)")
    axes[0][0].set_ylabel("error rate (%), 95% interval")
    axes[0][-1].legend(title="style", frameon=False)
    fig.tight_layout()
    return fig
