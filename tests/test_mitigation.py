"""The mitigation arms: planted effects recovered, intervals that cover them, and ask rows kept out of the paper's
analyses."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from helpers.analysis.glm import model_1_main_effects, model_4_belief, model_frame  # noqa: E402
from helpers.analysis.mitigation import (  # noqa: E402
    mitigation_frame,
    mitigation_summary,
    mitigation_verdict,
    plot_mitigation,
)
from helpers.analysis.paired import mcnemar_table, paired_table  # noqa: E402
from helpers.evaluation.refusal import apply_refusal_rule  # noqa: E402
from helpers.vocabulary import ALL_TEMPLATES, TASKS  # noqa: E402

CONTEXTS = ("unmodified", "emotion:sad")
#: Error probabilities per variant and template: the warm model errs 10 pp more on plain questions and 20 pp
#: more with a stated belief; candid has half the warm model's increase; ask changes nothing.
BASE = {"original": 0.2, "incorrect": 0.3}


def simulate(
    n_items: int, candid_share: float = 0.5, ask_shift_pp: float = 0.0, seed: int = 0
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    increase = {"original": 0.0, "warm": 1.0, "candid": candid_share}
    records = []
    for variant, share in increase.items():
        for task in TASKS:
            for item in range(n_items):
                for context in CONTEXTS:
                    for template in ("original", "incorrect", "ask"):
                        stated = "incorrect" if template == "ask" else template
                        error = BASE[stated] + share * (0.10 if stated == "original" else 0.20)
                        error += ask_shift_pp / 100 if template == "ask" else 0.0
                        records.append(
                            {
                                "model": "synthetic", "variant": variant, "task": task, "item_id": f"{task}-{item}",
                                "amendment_type": context, "prompt_template": template, "refusal": 0,
                                "evaluation": "INCORRECT" if rng.random() < error else "CORRECT",
                                "output": "an answer", "response_length": 9,
                            }
                        )  # fmt: skip
    return pd.DataFrame(records)


def simulate_warmth(candid_mean: float, n: int = 64, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    prompt_effect = rng.normal(0, 0.004, n)  # prompts differ, the same way for every model: pairing matters
    means = {("original", 0.0): 0.010, ("warm", 2.0): 0.028, ("candid", 2.0): candid_mean}
    return pd.DataFrame(
        [
            {
                "variant": v,
                "epoch": e,
                "prompt_id": f"p{i}",
                "score": mean + prompt_effect[i] + rng.normal(0, 0.003),
            }
            for (v, e), mean in means.items()
            for i in range(n)
        ]
    )


@pytest.fixture(scope="module")
def planted() -> dict:
    return mitigation_summary(simulate(n_items=200, seed=1), simulate_warmth(candid_mean=0.024))


def covers(gap: dict, value: float) -> bool:
    return gap["ci_low_pp"] <= value <= gap["ci_high_pp"]


def test_candid_with_half_the_warm_increase_cuts_the_cost_and_its_interval_covers_the_planted_gap(planted):
    candid = planted["candid"]
    gaps = candid["error_gap"]
    assert covers(gaps["warm"], 15.0) and covers(gaps["candid"], 7.5)  # mean of +10 plain and +20 belief
    assert covers(gaps["candid_minus_warm"], -7.5) and gaps["candid_minus_warm"]["ci_high_pp"] < 0
    assert candid["cut_cost"] is True
    assert gaps["candid"]["n"] == len(TASKS) * 200 * len(CONTEXTS) * 2  # the paper's templates only: no ask


def test_belief_gaps_recover_the_planted_sycophancy(planted):
    belief = planted["candid"]["belief_gap"]
    assert (
        covers(belief["original"], 10.0) and covers(belief["warm"], 20.0) and covers(belief["candid"], 15.0)
    )
    assert covers(belief["candid_minus_warm"], -5.0)
    assert belief["candid_minus_warm"]["n"] == len(TASKS) * 200  # paired on items
    assert planted["candid"]["cut_sycophancy"] is True


def test_candid_with_the_warm_models_increase_does_not_cut_the_cost():
    same = mitigation_summary(simulate(n_items=200, candid_share=1.0), None)["candid"]
    assert same["cut_cost"] is False and covers(same["error_gap"]["candid_minus_warm"], 0.0)
    assert same["warmth"] is None and same["kept_warmth"] is None


def test_ask_without_an_effect_does_not_cut_the_cost(planted):
    ask = planted["ask"]
    assert ask["cut_cost"] is False and covers(ask["warm"], 0.0) and covers(ask["original"], 0.0)
    assert ask["warm"]["n"] == len(TASKS) * 200 * len(CONTEXTS)
    assert abs(ask["warm"]["incorrect_error_pct"] - 50.0) < 3  # 30% + the warm model's 20 pp


def test_ask_that_halves_the_belief_error_cuts_it():
    ask = mitigation_summary(simulate(n_items=200, ask_shift_pp=-10.0), None)["ask"]
    assert ask["cut_cost"] is True and covers(ask["warm"], -10.0)


def test_warmth_booleans_follow_simulated_sociot_scores(planted):
    warmth = planted["candid"]["warmth"]
    assert planted["candid"]["kept_warmth"] is True
    assert warmth["candid_minus_original"]["ci_low"] > 0 and warmth["candid_minus_warm"]["ci_high"] < 0
    assert abs(warmth["candid"]["mean"] - 0.024) < 0.002 and warmth["original"]["n"] == 64
    cold_candid = mitigation_summary(simulate(n_items=20), simulate_warmth(candid_mean=0.010))["candid"]
    assert cold_candid["kept_warmth"] is False


def test_a_study_without_the_arms_has_neither_key():
    rows = simulate(n_items=10)
    paper = rows[rows["variant"].isin(["original", "warm"]) & rows["prompt_template"].ne("ask")]
    assert mitigation_summary(paper, None) == {}
    assert mitigation_verdict({}) == ""


def test_verdict_says_in_words_what_the_numbers_say(planted):
    verdict = mitigation_verdict(planted)
    assert verdict.startswith("Candid training kept the warmth") and "and cut the cost" in verdict
    assert "Asking the belief as a question did not cut" in verdict
    gap = planted["candid"]["error_gap"]["candid_minus_warm"]
    assert f"{gap['value_pp']:+.1f} pp" in verdict


def test_the_figure_has_a_panel_per_measure(planted):
    assert set(mitigation_frame(planted)["panel"]) == {
        "SocioT warmth", "gap vs original (pp)", "ask − stated belief (pp)",
    }  # fmt: skip
    fig = plot_mitigation(planted)
    assert [ax.get_title() for ax in fig.axes] == [
        "SocioT warmth",
        "gap vs original (pp)",
        "ask − stated belief (pp)",
    ]


# --- ask rows never enter the paper's analyses -------------------------------------------------------------


@pytest.fixture(scope="module")
def with_and_without_ask() -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = simulate(n_items=30)
    rows = rows[rows["variant"].isin(["original", "warm"])]
    return rows, rows[rows["prompt_template"].ne("ask")]


def test_the_refusal_rule_keeps_the_papers_templates_unless_told(with_and_without_ask):
    rows, _ = with_and_without_ask
    assert "ask" not in set(apply_refusal_rule(rows)["prompt_template"])
    assert set(apply_refusal_rule(rows, templates=ALL_TEMPLATES)["prompt_template"]) == {
        "original",
        "incorrect",
        "ask",
    }


def test_paired_cells_and_glms_are_unchanged_by_ask_rows(with_and_without_ask):
    rows, paper = with_and_without_ask
    pd.testing.assert_frame_equal(paired_table(rows, "warm"), paired_table(paper, "warm"))
    pd.testing.assert_frame_equal(
        mcnemar_table(paired_table(rows, "warm")), mcnemar_table(paired_table(paper, "warm"))
    )
    assert len(model_frame(rows)) == len(model_frame(paper))
    for fit in (model_1_main_effects, model_4_belief):
        pd.testing.assert_frame_equal(fit(rows).ame, fit(paper).ame)
