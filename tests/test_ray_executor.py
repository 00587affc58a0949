"""The run matrix on Ray: a local Ray instance runs a tiny fake study with the local executor's results.

The fake ``execute`` stands in for papermill: it checks that every upstream run finished before it started,
writes the files its stage writes (each opened for exclusive creation, so a second writer of the same file
fails), and fails one chosen run so that blocking is compared too.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from helpers.paths import model_slug, study_dir
from helpers.study.config import load_config
from helpers.study.ray_executor import execute_study_on_ray, run_gpus
from helpers.study.runner import execute_study, plan_runs

ray = pytest.importorskip("ray")
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray workers cannot import test modules

REPO = Path(__file__).resolve().parents[1]
FAILING = "finetune-SmolLM2-135M-Instruct-cold"


def _stage_files(run, study: str) -> list[Path]:
    root, p = study_dir(study), run.parameters
    slug = model_slug(p["model"]) if "model" in p else ""
    return [root / rel for rel in {
        "paper_results": [],
        "scorer_check": [],
        "answers": [],
        "training_data": ["training_data/warm.jsonl", "training_data/cold.jsonl"],
        "finetune": [f"{slug}/finetune/{p.get('style')}/checkpoint-epoch-2/adapter_config.json"],
        "warmth": [f"{slug}/warmth/sociot.csv"],
        "evaluate": [f"{slug}/{p.get('variant')}/{task}.csv" for task in p.get("tasks", [])],
        "capabilities": [f"{slug}/{p.get('variant')}/capabilities.csv"],
        "analysis": ["analysis/tables.csv"],
    }[run.stage]]  # fmt: skip


def fake_execute(run, study: str) -> dict:
    """Write the run's notebook and stage files once; fail if an upstream run has not finished."""
    finished = study_dir(study) / "finished"
    missing = [dep for dep in run.depends_on if not (finished / dep).exists()]
    if missing or run.name == FAILING:
        return {"status": "failed", "failed_cell": 1, "error": f"missing {missing}", "seconds": 0.0}
    for path in [run.output_path(study), *_stage_files(run, study)]:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x") as handle:  # exclusive: a file written by two runs fails the second one
            handle.write(f"{run.name}\n")
    finished.mkdir(exist_ok=True)
    (finished / run.name).touch()
    return {"status": "done", "failed_cell": None, "error": None, "seconds": 0.0}


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.setenv("WARMBOOK_BOOK", str(tmp_path / "book"))
    raw = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text()) | {"study": "on-ray"}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_config(path)


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def test_ray_executor_gives_the_local_executors_outcome_state_files_and_outputs(
    local_ray, config, tmp_path, monkeypatch
):
    results = {}
    for name, executor in (("local", execute_study), ("ray", execute_study_on_ray)):
        monkeypatch.setenv("WARMBOOK_RESULTS", str(tmp_path / name))
        outcome = executor(config, execute=fake_execute)
        results[name] = (outcome, _snapshot(tmp_path / name))
    assert results["ray"] == results["local"]
    outcome = results["ray"][0]
    downstream = {FAILING}
    for run in plan_runs(config):  # dependency order: a run depending on a blocked one is blocked too
        if downstream & set(run.depends_on):
            downstream.add(run.name)
    assert "evaluate-SmolLM2-135M-Instruct-cold" in downstream and "analysis" in downstream
    assert outcome == {
        name: "failed" if name == FAILING else "blocked" if name in downstream else "done" for name in outcome
    }


def test_each_run_writes_only_its_own_files_and_its_own_state(local_ray, config):
    outcome = execute_study_on_ray(config, execute=fake_execute)
    root = study_dir(config.study)
    owners: dict[str, str] = {}
    for run in plan_runs(config):
        if outcome[run.name] != "done":
            continue
        state = json.loads((root / "runs" / f"{run.name}.json").read_text())
        assert state["status"] == "done" and state["parameters"] == run.parameters
        for path in state["outputs"]:
            assert path not in owners, f"{path} written by {owners.get(path)} and {run.name}"
            owners[path] = run.name
            assert (root / path).read_text() == f"{run.name}\n"
    assert owners  # the evaluations, capabilities, fine-tune, warmth... each own their files


def test_a_second_ray_execution_skips_every_finished_run(local_ray, config):
    execute_study_on_ray(config, execute=fake_execute)
    again = execute_study_on_ray(config, execute=fake_execute)
    assert again["evaluate-SmolLM2-135M-Instruct-warm"] == "skipped"
    assert again[FAILING] == "failed"  # failed again: it ran once more, the others were not touched


def test_runs_ask_ray_for_their_gpus(config):
    runs = {run.name: run for run in plan_runs(config)}
    evaluate = runs["evaluate-SmolLM2-135M-Instruct-warm"]
    tensor_parallel = type(evaluate)(
        evaluate.name, evaluate.title, evaluate.params.model_copy(update={"tensor_parallel_size": 2})
    )
    assert run_gpus(tensor_parallel, cluster_gpus=8) == 2
    assert run_gpus(evaluate, cluster_gpus=8) == 1
    assert run_gpus(evaluate, cluster_gpus=0) == 0
    assert run_gpus(runs["analysis"], cluster_gpus=8) == 0
    on_cpu = type(evaluate)(
        evaluate.name, evaluate.title, evaluate.params.model_copy(update={"device": "cpu"})
    )
    assert run_gpus(on_cpu, cluster_gpus=8) == 0
