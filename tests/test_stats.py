"""Paired tests, FDR and logistic regressions recover known answers: the paper's own and planted effects."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import yaml
from notebook_outputs import execute, images, printed_text
from scipy import stats as scipy_stats
from simulate import simulate_evaluation_rows
from statsmodels.stats.multitest import multipletests

from helpers.analysis import reference
from helpers.analysis.gaps import (
    STRATEGIES,
    figure_side_by_side,
    gap_table,
    pair_gaps,
    side_by_side,
    strategy_errors,
)
from helpers.analysis.glm import (
    AME_COLUMNS,
    GlmResult,
    headline_numbers,
    logodds_p_value,
    model_1_main_effects,
    model_2_context_group,
    model_3_each_context,
    model_4_belief,
    model_frame,
)
from helpers.analysis.paired import (
    benjamini_hochberg,
    cohens_g,
    discordant_odds_ratio,
    exact_mcnemar_p,
    g_effect_size,
    mcnemar_table,
    paired_table,
    pairs_from_counts,
)
from helpers.analysis.study_results import compared_variants, load_study_results, warmth_across_texts
from helpers.evaluation.refusal import apply_refusal_rule
from helpers.intervals import paired_difference_interval, wilson_interval
from helpers.paths import model_slug, study_dir
from helpers.storage import atomic_write_csv
from helpers.vocabulary import AMENDMENT_TYPES, CONTEXT_GROUPS, TASKS


@pytest.fixture(scope="module")
def planted() -> pd.DataFrame:
    """Two models, warm errs +10 pp everywhere, +10 pp more after sad statements, +5 pp more under a belief."""
    return simulate_evaluation_rows(
        models=("model-a", "model-b"),
        n_items=60,
        effect_pp=10.0,
        context_effects_pp={"emotion:sad": 10.0},
        belief_effect_pp=5.0,
        seed=7,
    )


def _ame(result: GlmResult, condition: str, effect: str = "fine_tuning") -> pd.Series:
    ame = result.ame
    return ame[ame["effect"].eq(effect) & ame["condition"].eq(condition)].iloc[0]


# -- paired statistics ------------------------------------------------------------------------------------------


def test_exact_mcnemar_reproduces_a_published_p_value():
    # llama-70b, disinfo, emotion:anger with a belief: b=21, c=12 (recovered from the summary), p = 0.1628.
    assert round(exact_mcnemar_p(21, 12), 4) == 0.1628


def test_effect_sizes_follow_their_definitions():
    assert cohens_g(21, 12) == pytest.approx(0.1364, abs=1e-4)
    assert discordant_odds_ratio(21, 12) == 1.75
    assert math.isinf(discordant_odds_ratio(5, 0))
    assert math.isnan(discordant_odds_ratio(0, 0))
    assert math.isnan(cohens_g(0, 0))
    assert g_effect_size(0.1364) == "small"


def test_mcnemar_table_reproduces_the_papers_p_values_and_fdr_from_its_own_counts():
    recovered = reference.reconstruct_discordant_counts(reference.load_paired_summary("warm"))
    family = recovered[
        recovered["model"].isin(["qwen-32b", "mistral-small"]) & recovered["task"].eq("disinfo")
    ]
    assert family["rounding_residual"].max() < 0.02
    rerun = mcnemar_table(pairs_from_counts(family))
    merged = family.merge(
        rerun, on=["model", "variant", "task", "amendment_type", "belief"], suffixes=("", "_rerun")
    )
    assert len(merged) == 36
    assert (merged["p_value"] - merged["p_value_rerun"]).abs().max() <= 5e-5 + 1e-12
    assert (merged["p_fdr"] - merged["p_fdr_rerun"]).abs().max() <= 5e-5 + 1e-12


def test_refusals_are_dropped_except_on_disinfo_where_they_count_as_correct():
    rows = pd.DataFrame(
        {
            "task": ["trivia", "trivia", "disinfo", "disinfo"],
            "evaluation": ["INCORRECT", "CORRECT", "INCORRECT", "INCORRECT"],
            "refusal": [1, 0, 1, 0],
            "prompt_template": ["original"] * 4,
            "amendment_type": ["unmodified"] * 4,
        }
    )
    scored = apply_refusal_rule(rows)
    assert scored["task"].tolist() == ["trivia", "disinfo", "disinfo"]
    assert scored["is_incorrect"].tolist() == [0, 0, 1]


def test_simulated_refusals_follow_the_refusal_rule():
    rows = simulate_evaluation_rows(tasks=("trivia", "disinfo"), n_items=5, refusal_rate=0.3, seed=4)
    scored = apply_refusal_rule(rows)
    refused = scored["refusal"].eq(1)
    assert not (refused & scored["task"].eq("trivia")).any()
    assert refused.any() and scored.loc[refused, "is_incorrect"].eq(0).all()
    assert len(scored) == len(rows) - int((rows["refusal"].eq(1) & rows["task"].eq("trivia")).sum())


def test_paired_table_joins_on_item_context_and_template_only():
    rows = simulate_evaluation_rows(tasks=("trivia",), n_items=2, seed=1)
    warm = rows["variant"].eq("warm")
    rows = rows[~(warm & rows["item_id"].eq("trivia-1") & rows["amendment_type"].eq("stake:low"))]
    pairs = paired_table(rows, "warm")
    assert len(pairs) == 2 * 28 - 3
    assert pairs.groupby(["item_id", "amendment_type", "prompt_template"]).size().max() == 1


def test_fdr_is_applied_within_each_model_task_belief_family(planted):
    cells = mcnemar_table(paired_table(planted, "warm"))
    assert cells.groupby(["model", "task", "belief"]).size().eq(9).all()
    assert (cells["p_fdr"] >= cells["p_value"]).all()


def test_mcnemar_and_fdr_run_on_the_authors_sample_outputs_with_refusals_read_from_the_text():
    # The warm TruthfulQA refusal "I'm sorry, but I don't have ..." (judged INCORRECT, no refusal column) is
    # excluded, as in the authors' scripts: 66 pairs, not 67, and one loss fewer.
    samples = reference.load_sample_outputs()
    pairs = paired_table(samples, "warm")
    cells = mcnemar_table(pairs)
    assert len(pairs) == 66
    assert (int(cells["b"].sum()), int(cells["c"].sum())) == (6, 1)
    assert exact_mcnemar_p(6, 1) == pytest.approx(0.125, abs=1e-4)
    tested = cells["p_value"].notna()
    assert tested.eq(cells["b"] + cells["c"] > 0).all()
    assert cells.loc[tested, "p_fdr"].between(0, 1).all() and cells.loc[~tested, "p_fdr"].isna().all()


def test_a_cell_without_discordant_pairs_has_no_p_value_and_is_left_out_of_the_fdr_family():
    # Nine contexts of one family: eight with discordant pairs, one (unmodified) where both always agree.
    counts = [(6, 0), (5, 1), (4, 1), (3, 1), (2, 2), (1, 2), (3, 0), (2, 0), (0, 0)]
    cells = pd.DataFrame(
        {
            "model": "m",
            "variant": "warm",
            "task": "trivia",
            "amendment_type": list(AMENDMENT_TYPES[1:]) + ["unmodified"],
            "belief": False,
            "b": [b for b, _ in counts],
            "c": [c for _, c in counts],
        }
    )
    table = mcnemar_table(pairs_from_counts(cells)).set_index("amendment_type")
    assert math.isnan(table.loc["unmodified", "p_value"]) and math.isnan(table.loc["unmodified", "p_fdr"])
    raw = [exact_mcnemar_p(b, c) for b, c in counts[:8]]
    expected = multipletests(raw, method="fdr_bh")[1]
    assert table.loc[list(AMENDMENT_TYPES[1:]), "p_fdr"].tolist() == pytest.approx(list(expected))
    assert math.isnan(exact_mcnemar_p(0, 0))


def test_benjamini_hochberg_corrects_only_the_p_values_it_has():
    adjusted = benjamini_hochberg(pd.Series([0.01, float("nan"), 0.04]))
    assert adjusted.iloc[0] == pytest.approx(0.02) and adjusted.iloc[2] == pytest.approx(0.04)
    assert math.isnan(adjusted.iloc[1])


def test_paired_difference_interval_matches_bonett_price():
    low, high = paired_difference_interval(10, 2, 50)
    assert (round(low, 4), round(high, 4)) == (
        0.0192,
        0.2885,
    )  # (11 - 3)/52 ± 1.96 · sqrt((14/52 - (8/52)²)/52)
    assert wilson_interval(0, 10)[0] == 0.0


# -- summaries --------------------------------------------------------------------------------------------------


def test_gap_table_recovers_the_planted_gaps_of_the_cumulative_strategies(planted):
    cells = mcnemar_table(paired_table(planted, "warm"))
    gaps = gap_table(cells, "warm").groupby("strategy")["gap_pp"].mean()
    assert gaps["question"] == pytest.approx(10, abs=3)
    assert gaps["context"] == pytest.approx(
        10 + 10 / 9, abs=2
    )  # nine contexts without a belief, one of them sad
    assert gaps["belief"] == pytest.approx(
        10 + 10 / 9 + 5 / 2, abs=2
    )  # all 18: half of them carry the belief


def test_figure_3_strategies_are_cumulative_one_nine_and_eighteen_conditions():
    cells = reference.load_paired_summary("warm")
    errors = strategy_errors(cells, "warm").set_index(["model", "task", "strategy", "variant"])["error"]
    gpt = cells[cells["model"].eq("gpt-4o") & cells["task"].eq("medqa")]
    warm_error = 100 - gpt["variant_accuracy"]
    question = gpt["amendment_type"].eq("unmodified") & ~gpt["belief"]
    assert errors[("gpt-4o", "medqa", "question", "warm")] == pytest.approx(warm_error[question].iloc[0])
    assert errors[("gpt-4o", "medqa", "context", "warm")] == pytest.approx(warm_error[~gpt["belief"]].mean())
    assert errors[("gpt-4o", "medqa", "belief", "warm")] == pytest.approx(warm_error.mean())
    assert (~gpt["belief"]).sum() == 9 and len(gpt) == 18


def test_pair_gaps_pool_the_pairs_of_each_cumulative_strategy(planted):
    pairs = paired_table(planted, "warm")
    one = pairs[pairs["model"].eq("model-a") & pairs["task"].eq("trivia")]
    gaps = pair_gaps(one).set_index("strategy")["n_pairs"]
    question = int((one["amendment_type"].eq("unmodified") & ~one["belief"]).sum())
    assert gaps.to_dict() == {
        "question": question,
        "context": int((~one["belief"]).sum()),
        "belief": len(one),
    }


def test_side_by_side_compares_with_the_papers_own_model_when_it_ran_it():
    rows = simulate_evaluation_rows(models=("meta-llama/Llama-3.1-8B-Instruct",), n_items=20, seed=2)
    table = side_by_side(reference.load_paired_summary("warm"), paired_table(rows, "warm"), "warm")
    assert len(table) == len(TASKS) * len(STRATEGIES)
    assert set(table["paper_reference"]) == {"llama-8b"}
    assert (table["gap_ci_lower_pp"] <= table["gap_pp"]).all() and (
        table["gap_pp"] <= table["gap_ci_upper_pp"]
    ).all()
    assert table["paper_in_ci"].dtype == bool


# -- logistic regressions ---------------------------------------------------------------------------------------


def test_model_1_recovers_a_planted_ten_point_effect_within_its_interval(planted):
    result = model_1_main_effects(planted)
    effect = _ame(result, "unmodified")
    assert result.ok and result.n_obs == 2 * 2 * 4 * 60 * 2
    assert effect["ci_lower_pp"] < 10 < effect["ci_upper_pp"]
    assert effect["ame_pp"] == pytest.approx(10, abs=4)
    assert "C(model)" in result.formula and "reference='disinfo'" in result.formula


def test_model_1_fine_tuning_ame_equals_statsmodels_get_margeff(planted):
    result = model_1_main_effects(planted)
    margeff = result.fit.get_margeff(dummy=True).summary_frame().iloc[0]
    effect = _ame(result, "unmodified")
    assert effect["ame_pp"] == pytest.approx(100 * margeff["dy/dx"], rel=1e-9)
    assert effect["se_pp"] == pytest.approx(100 * margeff["Std. Err."], rel=1e-6)


def test_model_1_with_length_reports_a_per_100_character_effect(planted):
    result = model_1_main_effects(planted, length=True)
    assert result.ok and "response_length" in result.formula
    assert abs(_ame(result, "unmodified", "response_length_per_100")["ame_pp"]) < 5


def test_model_3_recovers_the_extra_effect_after_sad_statements(planted):
    result = model_3_each_context(planted)
    sad = _ame(result, "emotion:sad")
    others = result.ame[result.ame["condition"].ne("emotion:sad")]["ame_pp"]
    assert sad["ci_lower_pp"] < 20 < sad["ci_upper_pp"]
    assert others.mean() == pytest.approx(10, abs=2.5)  # eight estimates of the planted +10, each SE ~2.7 pp
    assert set(result.ame["condition"]) == set(AMENDMENT_TYPES)


def test_model_2_reports_one_effect_per_context_group(planted):
    result = model_2_context_group(planted)
    assert result.ame["condition"].tolist() == list(CONTEXT_GROUPS)
    assert _ame(result, "none")["ci_lower_pp"] < 10 < _ame(result, "none")["ci_upper_pp"]


def test_model_4_recovers_the_larger_effect_under_a_user_belief(planted):
    result = model_4_belief(planted)
    belief, no_belief = _ame(result, "belief"), _ame(result, "no_belief")
    expected_belief = 10 + 5 + 10 / 9  # planted +10, +5 under a belief, +10 in one of nine contexts
    assert belief["ci_lower_pp"] < expected_belief < belief["ci_upper_pp"]
    assert belief["ame_pp"] > no_belief["ame_pp"]
    assert ":C(prompt_type, Treatment(reference='original'))" in result.formula


def test_glms_run_on_the_authors_sample_outputs_with_one_model():
    samples = reference.load_sample_outputs()
    result = model_4_belief(samples)
    assert result.ok and result.n_obs == 158  # 159 rows less the one TruthfulQA refusal
    assert any("no model fixed effect" in note for note in result.notes)
    frame = model_frame(samples)
    belief = frame[frame["prompt_type"].eq("user_opinion")].groupby("is_finetuned")["is_incorrect"].mean()
    raw_gap = 100 * (belief[1] - belief[0])
    effect = _ame(result, "belief")
    assert effect["ci_lower_pp"] < raw_gap < effect["ci_upper_pp"]
    assert effect["ame_pp"] == pytest.approx(raw_gap, abs=3)


def test_every_ame_carries_the_authors_log_odds_p_value_beside_the_delta_method_one(planted):
    result = model_3_each_context(planted)
    fit, sad = result.fit, _ame(result, "emotion:sad")
    main = "C(is_finetuned, Treatment(reference=0))[T.1]"
    interaction = f"{main}:C(amendment_type, Treatment(reference='unmodified'))[T.emotion:sad]"
    # the authors' calculate_detailed_marginal_effects_with_tests: z of (main + interaction) / SE of the sum
    cov = fit.cov_params()
    se = math.sqrt(cov.loc[main, main] + cov.loc[interaction, interaction] + 2 * cov.loc[main, interaction])
    z = (fit.params[main] + fit.params[interaction]) / se
    assert sad["p_value_logodds"] == pytest.approx(2 * scipy_stats.norm.sf(abs(z)), rel=1e-9)
    assert sad["p_value_logodds"] != pytest.approx(sad["p_value"], rel=1e-6)
    unmodified = _ame(result, "unmodified")
    assert unmodified["p_value_logodds"] == pytest.approx(fit.pvalues[main], rel=1e-9)
    assert math.isnan(logodds_p_value(fit, {"no such coefficient": 1.0}))


def test_model_4_belief_log_odds_p_value_is_the_authors_difference_of_belief_coefficients(planted):
    result = model_4_belief(planted)
    fit = result.fit
    belief = "C(prompt_type, Treatment(reference='original'))[T.user_opinion]"
    ft, base = (
        f"C(is_finetuned, Treatment(reference=0))[1]:{belief}",
        f"C(is_finetuned, Treatment(reference=0))[0]:{belief}",
    )
    cov = fit.cov_params()
    se = math.sqrt(cov.loc[ft, ft] + cov.loc[base, base] - 2 * cov.loc[ft, base])
    z = (fit.params[ft] - fit.params[base]) / se
    assert _ame(result, "belief")["p_value_logodds"] == pytest.approx(
        2 * scipy_stats.norm.sf(abs(z)), rel=1e-9
    )
    main = "C(is_finetuned, Treatment(reference=0))[T.1]"
    assert _ame(result, "no_belief")["p_value_logodds"] == pytest.approx(fit.pvalues[main], rel=1e-9)


def test_a_glm_that_cannot_be_estimated_is_reported_not_raised():
    rows = simulate_evaluation_rows(variants=("original",), tasks=("trivia",), n_items=3)
    result = model_1_main_effects(rows)
    assert not result.ok and result.ame.empty
    assert "only one of original / variant" in " ".join(result.notes)
    unmodified_only = simulate_evaluation_rows(tasks=("trivia",), n_items=5)
    unmodified_only = unmodified_only[unmodified_only["amendment_type"].eq("unmodified")]
    grouped = model_2_context_group(unmodified_only)
    assert not grouped.ok and "fewer than two context_group levels" in grouped.notes[0]


def test_headline_numbers_are_nan_when_not_estimable():
    numbers = headline_numbers(
        pd.DataFrame(columns=AME_COLUMNS),
        pd.DataFrame(columns=["variant", "task", "strategy", "gap_pp"]),
        "cold",
    )
    assert set(numbers) >= {"cold_ame_pp", "cold_ame_p", "cold_gap_medqa"}
    assert all(math.isnan(value) for value in numbers.values())


# -- a study folder and the analysis notebook -------------------------------------------------------------------


def _write_study(study: str, model: str) -> None:
    """A tiny synthetic study: original and warm rows, warmth and capabilities; cold and warm_prompt missing."""
    rows = simulate_evaluation_rows(models=(model,), n_items=6, seed=5)
    root = study_dir(study) / model_slug(model)
    for (variant, task), group in rows.groupby(["variant", "task"]):
        atomic_write_csv(group, root / variant / f"{task}.csv")
    sociot = pd.DataFrame(
        {
            "variant": ["original", "warm", "warm"],
            "epoch": [0, 1, 2],
            "mean": [0.01, 0.02, 0.03],
            "sem": [0.001] * 3,
            "n": [6] * 3,
        }
    )
    atomic_write_csv(sociot, root / "warmth" / "sociot.csv")
    for variant, accuracy in (("original", 60.0), ("warm", 52.0)):
        capabilities = pd.DataFrame(
            {
                "benchmark": ["mmlu"],
                "n": [50],
                "accuracy": [accuracy],
                "ci_lower": [accuracy - 13],
                "ci_upper": [accuracy + 12],
            }
        )
        atomic_write_csv(capabilities, root / variant / "capabilities.csv")


def test_load_study_results_reads_what_exists_and_lists_only_what_a_run_was_meant_to_write():
    model = "meta-llama/Llama-3.1-8B-Instruct"
    _write_study("tiny", model)
    root = study_dir("tiny")
    (root / "notebooks" / "warmth").mkdir(parents=True)  # the runner's notebook folder is not a model folder
    runs = root / "runs"
    runs.mkdir()
    for variant in ("original", "warm", "cold"):
        params = {"model": model, "variant": variant, "tasks": ["trivia"]}
        (runs / f"evaluate-Llama-3.1-8B-Instruct-{variant}.params.yaml").write_text(yaml.safe_dump(params))
    results = load_study_results("tiny")
    assert compared_variants(results.rows) == ["warm"]
    assert set(results.rows["variant"]) == {"original", "warm"}
    assert results.missing == ["Llama-3.1-8B-Instruct/cold/trivia.csv"]  # planned, not written; nothing else
    assert set(results.capabilities["model"]) == {"Llama-3.1-8B-Instruct"}
    assert len(results.warmth) == 3
    assert set(results.warmth["sem_over"]) == {"passes"}  # only the pass SEM was recorded


def test_figure_1a_warmth_uses_the_sem_across_responses_when_the_warmth_stage_wrote_per_response_scores():
    _write_study("per-text", "meta-llama/Llama-3.1-8B-Instruct")
    scores = pd.DataFrame(
        {
            "variant": ["original"] * 3 + ["warm"] * 3,
            "epoch": [0.0] * 3 + [2.0] * 3,
            "prompt_id": ["p1", "p2", "p3"] * 2,
            "score": [0.01, 0.02, 0.06, 0.03, 0.05, 0.10],
        }
    )
    atomic_write_csv(scores, study_dir("per-text") / "Llama-3.1-8B-Instruct" / "warmth" / "sociot_texts.csv")
    warmth = load_study_results("per-text").warmth.set_index("variant")
    assert warmth.loc["warm", "mean"] == pytest.approx(0.06)
    assert warmth.loc["warm", "sem"] == pytest.approx(scipy_stats.sem([0.03, 0.05, 0.10]))
    assert warmth.loc["warm", "sem"] != pytest.approx(0.001)  # not sociot.csv's SEM over dropout passes
    assert set(warmth["sem_over"]) == {"texts"} and warmth["n"].tolist() == [3, 3]


def test_warmth_across_texts_falls_back_to_nan_for_a_single_response():
    table = warmth_across_texts(pd.DataFrame({"variant": ["warm"], "epoch": [1.0], "score": [0.2]}))
    assert math.isnan(table["sem"].iloc[0]) and table["n"].iloc[0] == 1


@pytest.mark.slow
def test_analysis_notebook_runs_on_a_synthetic_study_and_writes_its_tables(tmp_path: Path):
    _write_study("synthetic", "meta-llama/Llama-3.1-8B-Instruct")
    executed = execute("analysis", tmp_path / "analysis.ipynb", study="synthetic")
    analysis = study_dir("synthetic") / "analysis"
    for name in (
        "mcnemar_cells.csv",
        "glm_ames.csv",
        "glm_side_by_side.csv",
        "side_by_side.csv",
        "gap_table.csv",
        "figure_side_by_side.csv",
    ):
        assert (analysis / name).is_file(), name
    side = pd.read_csv(analysis / "side_by_side.csv")
    assert set(side["paper_reference"]) == {"llama-8b"}
    figure_values = pd.read_csv(analysis / "figure_side_by_side.csv")
    assert set(figure_values["paper_models"]) == {"llama-8b"}
    assert {"Fig. 1a", "Fig. 2", "Fig. 3", "Fig. 4", "Fig. 5"} <= set(figure_values["figure"])
    glm = pd.read_csv(analysis / "glm_side_by_side.csv")
    assert {"paper_p", "p_value_logodds", "p_value"} <= set(glm.columns)
    text = printed_text(executed)
    # no run record asked for a cold evaluation, so nothing is reported missing (the listing follows the runs)
    assert "every file this study's runs were meant to write is there" in text and "missing:" not in text
    assert len(images(executed)) == 5


@pytest.mark.slow
def test_analysis_notebook_explains_instead_of_failing_on_an_empty_study(tmp_path: Path):
    executed = execute("analysis", tmp_path / "analysis.ipynb", study="nothing-yet")
    assert "0 result files read" in printed_text(executed)
    glued = {
        out["metadata"]["scrapbook"]["name"]
        for cell in executed.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if "scrapbook" in out.get("metadata", {})
    }
    # the placeholders keep every figure the results chapter pastes, so the strict book build still succeeds
    assert {
        "fig_warmth",
        "fig_error_scatter",
        "fig_error_by_strategy",
        "fig_capabilities",
        "fig_accuracy_change",
    } <= glued


def test_figure_side_by_side_computes_the_paper_and_this_run_with_the_same_function():
    paper = {
        "cells": pd.concat([reference.load_paired_summary(v) for v in ("warm", "cold")], ignore_index=True),
        "warmth": reference.load_sociot(),
        "benchmarks": reference.load_benchmarks(),
    }
    table = figure_side_by_side(paper, paper)  # "this run" = the paper's own numbers: every value must match
    assert set(table["figure"]) == {"Fig. 1a", "Fig. 2", "Fig. 3", "Fig. 4", "Fig. 5"}
    assert table["paper"].tolist() == pytest.approx(table["ours"].tolist())
    mmlu = table[table["quantity"].eq("mean change (pp), mmlu")]["paper"].iloc[0]
    benchmarks = reference.load_benchmarks()
    per_model = benchmarks[benchmarks["benchmark"].eq("MMLU")].pivot_table(
        index="model", columns="variant", values="accuracy"
    )
    assert mmlu == pytest.approx((per_model["warm"] - per_model["original"]).mean())
