"""Sampling seeds as a study axis (beyond the paper): the warm - original gap per seed, and pooled over seeds.

Why. The paper samples every answer once, at temperature 0.8, so its gaps carry the luck of one draw. Two runs of
the demo's design under different seeds gave +1.6 pp (95% CI -2.1 to +5.3) and -3.2 pp (CI -6.0 to -0.3): each
interval excluded the other's estimate. A study config's ``evaluation_seeds`` repeats the evaluation of every
variant under other sampling seeds on the same items and prompts (the screening and the context draws keep the
study seed), writing ``<model>/<variant>/seed<k>/<task>.csv``; the study seed's runs are the main evaluation in
``<model>/<variant>/``.

Per seed, the gap is the variant - original error rate (pp) over that seed's pairs (same prompt, same seed), with
an item-clustered standard error: each question recurs under several contexts and templates, so its answers are
not independent (Miller 2024, "Adding Error Bars to Evals", arXiv 2411.00640: cluster standard errors by question).

Pooled, the gap is the mean of the seeds' gaps (every seed answers the same pairs, so none weighs more by
design), and its interval must include what a reader re-running the study would see: the spread *between*
seeds. It is a random-effects interval with equal weights and the Knapp-Hartung t distribution on K - 1 degrees
of freedom, with the ad hoc correction that never lets it be narrower than the within-seed variance (Röver,
Knapp & Friede 2015, BMC Med. Res. Methodol. 15:99)::

    se^2 = max(v_items, s^2 / K),      interval = mean +/- t(K-1) * se

where ``s^2`` is the sample variance of the K seed gaps and ``v_items`` is the item-clustered variance of the mean
gap over all seeds' pairs, clustered by question across seeds: Miller's estimator for repeated draws of the same
questions, which already counts the answer noise that the draws average out. When the seeds agree,
``v_items`` rules and pooling narrows the interval as more draws should; when they disagree more than the items
explain, ``s^2 / K`` rules and the interval widens. A bootstrap over seeds was not used: with three seeds it has
ten distinct resamples and underestimates the between-seed variance by a third ((K - 1) / K), and the t quantile
is what makes three seeds honest (t(2) = 4.30 against the normal's 1.96).
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import statsmodels.api as sm
from matplotlib.figure import Figure
from scipy import stats as scipy_stats

from helpers.analysis.paired import paired_table
from helpers.analysis.study_results import ROW_KINDS, STUDY_FOLDERS
from helpers.colours import VARIANT_COLOURS
from helpers.paths import study_dir
from helpers.storage import read_results_csv
from helpers.vocabulary import ALL_VARIANTS, TASKS

#: ``<model>/<variant>/seed<k>/``: the folder of an extra evaluation seed (helpers.study.runner).
SEED_FOLDER = re.compile(r"^seed(\d+)$")
SEED_COLUMNS = ["variant", "seed", "n_pairs", "n_items", "gap_pp", "se_pp", "ci_low", "ci_high"]


def folder_rows(folder: Path) -> list[pd.DataFrame]:
    """The non-empty evaluation tables (`<task>.csv`) of one folder."""
    frames = []
    for task in TASKS:
        path = folder / f"{task}.csv"
        if path.is_file():
            frames.append(read_results_csv(path, ROW_KINDS, keep_default_na=False, na_values=[""]))
    return [frame for frame in frames if len(frame)]


def load_seed_rows(study: str, study_seed: int) -> pd.DataFrame:
    """Every evaluation row of every seed, with a ``seed`` column: the main evaluation (``<model>/<variant>/``)
    under ``study_seed``, each ``<model>/<variant>/seed<k>/`` under ``k``. Empty when the study ran no extra seed
    (then there is nothing to compare the main evaluation with)."""
    root = study_dir(study)
    frames: list[pd.DataFrame] = []
    extra = False
    for model_dir in sorted(p for p in root.glob("*") if p.is_dir() and p.name not in STUDY_FOLDERS):
        for variant in ALL_VARIANTS:
            folder = model_dir / variant
            frames += [frame.assign(seed=study_seed) for frame in folder_rows(folder)]
            for sub in sorted(folder.glob("seed*")):
                found = SEED_FOLDER.match(sub.name)
                if found and sub.is_dir():
                    extra = True
                    frames += [frame.assign(seed=int(found.group(1))) for frame in folder_rows(sub)]
    return pd.concat(frames, ignore_index=True) if extra and frames else pd.DataFrame()


def _pair_differences(pairs: pd.DataFrame) -> pd.Series:
    """Per pair, variant error - original error (1, 0 or -1), in pp once averaged x 100."""
    return pairs["correct_original"].astype(float) - pairs["correct_variant"].astype(float)


def clustered_mean(values: pd.Series, clusters: pd.Series) -> tuple[float, float]:
    """Mean of ``values`` and its standard error clustered by ``clusters`` (statsmodels OLS on a constant,
    ``cov_type="cluster"`` with its small-sample factor). NaN SE with fewer than two clusters."""
    if values.empty:
        return float("nan"), float("nan")
    groups = pd.factorize(clusters)[0]
    if groups.max() < 1:
        return float(values.mean()), float("nan")
    fit = sm.OLS(values.to_numpy(float), np.ones(len(values))).fit(
        cov_type="cluster", cov_kwds={"groups": groups}
    )
    return float(fit.params[0]), float(fit.bse[0])


def _items(pairs: pd.DataFrame) -> pd.Series:
    return pairs["model"].astype(str) + "|" + pairs["task"].astype(str) + "|" + pairs["item_id"].astype(str)


def seed_gaps(rows: pd.DataFrame, variant: str) -> pd.DataFrame:
    """One row per seed: the variant - original error gap (pp) over that seed's pairs, its item-clustered SE and
    normal 95% interval (:data:`SEED_COLUMNS`). Each seed's variant answers are paired with the original's
    answers under the same seed."""
    out = []
    z = scipy_stats.norm.ppf(0.975)
    for seed, group in rows.groupby("seed", sort=True):
        if not {"original", variant} <= set(group["variant"]):
            continue
        pairs = paired_table(group, variant)
        if pairs.empty:
            continue
        gap, se = clustered_mean(_pair_differences(pairs), _items(pairs))
        out.append({
            "variant": variant, "seed": int(seed), "n_pairs": len(pairs), "n_items": _items(pairs).nunique(),
            "gap_pp": 100 * gap, "se_pp": 100 * se, "ci_low": 100 * (gap - z * se), "ci_high": 100 * (gap + z * se),
        })  # fmt: skip
    return pd.DataFrame(out, columns=SEED_COLUMNS)


def pooled_seed_gap(rows: pd.DataFrame, variant: str) -> dict[str, float | int]:
    """The gap pooled over seeds with an interval that includes the between-seed variance (module docstring).

    Returns ``gap_pp``, ``ci_low``, ``ci_high``, ``se_pp``, ``n_seeds``, ``between_seed_sd_pp`` (the SD of the
    seeds' gaps), ``within_se_pp`` (item-clustered, all seeds' pairs clustered by question) and ``df``.
    """
    gaps = seed_gaps(rows, variant)
    k = len(gaps)
    if k == 0:
        nan = float("nan")
        return {"gap_pp": nan, "ci_low": nan, "ci_high": nan, "se_pp": nan, "n_seeds": 0,
                "between_seed_sd_pp": nan, "within_se_pp": nan, "df": nan}  # fmt: skip
    frames = [paired_table(g, variant).assign(seed=s) for s, g in rows.groupby("seed") if s in set(gaps.seed)]
    pairs = pd.concat(frames, ignore_index=True)
    _, within = clustered_mean(_pair_differences(pairs), _items(pairs))
    within_pp = 100 * within
    mean = float(gaps["gap_pp"].mean())
    between = float(gaps["gap_pp"].std(ddof=1)) if k > 1 else float("nan")
    if k > 1:
        se = float(np.sqrt(max(within_pp**2, between**2 / k)))
        quantile, df = float(scipy_stats.t.ppf(0.975, k - 1)), float(k - 1)
    else:
        se, quantile, df = float(gaps["se_pp"].iloc[0]), float(scipy_stats.norm.ppf(0.975)), float("inf")
    return {
        "gap_pp": mean, "ci_low": mean - quantile * se, "ci_high": mean + quantile * se, "se_pp": se,
        "n_seeds": k, "between_seed_sd_pp": between, "within_se_pp": within_pp, "df": df,
    }  # fmt: skip


def seeds_summary(rows: pd.DataFrame, variants: list[str]) -> dict[str, dict]:
    """``{variant: {"per_seed": [...], "pooled": {...}}}`` for ``summary.json``'s ``seeds``."""
    return {
        variant: {
            "per_seed": seed_gaps(rows, variant).to_dict(orient="records"),
            "pooled": pooled_seed_gap(rows, variant),
        }
        for variant in variants
    }


def seeds_verdict(summary: dict[str, dict]) -> str:
    """In words, per variant: the gap's spread over seeds and whether the pooled interval includes zero."""
    sentences = []
    for variant, entry in summary.items():
        per_seed, pooled = entry["per_seed"], entry["pooled"]
        if not per_seed:
            sentences.append(f"{variant}: no seed has paired answers with the original.")
            continue
        gaps = [s["gap_pp"] for s in per_seed]
        alone = sum(1 for s in per_seed if s["ci_low"] > 0 or s["ci_high"] < 0)
        zero = "includes zero" if pooled["ci_low"] <= 0 <= pooled["ci_high"] else "excludes zero"
        sentences.append(
            f"{variant} − original: over {len(per_seed)} seeds the gap ran from {min(gaps):+.1f} to "
            f"{max(gaps):+.1f} pp, and {alone} of the {len(per_seed)} per-seed intervals excluded zero on its own; "
            f"pooled, {pooled['gap_pp']:+.1f} pp (95% CI {pooled['ci_low']:+.1f} to {pooled['ci_high']:+.1f}), "
            f"an interval that {zero}."
        )
    return " ".join(sentences)


def plot_seed_spread(summary: dict[str, dict]) -> Figure:
    """Per-seed gaps with their 95% intervals and the pooled gap (last row), one colour per variant."""
    records = []
    for variant, entry in summary.items():
        for s in entry["per_seed"]:
            records.append(
                {
                    "variant": variant,
                    "draw": f"seed {s['seed']}",
                    **{k: s[k] for k in ("gap_pp", "ci_low", "ci_high")},
                }
            )
        pooled = entry["pooled"]
        if pooled["n_seeds"]:
            records.append({"variant": variant, "draw": "pooled", **{k: pooled[k] for k in ("gap_pp", "ci_low", "ci_high")}})  # fmt: skip
    frame = pd.DataFrame(records, columns=["variant", "draw", "gap_pp", "ci_low", "ci_high"])
    order = sorted(set(frame["draw"]) - {"pooled"}, key=lambda d: int(d.split()[1])) + ["pooled"]
    fig, ax = plt.subplots(figsize=(7, 0.6 * len(order) + 1.6))
    if frame.empty:
        ax.text(0.5, 0.5, "No seed has paired answers with the original.", ha="center", va="center")
        ax.set_axis_off()
        return fig
    long = pd.concat(
        [frame.assign(value=frame[c]) for c in ("ci_low", "gap_pp", "ci_high")], ignore_index=True
    )
    sns.pointplot(
        data=long, x="value", y="draw", hue="variant", order=order, estimator="median", errorbar=("pi", 100),
        palette={v: VARIANT_COLOURS.get(v, "0.6") for v in frame["variant"].unique()},
        dodge=0.4 if frame["variant"].nunique() > 1 else False,  # seaborn divides a dodge by the levels - 1
        linestyle="none", capsize=0.15, ax=ax,
    )  # fmt: skip
    ax.axvline(0, color="0.4", linewidth=1)
    ax.axhline(len(order) - 1.5, color="0.8", linewidth=1)
    ax.set_xlabel("variant − original error rate (pp), 95% interval")
    ax.set_ylabel("")
    fig.tight_layout()
    return fig


def compared_seed_variants(rows: pd.DataFrame) -> list[str]:
    """The variants, other than the original, answered under at least two seeds: those a spread can be shown for."""
    if rows.empty:
        return []
    seeds = rows.groupby("variant")["seed"].nunique()
    return [
        v for v in ALL_VARIANTS if v != "original" and seeds.get(v, 0) > 1 and seeds.get("original", 0) > 1
    ]
