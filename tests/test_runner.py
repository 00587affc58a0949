"""The study runner's scheduling: order, fingerprints, skipping, failure isolation and metadata stripping."""

from pathlib import Path

import nbformat
import pytest
import yaml

from helpers.paths import study_dir
from helpers.study.config import load_config
from helpers.study.runner import execute_study, plan_runs, run_status, strip_volatile_metadata, with_upstream
from helpers.validation import ParameterError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def demo_config_path(tmp_path):
    raw = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text())
    raw["study"] = "scheduling"
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _recorder(fail=()):
    calls = []

    def execute(run, study):
        calls.append(run.name)
        if run.name in fail:
            return {"status": "failed", "failed_cell": 3, "error": "RuntimeError: boom", "seconds": 0.0}
        output = run.output_path(study)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text("{}")
        return {"status": "done", "failed_cell": None, "error": None, "seconds": 0.0}

    return execute, calls


def test_runs_are_in_dependency_order(demo_config_path):
    runs = plan_runs(load_config(demo_config_path))
    position = {run.name: i for i, run in enumerate(runs)}
    for run in runs:
        assert all(position[dep] < position[run.name] for dep in run.depends_on)
    assert runs[-1].name == "analysis"
    names = {run.name for run in runs}
    assert {
        f"evaluate-SmolLM2-135M-Instruct-{v}" for v in ("original", "warm", "cold", "warm_prompt")
    } <= names


def test_second_run_skips_everything(demo_config_path):
    config = load_config(demo_config_path)
    execute, calls = _recorder()
    execute_study(config, execute=execute)
    first = len(calls)
    outcome = execute_study(config, execute=execute)
    assert first == len(plan_runs(config))
    assert len(calls) == first
    assert set(outcome.values()) == {"skipped"}


def test_changing_one_parameter_reruns_only_affected_runs_and_dependents(demo_config_path):
    execute, calls = _recorder()
    execute_study(load_config(demo_config_path), execute=execute)
    raw = yaml.safe_load(demo_config_path.read_text())
    raw["finetune"]["learning_rate"] = 1e-4
    demo_config_path.write_text(yaml.safe_dump(raw))
    calls.clear()
    execute_study(load_config(demo_config_path), execute=execute)
    slug = "SmolLM2-135M-Instruct"
    assert set(calls) == {
        f"finetune-{slug}-warm", f"finetune-{slug}-cold", f"warmth-{slug}", f"evaluate-{slug}-warm",
        f"evaluate-{slug}-cold", f"capabilities-{slug}-warm", "answers", "analysis",
    }  # fmt: skip


def test_a_failed_run_blocks_only_its_dependents(demo_config_path):
    config = load_config(demo_config_path)
    slug = "SmolLM2-135M-Instruct"
    execute, calls = _recorder(fail={f"finetune-{slug}-cold"})
    outcome = execute_study(config, execute=execute)
    assert outcome[f"finetune-{slug}-cold"] == "failed"
    assert outcome[f"evaluate-{slug}-cold"] == "blocked"
    assert outcome[f"warmth-{slug}"] == "blocked"
    assert outcome[f"evaluate-{slug}-warm"] == "done"
    assert outcome[f"evaluate-{slug}-original"] == "done"
    status = {run.name: s for run, s, _ in run_status(config)}
    assert status[f"finetune-{slug}-cold"] == "failed"
    assert status[f"evaluate-{slug}-cold"] == "pending"


def test_strip_volatile_metadata_removes_timings_and_random_ids(tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("1 + 1")]
    notebook.cells[0].metadata["execution"] = {"iopub.execute_input": "2026-11-25T10:00:00"}
    notebook.cells[0].metadata["papermill"] = {"duration": 0.5}
    notebook.metadata["papermill"] = {"start_time": "2026-11-25T10:00:00"}
    path = tmp_path / "nb.ipynb"
    nbformat.write(notebook, path)
    strip_volatile_metadata(path)
    cleaned = nbformat.read(path, as_version=4)
    assert "papermill" not in cleaned.metadata
    assert cleaned.cells[0]["id"] == "cell-0"
    assert "execution" not in cleaned.cells[0].metadata and "papermill" not in cleaned.cells[0].metadata


def _writing_recorder():
    """Runs that write their outputs (an evaluation CSV, a training file) as a real stage would."""
    calls = []

    def execute(run, study):
        calls.append(run.name)
        run.output_path(study).parent.mkdir(parents=True, exist_ok=True)
        run.output_path(study).write_text("{}")
        if run.stage == "training_data":
            folder = study_dir(study) / "training_data"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "warm.jsonl").write_text('{"a": 1}\n')
        if run.stage == "evaluate":
            path = study_dir(study) / "SmolLM2-135M-Instruct" / run.params.variant / "trivia.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("task,output\ntrivia,Paris\n")
        return {"status": "done", "failed_cell": None, "error": None, "seconds": 0.0}

    return execute, calls


def test_a_damaged_output_makes_its_run_and_dependents_stale(demo_config_path):
    config = load_config(demo_config_path)
    execute, calls = _writing_recorder()
    execute_study(config, execute=execute)
    csv = study_dir(config.study) / "SmolLM2-135M-Instruct" / "warm" / "trivia.csv"
    csv.write_text("garbage")
    status = {run.name: s for run, s, _ in run_status(config)}
    assert status["evaluate-SmolLM2-135M-Instruct-warm"] == "stale"
    assert status["analysis"] == "stale" and status["evaluate-SmolLM2-135M-Instruct-cold"] == "done"
    calls.clear()
    execute_study(config, execute=execute)
    assert calls == ["evaluate-SmolLM2-135M-Instruct-warm"], (
        "the redo restored the same CSV: readers stay done"
    )
    assert {s for _, s, _ in run_status(config)} == {"done"}


def test_a_changed_upstream_output_reruns_what_read_it(demo_config_path):
    config = load_config(demo_config_path)
    execute, calls = _writing_recorder()
    execute_study(config, execute=execute)
    (study_dir(config.study) / "training_data" / "warm.jsonl").write_text('{"a": 2}\n')
    calls.clear()
    execute_study(config, execute=execute)
    assert "training_data" in calls and "finetune-SmolLM2-135M-Instruct-warm" not in calls, (
        "redone with identical outputs, training_data leaves its dependents done"
    )


def test_force_redoes_one_done_run(demo_config_path):
    config = load_config(demo_config_path)
    execute, calls = _writing_recorder()
    execute_study(config, execute=execute)
    calls.clear()
    outcome = execute_study(config, force={"analysis"}, execute=execute)
    assert calls == ["analysis"] and outcome["analysis"] == "done"
    with pytest.raises(ParameterError):
        execute_study(config, force={"no-such-run"}, execute=execute)


def test_upto_takes_a_run_and_every_run_it_reads_from_but_not_its_dependents():
    runs = plan_runs(load_config("configs/demo.yaml"))
    wanted = with_upstream(runs, {"evaluate-SmolLM2-135M-Instruct-warm"})
    assert wanted == {
        "evaluate-SmolLM2-135M-Instruct-warm",
        "finetune-SmolLM2-135M-Instruct-warm",
        "training_data",
    }
    assert with_upstream(runs, {"training_data"}) == {"training_data"}
    with pytest.raises(ParameterError, match="no-such-run"):
        with_upstream(runs, {"no-such-run"})
