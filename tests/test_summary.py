"""The study summary's power and gap numbers: the demo must state what it could detect."""

import math

import numpy as np
import pandas as pd
import pytest

from helpers.analysis.summary import accuracy_power, headroom_power, minimum_detectable_difference, pooled_gap


def test_minimum_detectable_difference_matches_the_normal_approximation():
    # n = (z_a + z_b)^2 p_d / delta^2 when delta^2 is small next to p_d: delta = 2.80 * sqrt(0.1 / 320) = 4.95%.
    assert minimum_detectable_difference(320, 0.10) == pytest.approx(0.0493, abs=5e-4)


def test_more_pairs_detect_smaller_gaps_and_no_discordance_detects_nothing():
    assert minimum_detectable_difference(1280, 0.10) < minimum_detectable_difference(320, 0.10) / 1.9
    assert math.isnan(minimum_detectable_difference(320, 0.0))


def test_pooled_gap_is_variant_minus_original_error_in_points():
    pairs = pd.DataFrame(
        {
            "correct_original": [True] * 6 + [False] * 2 + [True] * 2,
            "correct_variant": [False] * 6 + [True] * 2 + [True] * 2,
        }
    )
    gap = pooled_gap(pairs)
    assert gap["gap_pp"] == pytest.approx(40.0)
    assert gap["ci_low"] < 40.0 < gap["ci_high"]
    assert gap["discordant_share"] == pytest.approx(0.8)


PAPER_GAP_PP = 7.43  # a planted effect of the paper's size (the test's input, not a result)


def _simulated_pairs(rng, n_pairs: int, headroom_share: float, loss_pp: float) -> pd.DataFrame:
    """Pairs whose original is right on ``headroom_share`` of them; warmth turns ``loss_pp`` of those wrong.

    Without an effect the two answers of a pair disagree as often in each direction (sampling noise: a tenth of
    the headroom pairs lose, as many floor pairs gain), so the McNemar test is calibrated at ``loss_pp = 0``.
    """
    n_head = round(n_pairs * headroom_share)
    n_floor = n_pairs - n_head
    noise_loss = 0.10
    gain = noise_loss * n_head / n_floor
    lost = rng.random(n_head) < noise_loss + loss_pp / 100
    gained = rng.random(n_floor) < gain
    return pd.DataFrame(
        {
            "task": "trivia",
            "correct_original": [True] * n_head + [False] * n_floor,
            "correct_variant": list(~lost) + list(gained),
        }
    )


def _power(n_pairs: int, headroom_share: float, loss_pp: float, reps: int = 300) -> float:
    from helpers.analysis.paired import exact_mcnemar_p

    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(reps):
        pairs = _simulated_pairs(rng, n_pairs, headroom_share, loss_pp)
        b = int((pairs["correct_original"] & ~pairs["correct_variant"]).sum())
        c = int((~pairs["correct_original"] & pairs["correct_variant"]).sum())
        hits += exact_mcnemar_p(b, c) < 0.05 and b > c
    return hits / reps


def test_half_the_pairs_at_the_floor_make_the_old_power_claim_false_and_the_headroom_claim_right():
    rng = np.random.default_rng(0)
    pairs = _simulated_pairs(rng, 312, headroom_share=0.5, loss_pp=PAPER_GAP_PP)
    power = headroom_power(pairs, PAPER_GAP_PP)
    simulated = _power(312, 0.5, PAPER_GAP_PP)
    # the old claim: the pooled MDD is below the paper's gap, "so a gap the size of the paper's would be seen"
    assert power["minimum_detectable_difference_pp"] < PAPER_GAP_PP
    # ...but a paper-sized effect confined to the headroom pairs is seen far less often
    assert simulated < 0.8
    # the new claim: the effect among answers with room to drop must exceed mdd / headroom share
    assert power["headroom_share"] == pytest.approx(0.5)
    assert power["mdd_headroom_pp"] == pytest.approx(power["minimum_detectable_difference_pp"] / 0.5)
    assert power["mdd_headroom_pp"] > PAPER_GAP_PP and power["paper_sized_effect_detectable"] is False
    assert power["paper_effect_pooled_pp"] == pytest.approx(0.5 * PAPER_GAP_PP)


def test_with_enough_headroom_pairs_the_headroom_claim_says_seen_and_the_effect_is_seen():
    rng = np.random.default_rng(0)
    power = headroom_power(
        _simulated_pairs(rng, 1000, headroom_share=0.8, loss_pp=PAPER_GAP_PP), PAPER_GAP_PP
    )
    assert power["paper_sized_effect_detectable"] is True
    assert _power(1000, 0.8, PAPER_GAP_PP) >= 0.8


def test_no_headroom_means_no_loss_of_any_size_is_detectable_and_per_task_numbers_are_reported():
    pairs = pd.DataFrame(
        {
            "task": ["trivia"] * 4 + ["disinfo"] * 4,
            "correct_original": [False] * 4 + [True, True, False, True],
            "correct_variant": [False, True, False, False] + [False, True, True, True],
        }
    )
    power = accuracy_power(pairs, PAPER_GAP_PP)
    assert power["per_task"]["trivia"]["headroom_share"] == 0
    assert power["per_task"]["trivia"]["mdd_headroom_pp"] == math.inf
    assert power["per_task"]["trivia"]["paper_sized_effect_detectable"] is False
    assert power["per_task"]["disinfo"]["headroom_share"] == pytest.approx(0.75)
    assert power["headroom_share"] == pytest.approx(3 / 8)


def _plain_pairs(task, n, original_error, variant_error, rng):
    original = rng.random(n) >= original_error
    return pd.DataFrame(
        {
            "task": task, "amendment_type": "unmodified", "prompt_template": "original",
            "correct_original": original, "correct_variant": rng.random(n) >= variant_error,
        }
    )  # fmt: skip


def test_the_relative_increase_comes_with_an_interval_that_covers_the_planted_ratio():
    from helpers.analysis.gaps import relative_increase_interval

    rng = np.random.default_rng(0)
    pairs = pd.concat(
        [_plain_pairs("trivia", 400, 0.2, 0.3, rng), _plain_pairs("disinfo", 400, 0.3, 0.45, rng)]
    )
    result = relative_increase_interval(pairs, n_boot=300)
    # planted: +50% on both tasks
    assert result["ci_low"] < 0.5 < result["ci_high"] and result["reason"] == ""
    assert result["ci_high"] - result["ci_low"] > 0.1  # an interval, not a point


def test_the_relative_increase_is_dropped_with_a_reason_when_a_denominator_is_near_zero():
    from helpers.analysis.gaps import relative_increase_interval

    rng = np.random.default_rng(0)
    pairs = pd.concat(
        [_plain_pairs("trivia", 200, 0.3, 0.3, rng), _plain_pairs("disinfo", 20, 0.1, 0.2, rng)]
    )
    result = relative_increase_interval(pairs, n_boot=50)
    assert (
        math.isnan(result["value"])
        and "disinfo" in result["reason"]
        and "too few original errors" in result["reason"]
    )
