"""Item-clustered errors and random item intercepts: planted clustering and effects are found, verdicts follow."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats
from simulate import simulate_evaluation_rows

from helpers.analysis.glm import average_marginal_effect, model_1_main_effects, model_4_belief
from helpers.analysis.robustness import (
    CONTRASTS,
    DESIGN_COLUMNS,
    METHODS,
    TABLE_COLUMNS,
    clustered_fit,
    design_effects,
    fitted_rows,
    intraclass_correlation,
    item_keys,
    robustness_summary,
    robustness_table,
    robustness_verdict,
)

MODEL_1 = (CONTRASTS[0],)


def clustered_rows(
    *,
    n_items: int,
    answers: int,
    item_sd: float,
    effect_sd: float,
    effect: float,
    tasks: tuple[str, ...] = ("trivia", "medqa"),
    base: float = -1.0,
    seed: int = 0,
) -> tuple[pd.DataFrame, float]:
    """Unmodified-prompt rows (model 1's) where every item is answered ``answers`` times by each variant.

    Item ``i`` errs with log-odds ``base + a_i`` for the original and ``base + a_i + b_i`` for the warm model;
    ``a_i`` (SD ``item_sd``: the item's difficulty, shared) and ``b_i`` (mean ``effect``, SD ``effect_sd``: the
    item's own warm effect) are normal quantiles in random order, so their spread is exactly the one asked for.
    Returns the rows and the true AME over these items, the mean of p(warm) - p(original).
    """
    rng = np.random.default_rng(seed)
    quantiles = scipy_stats.norm.ppf((np.arange(n_items) + 0.5) / n_items)
    records, truth = [], []
    for task in tasks:
        difficulty = base + item_sd * rng.permutation(quantiles)
        warm_effect = effect + effect_sd * rng.permutation(quantiles)
        for item, (a, b) in enumerate(zip(difficulty, warm_effect, strict=True)):
            truth.append(1 / (1 + np.exp(-(a + b))) - 1 / (1 + np.exp(-a)))
            for variant, shift in (("original", 0.0), ("warm", b)):
                wrong = rng.random(answers) < 1 / (1 + np.exp(-(a + shift)))
                records += [
                    {
                        "model": "synthetic-model",
                        "variant": variant,
                        "task": task,
                        "item_id": f"{task}-{item}",
                        "prompt_template": ("original", "original_neutral")[k % 2],
                        "amendment_type": "unmodified",
                        "evaluation": "INCORRECT" if w else "CORRECT",
                        "refusal": 0,
                        "output": "answer",
                        "response_length": 6,
                    }  # fmt: skip
                    for k, w in enumerate(wrong)
                ]
    return pd.DataFrame.from_records(records), 100 * float(np.mean(truth))


@pytest.fixture(scope="module")
def planted() -> tuple[pd.DataFrame, float]:
    """Moderately hard items (SD 1) answered 8 times by each variant, a warm effect of +0.6 log-odds."""
    return clustered_rows(n_items=80, answers=8, item_sd=1.0, effect_sd=0.0, effect=0.6)


@pytest.fixture(scope="module")
def planted_table(planted) -> pd.DataFrame:
    return robustness_table(planted[0], contrasts=MODEL_1)


def test_items_with_their_own_warm_effect_widen_the_clustered_interval():
    rows, _ = clustered_rows(n_items=30, answers=20, item_sd=2.0, effect_sd=1.0, effect=0.4)
    table = robustness_table(rows, contrasts=MODEL_1)
    row = table.iloc[0]
    assert row["clustered_se_pp"] > 1.1 * row["plain_se_pp"]
    assert row["design_effect"] > 1.2
    assert (design_effects(rows, contrasts=MODEL_1)["design_effect"] > 1).all()


def test_shared_item_difficulty_alone_is_absorbed_by_pairing():
    """Both variants answer every item: a difficulty they share cancels in the difference (Miller 2024, paired differences),
    so clustering narrows the interval, while Kish's form for a mean error rate would inflate it."""
    rows, _ = clustered_rows(n_items=30, answers=20, item_sd=2.0, effect_sd=0.0, effect=0.4)
    design = design_effects(rows, contrasts=MODEL_1)
    assert (design["design_effect"] < 1).all()
    assert (design["kish_design_effect"] > 5).all()
    assert (design["icc"] > 0.25).all()


def test_independent_items_have_a_design_effect_near_one():
    rows, _ = clustered_rows(
        n_items=600, answers=1, item_sd=0.0, effect_sd=0.0, effect=0.4, tasks=("trivia",)
    )
    design = design_effects(rows, contrasts=MODEL_1)
    assert design["rows_per_item"].iloc[0] == 2
    assert design["design_effect"].iloc[0] == pytest.approx(1.0, abs=0.15)
    assert design["icc"].iloc[0] == pytest.approx(0.0, abs=0.1)


def test_a_planted_effect_is_recovered_by_all_three_methods(planted, planted_table):
    _, truth = planted
    row = planted_table.iloc[0]
    for method in METHODS:
        assert row[f"{method}_ame_pp"] == pytest.approx(truth, abs=3.0), method
        assert row[f"{method}_ci_low_pp"] < truth < row[f"{method}_ci_high_pp"], method
    assert row["item_sd"] == pytest.approx(1.0, abs=0.35)


def test_the_plain_column_is_glm_py_model_1(planted, planted_table):
    own = model_1_main_effects(planted[0]).ame.set_index("effect").loc["fine_tuning"]
    row = planted_table.iloc[0]
    assert row["plain_ame_pp"] == pytest.approx(own["ame_pp"])
    assert row["plain_ci_low_pp"] == pytest.approx(own["ci_lower_pp"])
    assert row["plain_ci_high_pp"] == pytest.approx(own["ci_upper_pp"])
    assert row["n_obs"] == own["n_obs"] and row["n_items"] == 160


def test_statsmodels_margeff_uses_the_clustered_covariance(planted):
    rows, _ = planted
    plain = model_1_main_effects(rows)
    clustered = clustered_fit(plain, item_keys(rows, plain))
    margeff = clustered.get_margeff(dummy=True)
    column = list(clustered.model.exog_names).index("C(is_finetuned, Treatment(reference=0))[T.1]") - 1
    ame, se = average_marginal_effect(clustered, fitted_rows(plain))
    assert margeff.margeff[column] == pytest.approx(ame, rel=1e-6)
    assert margeff.margeff_se[column] == pytest.approx(se, rel=1e-4)
    assert se != pytest.approx(average_marginal_effect(plain.fit, fitted_rows(plain))[1], rel=0.02)


def test_verdict_says_changes_when_clustering_removes_significance():
    rows, _ = clustered_rows(
        n_items=20, answers=30, item_sd=1.0, effect_sd=1.5, effect=0.35, tasks=("trivia",)
    )
    table = robustness_table(rows, contrasts=MODEL_1)
    row = table.iloc[0]
    assert row["plain_verdict"] == "increase" and row["clustered_verdict"] == "no clear effect"
    assert row["conclusion_changes"]
    sentence = robustness_verdict(table)
    assert "changes the conclusion for 1 of 1" in sentence
    assert "no clear effect with item-clustered standard errors" in sentence


def test_verdict_says_no_change_when_the_methods_agree(planted_table):
    assert not planted_table["conclusion_changes"].any()
    sentence = robustness_verdict(planted_table)
    assert "does not change the conclusion for any of the 1" in sentence
    assert "an increase" in sentence


def test_model_4_contrasts_follow_glm_py_and_fill_the_summary():
    rows = simulate_evaluation_rows(tasks=("trivia", "medqa"), n_items=6, seed=3)
    table = robustness_table(rows)
    assert list(table.columns) == TABLE_COLUMNS
    assert list(table["label"]) == ["model_1", "model_4_no_belief", "model_4_belief"]
    own = model_4_belief(rows).ame.set_index("condition")
    for condition in ("no_belief", "belief"):
        row = table.set_index("contrast").loc[condition]
        assert row["plain_ame_pp"] == pytest.approx(own.loc[condition, "ame_pp"])
        assert np.isfinite([row["clustered_se_pp"], row["mixed_se_pp"], row["design_effect"]]).all()
    design = design_effects(rows)
    assert list(design.columns) == DESIGN_COLUMNS and len(design) == 3 * 2
    summary = robustness_summary(table, design)
    assert set(summary) == {"model_1", "model_4_no_belief", "model_4_belief"}
    entry = summary["model_4_belief"]
    assert set(entry) == {
        "glm", "contrast", "plain", "clustered", "mixed", "conclusion_changes", "design_effect",
        "kish_design_effect",
    }  # fmt: skip
    assert set(entry["plain"]) == {"ame", "ci_low", "ci_high"}
    assert set(entry["design_effect"]) == {"trivia", "medqa"}


def test_a_model_that_cannot_be_fitted_reads_not_estimated():
    rows = simulate_evaluation_rows(variants=("original",), tasks=("trivia",), n_items=3)
    table = robustness_table(rows, contrasts=MODEL_1)
    assert table["plain_verdict"].iloc[0] == "not estimated" and not table["conclusion_changes"].iloc[0]
    assert "could not be run" in robustness_verdict(table)


def test_intraclass_correlation_of_identical_and_unrelated_groups():
    groups = np.repeat(np.arange(50), 4)
    assert intraclass_correlation(groups.astype(float), groups) == pytest.approx(1.0)
    noise = np.random.default_rng(0).normal(size=len(groups))
    assert intraclass_correlation(noise, groups) == pytest.approx(0.0, abs=0.15)



def test_a_glm_with_one_item_gives_plain_numbers_and_a_note_instead_of_dividing_by_zero():
    """statsmodels' cluster factor G/(G-1) divides by zero with one item (the demo once kept one per task)."""
    rows, _ = clustered_rows(n_items=1, answers=40, item_sd=0.0, effect_sd=0.0, effect=1.0, tasks=("trivia",))
    table = robustness_table(rows, "warm")
    assert table["notes"].str.contains("clustered errors not estimated").any()
    assert table["plain_ame_pp"].notna().any() and table["clustered_ame_pp"].isna().all()
    assert design_effects(rows, "warm")["design_effect"].isna().all()
