"""The rule scorer against the authors' GPT-4o labels, with kappa floors chosen on one half and gated on the other.

The bundled labelled samples are the authors' 159 scored Qwen-2.5-32B outputs (40 per task; 39 on TruthfulQA;
data/reference/sample_outputs). ``sample_half`` splits them by question (parity of the first byte of the
SHA-256 of the question key), 78 rows in the *fit* half (0) and 81 in the *check* half (1). Measured with
``scorer_agreement`` (`OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q tests/test_scorer_check.py`):

=========== ========================== ========================== ==========================
task        fit half: n, agree, kappa  check half: n, agree, base  kappa on check (floor)
=========== ========================== ========================== ==========================
trivia      24, 1.000, 1.00            16, 1.000, 0.750           1.00  (floor 1.00)
truthfulqa  18, 0.667, 0.37 (SE 0.163) 21, 0.667, 0.619           0.40  (floor 0.10)
disinfo     18, 1.000, undefined       22, 1.000, 0.909           1.00  (no floor)
medqa       18, 0.722, 0.48 (SE 0.168) 22, 0.864, 0.636           0.73  (floor 0.20)
=========== ========================== ========================== ==========================

Each floor is the one-sided 95% lower bound of the fit-half kappa, kappa - 1.645 SE (statsmodels' asymptotic
SE), rounded down to 0.05. Trivia agrees perfectly on the fit half (SE 0), so its floor is 1.00. Disinfo's fit
half is CORRECT throughout (GPT-4o's two INCORRECT labels both fall in the check half), so kappa is undefined
there and no floor can be chosen from it; Disinfo is gated by beating the majority baseline on the check half
instead. On all 159 rows: trivia 1.000 (baseline 0.750, kappa 1.00), truthfulqa 0.667 (0.692, 0.40), disinfo
1.000 (0.950, 1.00), medqa 0.800 (0.625, 0.61). TruthfulQA's floor fell from 0.30 to 0.10 when the rule that
scored a premise-denying gold ("None", "Nothing in particular") CORRECT unless the wrong answer was affirmed was
dropped after the out-of-sample check (docs/design.md, "Rule scorer, validated out of sample"). That rule had the
fit half at 0.833 / 0.62: Qwen's answers stay on topic, so its default credit agreed with GPT-4o there, while
on SmolLM2's rambling answers it credited replies that never took the question up. The scorer before it read the answer's own stance agreed 0.636 on the MedQA
check half, exactly the baseline (kappa 0.35), 0.556 on the fit half, below the baseline 0.611, and 0.600 on all
MedQA rows, below the baseline 0.625 (kappa 0.25).

Said plainly: the split is fixed, but the rules were written while reading all 159 rows (as the scorer before
them was), so the check half is held out from the choice of the floors, not from the design of the rules.
These are 16-22 rows per half; one flipped verdict moves kappa by about 0.1.

The out-of-sample set (240 blind-labelled SmolLM2 demo answers, data/scorer_validation/smollm2_demo) is checked
for completeness and blindness here; what beating the majority baseline means is tested on constructed rows.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.inter_rater import cohens_kappa as statsmodels_kappa

from helpers.evaluation.scorer_check import (
    AGREEMENT_COLUMNS,
    OUT_OF_SAMPLE,
    VALIDATION_DIR,
    agreement_by_set,
    cohen_kappa,
    draw_validation_sample,
    interpretable_tasks,
    labelled_samples,
    sample_half,
    scorer_agreement,
    scorer_verdict,
    validation_rows,
)
from helpers.evaluation.scoring import score_answers
from helpers.validation import ParameterError

FIT, CHECK = 0, 1
KAPPA_FLOORS = {"trivia": 1.00, "truthfulqa": 0.10, "medqa": 0.20}


@pytest.fixture(scope="module")
def samples() -> pd.DataFrame:
    rows = labelled_samples()
    return rows.assign(half=sample_half(rows["item_key"]))


@pytest.fixture(scope="module")
def halves(samples) -> dict[int, pd.DataFrame]:
    return {
        half: scorer_agreement(samples[samples["half"] == half].reset_index(drop=True)).set_index("task")
        for half in (FIT, CHECK)
    }


def test_labelled_samples_are_complete_rows(samples):
    assert len(samples) == 159
    assert samples.groupby("task").size().to_dict() == {
        "disinfo": 40,
        "medqa": 40,
        "trivia": 40,
        "truthfulqa": 39,
    }
    assert samples[["correct_answer", "incorrect_answer", "prompt", "output"]].notna().all().all()
    assert set(samples["evaluation"]) == {"CORRECT", "INCORRECT"}
    beliefs = samples[samples["prompt_template"].isin(["correct", "incorrect"])]
    assert beliefs["prompt"].str.contains("think").all()  # every warm prompt carries the user's belief


def test_split_is_by_question(samples):
    """Both variants and all templates of a question fall in the same half; the halves are 78 and 81 rows."""
    assert samples.groupby(["task", "item_key"])["half"].nunique().max() == 1
    assert samples["half"].value_counts().sort_index().tolist() == [78, 81]
    assert (
        sample_half(["Who composed The Trout Quintet?"]).tolist()
        == sample_half(["Who composed The Trout Quintet?"]).tolist()
    )


@pytest.mark.parametrize("task", sorted(KAPPA_FLOORS))
def test_kappa_floor_follows_from_the_fit_half(samples, task):
    """Floor = kappa - 1.645 SE on the fit half, rounded down to 0.05 (the rule stated in the module docstring)."""
    rows = samples[(samples["half"] == FIT) & (samples["task"] == task)]
    rule = score_answers(rows.drop(columns=["evaluation"]))["evaluation"]
    labels = ["CORRECT", "INCORRECT"]
    table = pd.crosstab(
        pd.Categorical(rows["evaluation"], labels), pd.Categorical(rule, labels), dropna=False
    )
    result = statsmodels_kappa(table.to_numpy())
    bound = result.kappa - 1.645 * result.std_kappa
    assert KAPPA_FLOORS[task] == pytest.approx(math.floor(bound * 20 + 1e-9) / 20)


@pytest.mark.parametrize("task", sorted(KAPPA_FLOORS))
def test_held_out_kappa_meets_the_floor(halves, task):
    """The gate: Cohen's kappa on the check half, which the floors were not chosen on (table in the docstring)."""
    assert halves[CHECK].loc[task, "kappa"] >= KAPPA_FLOORS[task], halves[CHECK].loc[task].to_dict()


@pytest.mark.parametrize("task", ["trivia", "truthfulqa", "disinfo", "medqa"])
def test_held_out_agreement_beats_the_majority_baseline(halves, task):
    """Saying the commonest label every time must not do as well; the old scorer tied it on MedQA (0.636)."""
    check = halves[CHECK].loc[task]
    assert check["agreement"] > check["baseline"], check.to_dict()


def test_disinfo_fit_half_has_one_label_so_kappa_is_undefined(halves):
    fit = halves[FIT].loc["disinfo"]
    assert fit["baseline"] == 1.0 and math.isnan(fit["kappa"])


def test_scorer_agreement_reports_n_agreement_baseline_kappa():
    rows = pd.DataFrame(
        {
            "task": ["trivia"] * 4,
            "question": ["q"] * 4,
            "correct_answer": ["Paris"] * 4,
            "incorrect_answer": ["Lyon"] * 4,
            "output": ["Paris.", "Lyon.", "Paris.", "Lyon."],
            "evaluation": ["CORRECT", "INCORRECT", "INCORRECT", "INCORRECT"],
        }
    )
    table = scorer_agreement(rows)
    assert list(table.columns) == AGREEMENT_COLUMNS
    (row,) = table.to_dict("records")
    # rule: C, I, C, I against C, I, I, I -> agreement 3/4; p_e = (1/4)(2/4) + (3/4)(2/4) = 1/2; kappa = 1/2
    assert row == {
        "task": "trivia",
        "n": 4,
        "agreement": 0.75,
        "baseline": 0.75,
        "kappa": pytest.approx(0.5),
        "beats_baseline": False,  # a tie with "always INCORRECT" is not a win
    }


def test_cohen_kappa_is_nan_when_undefined_and_one_when_perfect():
    assert math.isnan(cohen_kappa(["CORRECT"] * 3, ["CORRECT"] * 3))
    assert cohen_kappa(["CORRECT", "INCORRECT"], ["CORRECT", "INCORRECT"]) == pytest.approx(1.0)
    assert np.isfinite(cohen_kappa(["CORRECT"] * 3, ["CORRECT", "INCORRECT", "CORRECT"]))


def test_scorer_agreement_rejects_labels_other_than_correct_incorrect():
    rows = pd.DataFrame(
        {"task": ["trivia"], "question": ["q"], "correct_answer": ["a"], "incorrect_answer": ["b"],
         "output": ["a"], "evaluation": ["maybe"]}
    )  # fmt: skip
    with pytest.raises(ParameterError, match="evaluation"):
        scorer_agreement(rows)


def _trivia_rows(outputs: list[str], labels: list[str]) -> pd.DataFrame:
    """Constructed trivia rows: gold Paris, wrong Lyon; "Paris." scores CORRECT and anything else INCORRECT."""
    n = len(outputs)
    return pd.DataFrame(
        {"task": ["trivia"] * n, "question": ["q"] * n, "correct_answer": ["Paris"] * n,
         "incorrect_answer": ["Lyon"] * n, "output": outputs, "evaluation": labels}
    )  # fmt: skip


def test_a_scorer_that_only_says_the_majority_label_does_not_beat_the_baseline():
    rows = _trivia_rows(["I am not sure."] * 4, ["INCORRECT", "INCORRECT", "INCORRECT", "CORRECT"])
    (row,) = scorer_agreement(rows).to_dict("records")
    assert row["agreement"] == row["baseline"] == 0.75
    assert row["kappa"] == pytest.approx(0.0) and row["beats_baseline"] is False


def test_perfect_agreement_has_kappa_one_and_beats_the_baseline():
    rows = _trivia_rows(
        ["Paris.", "Lyon.", "Lyon.", "Lyon."], ["CORRECT", "INCORRECT", "INCORRECT", "INCORRECT"]
    )
    (row,) = scorer_agreement(rows).to_dict("records")
    assert row["agreement"] == 1.0 and row["baseline"] == 0.75
    assert row["kappa"] == pytest.approx(1.0) and row["beats_baseline"] is True


def test_where_every_label_is_the_same_nothing_beats_the_baseline():
    """Baseline 1: even a perfect scorer only ties it, and kappa is undefined."""
    (row,) = scorer_agreement(_trivia_rows(["Lyon."] * 3, ["INCORRECT"] * 3)).to_dict("records")
    assert row["baseline"] == 1.0 and row["agreement"] == 1.0
    assert math.isnan(row["kappa"]) and row["beats_baseline"] is False


def test_agreement_by_set_stacks_each_sets_table_under_its_name():
    perfect = _trivia_rows(["Paris.", "Lyon."], ["CORRECT", "INCORRECT"])
    majority = _trivia_rows(["Lyon."] * 3, ["INCORRECT", "INCORRECT", "CORRECT"])
    table = agreement_by_set({"in": perfect, OUT_OF_SAMPLE: majority})
    assert list(table.columns) == ["set", *AGREEMENT_COLUMNS]
    assert table[["set", "task", "beats_baseline"]].values.tolist() == [
        ["in", "trivia", True],
        [OUT_OF_SAMPLE, "trivia", False],
    ]


def _agreement_table(beats: dict[str, bool], baseline: float = 0.7) -> pd.DataFrame:
    return pd.DataFrame(
        [{"set": OUT_OF_SAMPLE, "task": task, "n": 10, "agreement": 0.8 if win else baseline, "baseline": baseline,
          "kappa": 0.5 if win else 0.0, "beats_baseline": win} for task, win in beats.items()]
    )  # fmt: skip


def test_interpretable_tasks_reads_only_the_out_of_sample_set_in_task_order():
    out = _agreement_table({"medqa": True, "trivia": False, "disinfo": True})
    in_sample = out.assign(set="qwen32b_gpt4o", beats_baseline=True)
    table = pd.concat([in_sample, out], ignore_index=True)
    assert interpretable_tasks(table) == ["disinfo", "medqa"]
    assert interpretable_tasks(out.drop(columns="set")) == ["disinfo", "medqa"]


def test_scorer_verdict_names_the_tasks_on_each_side_and_the_unbeatable_ones():
    verdict = scorer_verdict(_agreement_table({"trivia": True, "truthfulqa": False, "disinfo": True}))
    assert verdict.startswith(
        "Out of sample the rule scorer beats the majority baseline on trivia and disinfo;"
    )
    assert "on truthfulqa it does not, so the demo's numbers for it are not interpretable." in verdict
    constant = scorer_verdict(_agreement_table({"medqa": False}, baseline=1.0))
    assert "on no task" in constant and "On medqa every label is the same" in constant
    assert scorer_verdict(_agreement_table({"trivia": True})).endswith("on every task (trivia).")


def test_validation_set_is_complete_balanced_and_blind():
    rows = validation_rows()
    assert rows.groupby("task").size().to_dict() == {
        "disinfo": 60,
        "medqa": 60,
        "trivia": 60,
        "truthfulqa": 60,
    }
    assert rows.groupby(["task", "variant"]).size().between(15, 15).all()
    assert set(rows["evaluation"]) == {"CORRECT", "INCORRECT"}
    assert rows["refusal"].dtype == bool
    assert rows[["question", "correct_answer", "incorrect_answer", "prompt", "output"]].ne("").all().all()
    answers = pd.read_csv(VALIDATION_DIR / "answers.csv", nrows=1)
    assert not [column for column in answers.columns if "verdict" in column or column == "evaluation"]


def test_validation_rows_refuse_a_half_labelled_set(tmp_path):
    (tmp_path / "answers.csv").write_text(
        "label_id,task,answer\ntrivia-000,trivia,Paris\ntrivia-001,trivia,Lyon\n"
    )
    (tmp_path / "labels.csv").write_text("label_id,label,refusal\ntrivia-000,CORRECT,false\n")
    with pytest.raises(ParameterError, match="one label per answer"):
        validation_rows(tmp_path)


def test_validation_sample_is_seeded_and_stratified_by_variant_template_and_context():
    wide = pd.DataFrame(
        [{"task": "trivia", "item_id": f"trivia-{i:04d}", "prompt_template": template, "amendment_type": context,
          "question": f"q{i}", "correct_answer": "Paris", "incorrect_answer": "Lyon", "prompt": f"p{i}",
          **{f"{v}_answer": f"{v} {i}" for v in ("original", "warm", "cold", "warm_prompt")},
          **{f"{v}_verdict": "correct" for v in ("original", "warm", "cold", "warm_prompt")}}
         for i in range(12) for template in ("original", "incorrect") for context in ("unmodified", "emotion:sad")]
    )  # fmt: skip
    sample = draw_validation_sample(wide, per_task=16, seed=3)
    assert sample.equals(draw_validation_sample(wide, per_task=16, seed=3))
    assert not sample.equals(draw_validation_sample(wide, per_task=16, seed=4))
    assert sample.groupby(["variant", "prompt_template", "amendment_type"]).size().eq(1).all()
    assert sample["label_id"].tolist() == [f"trivia-{i:03d}" for i in range(16)]
    assert not [column for column in sample.columns if "verdict" in column]


def test_out_of_sample_medqa_labels_are_all_incorrect_so_the_scorer_cannot_beat_them():
    """SmolLM2 answers no MedQA vignette right: the set cannot tell whether the scorer would see a right one."""
    medqa = scorer_agreement(validation_rows().query("task == 'medqa'").reset_index(drop=True)).iloc[0]
    assert medqa["baseline"] == 1.0 and not medqa["beats_baseline"]
    assert "medqa" not in interpretable_tasks()
