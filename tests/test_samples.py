"""``python -m helpers samples``: the rule scorer and models 1-4 on the authors' released sample folders."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.analysis import reference
from helpers.analysis.glm import model_1_main_effects, model_4_belief
from helpers.analysis.samples import load_samples, samples_report, scorer_agreement
from helpers.evaluation.scoring import score_answers
from helpers.paths import REPO_ROOT
from helpers.vocabulary import TASKS

QWEN = reference.REFERENCE_DIR / "sample_outputs" / "qwen_32b"


@pytest.fixture(scope="module")
def report() -> dict:
    """The command's JSON on the bundled Qwen-32B folder, run as a reader would run it."""
    completed = subprocess.run(
        [sys.executable, "-m", "helpers", "samples", str(QWEN), "--json"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
    )
    return json.loads(completed.stdout)


def test_samples_prints_one_json_object_with_scorer_and_models(report):
    assert set(report["scorer"]) == set(TASKS)
    assert set(report["models"]) == {"model_1", "model_2", "model_3", "model_4"}
    for numbers in report["scorer"].values():
        assert set(numbers) == {"n", "agreement", "baseline", "kappa"}
    assert set(report["models"]["model_4"]["ame"]) >= {"no_belief", "belief"}
    assert report["sample_models"] == ["qwen-32b"] and report["refusals"] == 1


def test_scorer_numbers_are_agreement_majority_baseline_and_kappa_against_the_authors_labels(report):
    rows = load_samples([QWEN])
    medqa = rows[rows["task"].eq("medqa")]
    rule = score_answers(medqa.drop(columns=["evaluation"]))["evaluation"].to_numpy()
    authors = medqa["evaluation"].to_numpy()
    agreement = (rule == authors).mean()
    rule_correct, authors_correct = (rule == "CORRECT").mean(), (authors == "CORRECT").mean()
    chance = rule_correct * authors_correct + (1 - rule_correct) * (1 - authors_correct)
    numbers = report["scorer"]["medqa"]
    assert numbers["n"] == 40
    assert numbers["agreement"] == pytest.approx(agreement)
    assert numbers["baseline"] == pytest.approx(max(authors_correct, 1 - authors_correct))
    assert numbers["kappa"] == pytest.approx((agreement - chance) / (1 - chance))


def test_models_are_fitted_on_the_pooled_rows_with_the_refusal_rule_read_from_the_text(report):
    rows = reference.load_sample_outputs()
    belief = model_4_belief(rows).ame.set_index("condition")
    assert report["models"]["model_4"]["n_obs"] == 158  # the warm TruthfulQA refusal is excluded
    assert report["models"]["model_4"]["ame"]["belief"] == pytest.approx(belief.loc["belief", "ame_pp"])
    assert report["models"]["model_4"]["ame"]["no_belief"] == pytest.approx(belief.loc["no_belief", "ame_pp"])
    fine_tuning = model_1_main_effects(rows).ame.set_index("effect").loc["fine_tuning", "ame_pp"]
    assert report["models"]["model_1"]["ame"]["fine_tuning"] == pytest.approx(fine_tuning)


def test_several_folders_are_pooled_with_a_model_fixed_effect(tmp_path: Path):
    twin = tmp_path / "llama_70b"
    shutil.copytree(QWEN, twin)
    pooled = samples_report([QWEN, twin])
    assert pooled["sample_models"] == ["llama-70b", "qwen-32b"]
    assert pooled["models"]["model_4"]["n_obs"] == 2 * 158
    assert not any("no model fixed effect" in note for note in pooled["models"]["model_4"]["notes"])
    assert pooled["scorer"]["trivia"]["n"] == 2 * 40


def test_kappa_is_null_when_both_raters_give_one_label_throughout():
    rows = load_samples([QWEN])
    trivia = rows[rows["task"].eq("trivia") & rows["evaluation"].eq("CORRECT")]
    agreeing = trivia[
        score_answers(trivia.drop(columns=["evaluation"]))["evaluation"].eq("CORRECT").to_numpy()
    ]
    numbers = scorer_agreement(agreeing)["trivia"]
    assert numbers["agreement"] == 1.0 and numbers["baseline"] == 1.0 and math.isnan(numbers["kappa"])


def test_a_folder_outside_the_layout_fails_with_a_message_naming_it(tmp_path: Path):
    completed = subprocess.run(
        [sys.executable, "-m", "helpers", "samples", str(tmp_path), "--json"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    assert completed.returncode != 0
    assert "'folder'" in completed.stderr and str(tmp_path) in completed.stderr
