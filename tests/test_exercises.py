"""The graders' checks of book/teaching.md's exercises, on results folders built here (no model runs)."""

import json
import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from helpers.cli import main
from helpers.paths import REPO_ROOT, study_dir
from helpers.study import exercises
from helpers.study.config import load_config
from helpers.study.exercises import (
    EXERCISES,
    ITEM_FACTOR,
    MissingRun,
    StaleSnapshot,
    check_exercise,
    exercise_glue,
    get_exercise,
    write_exercise_config,
)
from helpers.study.runner import plan_runs

SNAPSHOT = REPO_ROOT / "snapshots" / "demo"


@pytest.fixture(autouse=True)
def snapshot(tmp_path_factory, monkeypatch) -> Path:
    """The committed snapshot's tables, with run records of the demo config as it is now.

    The checks refuse a snapshot made with other parameters than configs/demo.yaml has (a test of its own
    below); this copy keeps the tests about the checks themselves while the demo's config changes ahead of
    its next snapshot.
    """
    root = tmp_path_factory.mktemp("snapshots")
    copy = root / "demo"
    shutil.copytree(SNAPSHOT, copy, ignore=shutil.ignore_patterns("notebooks", "*.png", "*.pdf"))
    for run in plan_runs(load_config(exercises.DEMO_CONFIG)):
        (copy / "runs" / f"{run.name}.params.yaml").write_text(yaml.safe_dump(run.parameters))
        record = copy / "runs" / f"{run.name}.json"
        if record.is_file():
            record.write_text(json.dumps(json.loads(record.read_text()) | {"parameters": run.parameters}))
    monkeypatch.setenv("WARMBOOK_SNAPSHOTS", str(root))
    return copy


def _snapshot() -> Path:
    return Path(os.environ["WARMBOOK_SNAPSHOTS"]) / "demo"


def _record_runs(exercise, study: str | None = None, seconds: float = 60.0) -> Path:
    """A finished state record for every run the exercise needs, with the snapshot's parameters."""
    runs = study_dir(study or exercise.study) / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    for name in exercise.run_names():
        record = json.loads((_snapshot() / "runs" / f"{name}.json").read_text())
        (runs / f"{name}.json").write_text(json.dumps(record | {"seconds": seconds, "status": "done"}))
    return runs


def _write_warm_prompt_ame(study: str, ame_pp: float) -> None:
    """The rerun's glm_ames.csv: the snapshot's, with the warm-prompt model 1 effect set to ``ame_pp``."""
    table = pd.read_csv(_snapshot() / "analysis" / "glm_ames.csv")
    row = (table["glm"] == "model_1_main_effects") & (table["variant"] == "warm_prompt")
    table.loc[row & (table["effect"] == "fine_tuning"), "ame_pp"] = ame_pp
    (study_dir(study) / "analysis").mkdir(parents=True, exist_ok=True)
    table.to_csv(study_dir(study) / "analysis" / "glm_ames.csv", index=False)


def _reference(number: str) -> tuple[float, float]:
    exercise = get_exercise(number)
    return exercise.reference(_snapshot(), exercise.config())


def test_a_value_within_the_tolerance_passes_and_the_report_shows_both_values():
    exercise = get_exercise("1")
    expected, tolerance = _reference("1")
    _record_runs(exercise)
    _write_warm_prompt_ame(exercise.study, expected + 0.5 * tolerance)
    result = check_exercise("1")
    assert result.passed
    assert result.report().startswith("PASS exercise 1")
    assert f"{expected + 0.5 * tolerance:.4g}" in result.report() and f"{expected:.4g}" in result.report()


def test_a_value_outside_the_tolerance_fails_with_exit_status_1(capsys):
    exercise = get_exercise("1")
    expected, tolerance = _reference("1")
    _record_runs(exercise)
    _write_warm_prompt_ame(exercise.study, expected + 1.5 * tolerance)
    assert main(["check-exercise", "1"]) == 1
    assert capsys.readouterr().out.startswith("FAIL exercise 1")


def test_the_check_reads_the_study_given_with_study():
    expected, _ = _reference("1")
    _record_runs(get_exercise("1"), study="my-rerun")
    _write_warm_prompt_ame("my-rerun", expected)
    assert main(["check-exercise", "1", "--study", "my-rerun"]) == 0


def test_a_missing_run_is_an_error_naming_the_command_that_produces_it(capsys):
    exercise = get_exercise("1")
    runs = _record_runs(exercise)
    (runs / "analysis.json").unlink()
    with pytest.raises(
        MissingRun, match=r"no finished run analysis; produce it with `python -m helpers exercise 1`"
    ):
        check_exercise("1")
    assert main(["check-exercise", "1"]) == 2
    assert "python -m helpers exercise 1" in capsys.readouterr().err


def test_a_missing_run_of_another_study_names_the_runner_command_for_its_config():
    with pytest.raises(
        MissingRun, match=r"python -m helpers run configs/demo-ex3.yaml --study mine --only evaluate-"
    ):
        check_exercise("3", study="mine")


def test_the_scorer_check_passes_on_the_demos_answers_and_reports_the_judges_agreement():
    exercise = get_exercise("3")
    _record_runs(exercise)
    demo = pd.read_csv(_snapshot() / "figures" / "answers.csv", keep_default_na=False)
    demo = demo[demo["task"] == "truthfulqa"]
    key = ["model", "task", "item_id", "amendment_type", "prompt_template"]
    rerun = demo[[*key, "original_answer"]].rename(columns={"original_answer": "output"})
    rerun = rerun.assign(
        evaluation="CORRECT", scorer="judge:embedded:SmolLM2-135M-Instruct", variant="original"
    )
    folder = study_dir(exercise.study) / "SmolLM2-135M-Instruct" / "original"
    folder.mkdir(parents=True)
    rerun.to_csv(folder / "truthfulqa.csv", index=False)
    result = check_exercise("3")
    agree = int((demo["original_verdict"] == "CORRECT").sum())
    assert result.passed and result.value == 1.0
    assert f"agrees with the demo's rule scorer on {agree} of {len(rerun)}" in result.report()
    rerun.iloc[:1, rerun.columns.get_loc("output")] = "A different answer."
    rerun.to_csv(folder / "truthfulqa.csv", index=False)
    assert not check_exercise("3").passed


def test_the_learning_rate_check_compares_the_warm_model_with_the_demos_original():
    exercise = get_exercise("4")
    expected, tolerance = _reference("4")
    _record_runs(exercise)
    table = pd.read_csv(_snapshot() / "figures" / "warmth-SmolLM2-135M-Instruct-sociot.csv")
    assert expected == table.loc[table["variant"] == "original", "mean"].item()
    table.loc[(table["variant"] == "warm") & (table["epoch"] == 2.0), "mean"] = expected + 0.9 * tolerance
    (study_dir(exercise.study) / "SmolLM2-135M-Instruct" / "warmth").mkdir(parents=True)
    table.to_csv(study_dir(exercise.study) / "SmolLM2-135M-Instruct" / "warmth" / "sociot.csv", index=False)
    assert check_exercise("4").passed


def test_the_power_exercise_expects_the_demos_half_width_shrunk_by_the_square_root_of_the_item_factor():
    expected, tolerance = _reference("2")
    demo = pd.read_csv(_snapshot() / "analysis" / "glm_ames.csv").query(
        "glm == 'model_1_main_effects' and variant == 'warm_prompt' and effect == 'fine_tuning'"
    )
    demo_width = (demo["ci_upper_pp"] - demo["ci_lower_pp"]).item() / 2
    assert expected == pytest.approx(demo_width / ITEM_FACTOR**0.5)
    assert expected + tolerance < demo_width  # a rerun whose interval did not shrink fails


def test_minutes_sum_the_recorded_runs_scaled_by_their_work():
    for exercise in EXERCISES.values():
        _record_runs(exercise, study="course", seconds=60.0)
    glued = exercise_glue("course")
    # exercise 1: training_data, analysis and two evaluations as recorded; warmth scores 1 of the demo's 5 variants
    assert glued["exercise_1_minutes"] == pytest.approx(4 + 1 / 5)
    # exercise 2: the same with twice the items per evaluation
    assert glued["exercise_2_minutes"] == pytest.approx(2 + 2 * 2 + 1 / 5)
    # exercise 3: one evaluation of one task of the demo's four
    assert glued["exercise_3_minutes"] == pytest.approx(1 / 4)


def test_every_glue_key_teaching_md_quotes_is_glued():
    quoted = set(
        re.findall(
            r"analysis\.ipynb::(exercise_\w+?)(?::|`)", (REPO_ROOT / "book" / "teaching.md").read_text()
        )
    )
    assert quoted and quoted <= set(exercise_glue("demo"))


def test_every_exercise_runs_only_runs_of_its_own_study_and_never_the_demo():
    for exercise in EXERCISES.values():
        config = exercise.config()
        assert config.study == exercise.study != "demo"
        assert set(exercise.run_names(config)) <= {run.name for run in plan_runs(config)}


def test_the_exercise_config_is_written_under_its_study_name_and_loads(monkeypatch, tmp_path):
    (tmp_path / "configs").mkdir()
    monkeypatch.setattr(exercises, "REPO_ROOT", tmp_path)
    path = write_exercise_config(get_exercise("2"))
    config = load_config(path)
    assert path == tmp_path / "configs" / "demo-ex2.yaml"
    demo = load_config(exercises.DEMO_CONFIG)
    assert config.study == "demo-ex2" and config.styles == []
    assert config.evaluate.n_items == ITEM_FACTOR * demo.evaluate.n_items


def test_an_unknown_exercise_is_refused_naming_the_known_ones(capsys):
    assert main(["check-exercise", "9"]) == 2
    assert "one of 1, 2, 3, 4" in capsys.readouterr().err


def test_without_a_snapshot_the_glue_has_every_key_with_nan_values(monkeypatch, tmp_path):
    monkeypatch.setenv("WARMBOOK_SNAPSHOTS", str(tmp_path))
    glued = exercise_glue("nothing-run")
    assert len(glued) == 3 * len(EXERCISES)
    assert all(value != value for value in glued.values())


def test_every_exercise_is_in_teaching_md_with_its_label_run_and_check_commands():
    teaching = (REPO_ROOT / "book" / "teaching.md").read_text()
    for exercise in EXERCISES.values():
        assert f":label: {exercise.label}" in teaching
        assert f"python -m helpers exercise {exercise.id}`" in teaching
        assert f"python -m helpers check-exercise {exercise.id}`" in teaching


def test_a_snapshot_made_with_other_parameters_is_refused_and_its_values_are_not_glued(snapshot):
    path = snapshot / "runs" / "evaluate-SmolLM2-135M-Instruct-original.params.yaml"
    recorded = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump(recorded | {"n_items": recorded["n_items"] + 1}))
    _record_runs(get_exercise("3"))
    with pytest.raises(StaleSnapshot, match=r"evaluate-SmolLM2-135M-Instruct-original n_items"):
        check_exercise("3")
    glued = exercise_glue("demo")
    assert glued["exercise_3_expected"] != glued["exercise_3_expected"]  # NaN: not what a rerun should give
    assert glued["exercise_4_expected"] == _reference("4")[0]  # the learning-rate runs did not change


def test_the_demos_own_analysis_glues_its_own_results_which_its_snapshot_will_commit(snapshot):
    own = study_dir("demo")
    for folder in ("runs", "analysis", "figures"):
        shutil.copytree(snapshot / folder, own / folder)
    _write_warm_prompt_ame("demo", 3.25)
    assert exercise_glue("demo")["exercise_1_expected"] == 3.25
    assert exercise_glue("another-study")["exercise_1_expected"] == _reference("1")[0]
