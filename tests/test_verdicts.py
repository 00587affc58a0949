"""The results chapter's verdicts say in words what the numbers show, including what could not be seen."""

import pandas as pd
import pytest

from helpers.analysis.summary import accuracy_power
from helpers.analysis.verdicts import accuracy_verdict, as_html, capabilities_verdict, caps_verdict


def _pairs(task, original, variant):
    return pd.DataFrame({"task": task, "correct_original": original, "correct_variant": variant})


def test_a_design_at_the_floor_says_a_paper_sized_effect_could_not_have_been_seen():
    floor = _pairs("trivia", [False] * 100, [False] * 95 + [True] * 5)
    room = _pairs("disinfo", [True] * 90 + [False] * 10, [True] * 80 + [False] * 15 + [True] * 5)
    accuracy = accuracy_power(pd.concat([floor, room], ignore_index=True), paper_gap_pp=7.43)
    text = accuracy_verdict(accuracy, {}, uninterpretable=["disinfo"])
    assert "could NOT reliably" in text
    assert "trivia: no pair with room to drop" in text
    assert "disinfo: 90% of 100 pairs with room to drop, smallest detectable loss" in text
    assert "45% of the pairs (90)" in text
    assert "disinfo" in text.split("does not beat")[1] and "not interpretable" in text


def test_a_loss_larger_than_all_answers_is_not_called_detectable():
    pairs = _pairs("trivia", [True] * 3 + [False] * 17, [False] * 2 + [True] + [False] * 15 + [True] * 2)
    text = accuracy_verdict(accuracy_power(pairs, paper_gap_pp=7.43), {})
    assert "none detectable" in text and "118" not in text


def test_no_headroom_at_all_is_said_plainly():
    accuracy = accuracy_power(_pairs("medqa", [False] * 40, [False] * 38 + [True] * 2), paper_gap_pp=7.43)
    assert "No pair had room to drop" in accuracy_verdict(accuracy, {})


def test_a_large_design_with_headroom_says_it_would_have_been_seen():
    pairs = _pairs("disinfo", [True] * 1800 + [False] * 200, [True] * 1700 + [False] * 150 + [True] * 150)
    text = accuracy_verdict(accuracy_power(pairs, paper_gap_pp=7.43), {})
    assert "**would** have been seen" in text


def test_capabilities_at_the_floor_are_not_called_preserved():
    caps = pd.DataFrame(
        [
            ("m", "gsm8k", "original", 12, 0.0, 0.0, 24.2), ("m", "gsm8k", "warm", 12, 0.0, 0.0, 24.2),
            ("m", "mmlu", "original", 100, 60.0, 50.0, 69.0), ("m", "mmlu", "warm", 100, 58.0, 48.0, 67.0),
        ],
        columns=["model", "benchmark", "variant", "n", "accuracy", "ci_lower", "ci_upper"],
    )  # fmt: skip
    text = capabilities_verdict(caps)
    assert "gsm8k 0% → 0%: **at the floor**" in text and "not evidence that the skill held" in text
    assert "mmlu 60% → 58%: no detectable change" in text


def test_the_cap_check_with_few_uncapped_pairs_says_it_cannot_rule_anything_out():
    answers = {"capped_share_median": 0.5, "capped_share_max": 0.8, "gap_excluding_capped_pp": 2.0,
               "n_pairs_excluding_capped": 29}  # fmt: skip
    accuracy = {"gap_pp": 1.6, "ci_low": -2.1, "ci_high": 5.3, "n_pairs": 312}
    assert "too few for this check to rule out" in caps_verdict(answers, accuracy)
    assert as_html("**a** b") == "<p><strong>a</strong> b</p>"


def test_the_screening_numbers_come_from_the_screening_answers():
    from helpers.analysis.summary import kept_share
    from helpers.paths import study_dir
    from helpers.storage import atomic_write_csv

    rows = pd.DataFrame(
        {
            "task": "trivia", "item_id": ["a", "a", "b", "b", "c", "c"], "sample": [0, 1] * 3,
            "correct": [False, True, True, True, False, False], "kept": [True, True, False, False, False, False],
        }
    )  # fmt: skip
    atomic_write_csv(rows, study_dir("screened") / "m" / "screening" / "trivia.csv")
    share = kept_share("screened")
    assert (share["n_screened"], share["n_passed"], share["n_kept"]) == (3, 2, 1)  # b passed, cut by the cap
    assert share["per_task"]["trivia"]["screen_accuracy"] == pytest.approx(0.5)
