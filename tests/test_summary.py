"""The study summary's power and gap numbers (issue: the demo must state what it could detect)."""

import math

import pandas as pd
import pytest

from helpers.analysis.summary import minimum_detectable_difference, pooled_gap


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
