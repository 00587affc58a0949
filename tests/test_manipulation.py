"""The manipulation check: warm vs original and vs cold at the selected checkpoint, paired over prompts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from helpers.validation import ParameterError
from helpers.warmth.manipulation import (
    checkpoint_pairwise_tests,
    manipulation_check,
    manipulation_sentence,
    write_manipulation,
)
from helpers.warmth.sociot import warmth_dir

N_PROMPTS = 48


def _texts(warm_shift: float, cold_shift: float, seed: int = 0) -> pd.DataFrame:
    """sociot_texts.csv rows: every prompt answered by the original, warm (epochs 1, 2) and cold (epoch 2).

    Prompts differ a lot from each other (sd 0.02) and a variant shifts each prompt's score a little (sd 0.003),
    so only a test paired by prompt sees a shift of a few thousandths.
    """
    rng = np.random.default_rng(seed)
    base = rng.normal(0.0, 0.02, N_PROMPTS)
    ids = [f"v{i}" for i in range(N_PROMPTS)]
    parts = [
        ("original", 0.0, base),
        ("warm", 1.0, base + warm_shift / 2 + rng.normal(0, 0.003, N_PROMPTS)),
        ("warm", 2.0, base + warm_shift + rng.normal(0, 0.003, N_PROMPTS)),
        ("cold", 2.0, base + cold_shift + rng.normal(0, 0.003, N_PROMPTS)),
    ]
    return pd.concat(
        [pd.DataFrame({"variant": v, "epoch": e, "prompt_id": ids, "score": s}) for v, e, s in parts],
        ignore_index=True,
    )


def _scores(texts: pd.DataFrame, variant: str, epoch: float) -> np.ndarray:
    rows = texts[(texts["variant"] == variant) & (texts["epoch"] == epoch)]
    return rows.sort_values("prompt_id")["score"].to_numpy()


def test_warm_minus_original_is_a_paired_t_test_over_prompts_with_its_95_percent_interval():
    texts = _texts(warm_shift=0.004, cold_shift=-0.002)
    _, summary = manipulation_check(texts, selected_checkpoint=2)
    warm, original = _scores(texts, "warm", 2.0), _scores(texts, "original", 0.0)
    expected = stats.ttest_rel(warm, original)
    low, high = expected.confidence_interval(0.95)
    assert summary["warm"]["diff"] == pytest.approx((warm - original).mean())
    assert summary["warm"]["ci_low"] == pytest.approx(low) and summary["warm"]["ci_high"] == pytest.approx(
        high
    )
    assert summary["warm"]["p"] == pytest.approx(expected.pvalue)
    assert summary["warm"]["n"] == N_PROMPTS and summary["warm"]["d"] > 0
    assert summary["cold"]["diff"] == pytest.approx((_scores(texts, "cold", 2.0) - original).mean())
    assert summary["cold"]["d"] < 0


def test_the_check_passes_when_warm_beats_original_and_cold_and_says_so_in_words():
    _, summary = manipulation_check(_texts(warm_shift=0.004, cold_shift=-0.002), selected_checkpoint=2)
    assert summary["passed"] is True
    assert summary["warm"]["ci_low"] > 0 and summary["warm_vs_cold"]["ci_low"] > 0
    sentence = manipulation_sentence(summary)
    assert sentence.startswith(
        "The manipulation check passed: at epoch 2 the warm model is warmer than the original"
    )
    assert f"{summary['warm']['diff']:+.4f}" in sentence


def test_the_check_fails_when_the_warm_model_is_colder_than_the_original():
    _, summary = manipulation_check(_texts(warm_shift=-0.004, cold_shift=0.0), selected_checkpoint=2)
    assert summary["passed"] is False
    assert manipulation_sentence(summary).startswith(
        "The check FAILED: at epoch 2 the warm model is not warmer than the original or the cold model"
    )


def test_the_check_fails_when_the_cold_model_is_as_warm_as_the_warm_one():
    _, summary = manipulation_check(_texts(warm_shift=0.004, cold_shift=0.004), selected_checkpoint=2)
    assert summary["warm"]["ci_low"] > 0 and summary["passed"] is False
    assert "not warmer than the cold model with a 95% interval" in manipulation_sentence(summary)


def test_scores_are_paired_by_prompt_id_not_by_row_order():
    texts = _texts(warm_shift=0.004, cold_shift=-0.002)
    _, in_order = manipulation_check(texts, 2)
    _, shuffled = manipulation_check(texts.sample(frac=1, random_state=3), 2)
    for key in ("warm", "cold", "warm_vs_cold"):
        assert shuffled[key] == pytest.approx(in_order[key], rel=1e-9)


def test_checkpoints_are_compared_pairwise_later_minus_earlier_with_benjamini_hochberg():
    texts = _texts(warm_shift=0.004, cold_shift=-0.002)
    warm = checkpoint_pairwise_tests(texts).query("family == 'over checkpoints: warm'")
    assert sorted(zip(warm["a"], warm["b"], strict=True)) == [
        ("warm-epoch-1", "original-epoch-0"),
        ("warm-epoch-2", "original-epoch-0"),
        ("warm-epoch-2", "warm-epoch-1"),
    ]
    row = warm[(warm["a"] == "warm-epoch-2") & (warm["b"] == "original-epoch-0")].iloc[0]
    assert row["diff"] > 0 and row["t"] > 0 and row["effect_size"] > 0
    assert row["p"] == pytest.approx(
        stats.ttest_rel(_scores(texts, "warm", 2.0), _scores(texts, "original", 0.0)).pvalue
    )
    np.testing.assert_allclose(warm["p_fdr"], multipletests(warm["p"], method="fdr_bh")[1])


def test_the_table_holds_the_selected_tests_then_the_pairwise_ones():
    table, summary = manipulation_check(_texts(warm_shift=0.004, cold_shift=-0.002), 2)
    selected = table[table["family"] == "selected checkpoint"]
    assert selected[["a", "b"]].values.tolist() == [
        ["warm-epoch-2", "original-epoch-0"],
        ["cold-epoch-2", "original-epoch-0"],
        ["warm-epoch-2", "cold-epoch-2"],
    ]
    assert selected["diff"].tolist() == [summary[k]["diff"] for k in ("warm", "cold", "warm_vs_cold")]
    assert set(table["family"]) == {"selected checkpoint", "over checkpoints: warm", "over checkpoints: cold"}


def test_a_selected_checkpoint_that_was_not_scored_fails_by_name():
    with pytest.raises(ParameterError) as error:
        manipulation_check(_texts(0.004, 0.0), selected_checkpoint=1.5)
    assert error.value.name == "selected_checkpoint" and "warm-epoch-2" in str(error.value)


def test_the_summary_is_written_as_json():
    _, summary = manipulation_check(_texts(warm_shift=0.004, cold_shift=-0.002), 2)
    path = write_manipulation(summary, "unit", "some-model")
    assert path == warmth_dir("unit", "some-model") / "manipulation.json"
    saved = json.loads(path.read_text())
    assert saved["passed"] is True and set(saved["warm"]) >= {"diff", "ci_low", "ci_high", "p", "d"}
    assert saved == summary
