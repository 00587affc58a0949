"""The authors' released data load into tidy frames and reproduce the paper's published numbers."""

from __future__ import annotations

import math
from pathlib import Path

import nbformat
import papermill
import pytest

from helpers.analysis import reference
from helpers.analysis.gaps import gap_table, paper_headline_checks, relative_increase
from helpers.analysis.paired import mcnemar_z
from helpers.paths import NOTEBOOKS_DIR
from helpers.vocabulary import AMENDMENT_TYPES, TASKS

EVALUATION_COLUMNS = [
    "study", "model", "variant", "adapter", "task", "item_id", "question", "correct_answer", "incorrect_answer",
    "prompt_template", "amendment_type", "context_statement", "prompt", "system_prompt", "output", "evaluation",
    "refusal", "scorer", "response_length",
]  # fmt: skip


def test_warm_summary_has_five_models_four_tasks_nine_contexts_two_belief_conditions():
    cells = reference.load_paired_summary("warm")
    assert len(cells) == 360
    assert sorted(cells["model"].unique()) == ["gpt-4o", "llama-70b", "llama-8b", "mistral-small", "qwen-32b"]
    assert set(cells["task"]) == set(TASKS)
    assert set(cells["amendment_type"]) == set(AMENDMENT_TYPES)
    assert cells.groupby("belief").size().to_dict() == {False: 180, True: 180}


def test_system_prompt_summary_drops_the_stray_duplicate_row():
    cells = reference.load_paired_summary("warm_prompt")
    assert len(cells) == 216
    assert cells.groupby("model").size().to_dict() == {"gpt-4o": 72, "llama-70b": 72, "qwen-32b": 72}


def test_infinite_odds_ratio_loads_as_inf():
    cells = reference.load_paired_summary("warm")
    qwen_happy = cells[
        cells["model"].eq("qwen-32b")
        & cells["task"].eq("disinfo")
        & cells["amendment_type"].eq("emotion:happy")
        & cells["belief"]
    ]
    assert math.isinf(qwen_happy["odds_ratio"].iloc[0])


def test_paper_per_task_gaps_and_relative_increase_are_recomputed_to_two_decimals():
    gaps = gap_table(reference.load_paired_summary("warm"), "warm")
    question = gaps[gaps["strategy"].eq("question")].set_index("task")["gap_pp"].round(2).to_dict()
    assert question == {"trivia": 4.95, "truthfulqa": 8.41, "disinfo": 5.36, "medqa": 8.59}
    assert round(100 * relative_increase(gaps), 2) == 60.30


def test_every_recomputable_headline_agrees_with_the_paper():
    checks = paper_headline_checks(
        reference.load_paired_summary("warm"), reference.load_paired_summary("cold")
    )
    assert checks["agrees"].all(), checks[~checks["agrees"]]
    assert len(checks) == len(reference.PAPER_HEADLINES)


def test_released_cohens_g_column_is_the_mcnemar_z_of_recovered_counts():
    cells = reference.reconstruct_discordant_counts(reference.load_paired_summary("warm"))
    anger = cells[
        cells["model"].eq("llama-70b")
        & cells["task"].eq("disinfo")
        & cells["amendment_type"].eq("emotion:anger")
        & cells["belief"]
    ].iloc[0]
    assert (anger["b"], anger["c"]) == (21, 12)
    assert anger["rounding_residual"] < 0.01
    assert mcnemar_z(21, 12) == pytest.approx(anger["mcnemar_z"], abs=5e-4)
    assert anger["cohens_g"] == pytest.approx(21 / 33 - 0.5)
    # 9 more losses than gains over the cell's prompts is the published -5.70 pp: 158 pairs.
    assert 100 * (12 - 21) / 158 == pytest.approx(anger["diff_pp"], abs=0.005)


def test_glm_reports_parse_into_the_published_marginal_effects():
    ames = reference.load_glm_reference().set_index(["glm", "effect", "condition"])
    assert ames.loc[("model_1_main_effects", "fine_tuning", "unmodified"), "ame_pp"] == 7.43
    assert (
        ames.loc[("model_1_main_effects_with_length", "response_length_per_100", "unmodified"), "ame_pp"]
        == -0.32
    )
    assert ames.loc[("model_2_context_group", "fine_tuning", "emotion"), "ame_pp"] == 8.87
    assert ames.loc[("model_3_each_context", "fine_tuning", "emotion:sad"), "ame_pp"] == 11.87
    assert ames.loc[("model_3_each_context", "fine_tuning", "relation:hierarchical_up"), "ame_pp"] == 5.24
    assert ames.loc[("model_4_belief", "fine_tuning", "belief"), "ame_pp"] == 10.99
    assert ames.loc[("model_4_belief", "fine_tuning", "no_belief"), "n_obs"] == 439_792
    assert len(ames) == 24


def test_benchmarks_load_in_long_form_with_intervals():
    benchmarks = reference.load_benchmarks()
    assert len(benchmarks) == 30
    mmlu = benchmarks[benchmarks["model"].eq("llama-8b") & benchmarks["benchmark"].eq("MMLU")]
    assert mmlu.set_index("variant")["accuracy"].to_dict() == {"original": 63.8, "warm": 55.2}
    assert (benchmarks["ci_lower"] <= benchmarks["accuracy"]).all()
    assert (benchmarks["accuracy"] <= benchmarks["ci_upper"]).all()


def test_sociot_warmth_doubles_by_the_epoch_two_checkpoint():
    warmth = reference.load_sociot()
    assert len(warmth) == 41
    by_epoch = warmth.pivot_table(index="model", columns="epoch", values="mean")
    assert (by_epoch[2.0] > 2 * by_epoch[0.0]).all()


def test_sample_outputs_load_as_evaluation_rows():
    rows = reference.load_sample_outputs()
    assert list(rows.columns) == EVALUATION_COLUMNS
    assert rows.groupby("variant").size().to_dict() == {"original": 80, "warm": 79}
    assert set(rows["prompt_template"]) == {"original", "original_neutral", "correct", "incorrect"}
    assert rows["refusal"].eq(0).all()


def test_paper_model_name_maps_hugging_face_ids_and_keeps_unknown_models():
    assert reference.paper_model_name("meta-llama/Llama-3.1-8B-Instruct") == "llama-8b"
    assert reference.paper_model_name("Qwen/Qwen2.5-32B-Instruct") == "qwen-32b"
    assert reference.paper_model_name("embedded:SmolLM2-135M-Instruct") == "SmolLM2-135M-Instruct"


@pytest.mark.slow
def test_paper_results_notebook_runs_and_its_checks_pass(tmp_path: Path):
    output = tmp_path / "paper_results.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOKS_DIR / "paper_results.ipynb"), str(output), kernel_name="python3", cwd=str(NOTEBOOKS_DIR)
    )
    executed = nbformat.read(output, as_version=4)
    text = "".join(
        out.get("text", "")
        for cell in executed.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    )
    assert "All recomputed headline numbers agree with the paper." in text
    images = [
        out
        for cell in executed.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if "image/png" in out.get("data", {})
    ]
    assert len(images) == 5
