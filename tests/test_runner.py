"""The study runner's scheduling: order, fingerprints, skipping, failure isolation and metadata stripping."""

from pathlib import Path

import nbformat
import pytest
import yaml

from helpers.study.config import load_config
from helpers.study.runner import execute_study, plan_runs, run_status, strip_volatile_metadata

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


@pytest.fixture(autouse=True)
def _book_runs_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("WARMBOOK_BOOK", str(tmp_path / "book"))


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
        f"evaluate-{slug}-cold", f"capabilities-{slug}-warm", "analysis",
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
