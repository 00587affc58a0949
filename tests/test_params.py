"""Each stage has one parameter object, and its notebook's parameters cell lists exactly its names."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.params import StageParams
from helpers.study.config import STAGES, load_config
from helpers.study.runner import execute_study, fingerprints, plan_runs
from helpers.validation import ParameterError

REPO = Path(__file__).resolve().parents[1]


def parameters_cell(notebook: Path) -> str:
    cells = json.loads(notebook.read_text())["cells"]
    tagged = [c for c in cells if "parameters" in c["metadata"].get("tags", [])]
    assert len(tagged) == 1, f"{notebook.name} needs exactly one cell tagged 'parameters'"
    return "".join(tagged[0]["source"])


def cell_mismatch(notebook: Path, params: type[StageParams]) -> tuple[set[str], set[str]]:
    """(names the object has but the cell lacks, names the cell has but the object lacks)."""
    tree = ast.parse(parameters_cell(notebook))
    names = {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets}
    fields = set(params.model_fields)
    return fields - names, names - fields


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_parameters_cell_lists_exactly_the_stage_objects_names(stage):
    missing, extra = cell_mismatch(REPO / "notebooks" / f"{stage}.ipynb", STAGES[stage])
    assert not missing and not extra, f"{stage}: cell lacks {missing}, object lacks {extra}"


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_notebook_defaults_validate_and_are_small(stage):
    namespace: dict = {}
    exec(parameters_cell(REPO / "notebooks" / f"{stage}.ipynb"), namespace)
    params = STAGES[stage].from_notebook(namespace)
    for size in ("n_conversations", "n_validation", "n_prompts", "n_items"):
        value = getattr(params, size, None)
        assert value is None or value <= 40, f"{stage}.{size} = {value}: notebook defaults run a small job"


def test_a_planted_extra_name_is_caught(tmp_path):
    notebook = json.loads((REPO / "notebooks" / "evaluate.ipynb").read_text())
    cell = next(c for c in notebook["cells"] if "parameters" in c["metadata"].get("tags", []))
    cell["source"] = "".join(cell["source"]).replace("n_items = ", "n_item = ")
    planted = tmp_path / "evaluate.ipynb"
    planted.write_text(json.dumps(notebook))
    assert cell_mismatch(planted, STAGES["evaluate"]) == ({"n_items"}, {"n_item"})


def test_a_bad_value_names_the_parameter_and_what_is_allowed():
    with pytest.raises(ParameterError) as error:
        STAGES["evaluate"].build(variant="friendly")
    assert error.value.name == "variant" and "warm_prompt" in error.value.allowed
    with pytest.raises(ParameterError) as error:
        STAGES["finetune"].build(study="../elsewhere")
    assert error.value.name == "study"


def test_loading_a_config_does_not_import_torch():
    code = (
        "import sys; from helpers.study.config import load_config; from helpers.study.runner import plan_runs;"
        "plan_runs(load_config('configs/demo.yaml')); print('torch' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_sections_may_not_set_what_the_runner_sets(tmp_path):
    config = tmp_path / "study.yaml"
    config.write_text(
        (REPO / "configs" / "demo.yaml").read_text().replace("evaluate:\n", "evaluate:\n  variant: warm\n")
    )
    with pytest.raises(ParameterError) as error:
        load_config(config)
    assert error.value.name == "evaluate.variant"


def test_the_paper_config_plans_with_every_paper_size():
    runs = {run.name: run for run in plan_runs(load_config(REPO / "configs" / "paper.yaml"))}
    assert len([r for r in runs.values() if r.stage == "evaluate"]) == 16
    evaluation = runs["evaluate-Llama-3.1-70B-Instruct-warm"].params
    assert (evaluation.n_items, evaluation.max_new_tokens, evaluation.temperature) == (500, 300, 0.8)
    assert runs["finetune-Qwen2.5-32B-Instruct-cold"].params.effective_batch == 16


def _copy_repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for folder in ("src", "notebooks", "data"):
        shutil.copytree(
            REPO / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
        )
    return root


def test_editing_a_helper_marks_exactly_its_dependent_runs_stale(tmp_path):
    root = _copy_repo(tmp_path)
    runs = plan_runs(load_config(REPO / "configs" / "demo.yaml"))
    before = fingerprints(runs, root=root)
    scorer = root / "src" / "helpers" / "evaluation" / "rule_scorer.py"
    scorer.write_text(scorer.read_text() + "\n# a changed scoring rule\n")
    after = fingerprints(runs, root=root)
    stale = {name for name in before if before[name] != after[name]}
    slug = "SmolLM2-135M-Instruct"
    # The notebooks that import the scorer (directly or through evaluation/scoring) and the runs that read them.
    assert stale == {
        *(f"evaluate-{slug}-{v}" for v in ("original", "warm", "cold", "warm_prompt")),
        f"capabilities-{slug}-original", f"capabilities-{slug}-warm", "scorer_check", "answers", "analysis",
    }  # fmt: skip


def test_editing_a_data_file_marks_its_readers_stale(tmp_path):
    root = _copy_repo(tmp_path)
    runs = plan_runs(load_config(REPO / "configs" / "demo.yaml"))
    before = fingerprints(runs, root=root)
    mmlu = root / "data" / "mmlu" / "test.csv"
    mmlu.write_text(mmlu.read_text() + "\n")
    after = fingerprints(runs, root=root)
    stale = {name for name in before if before[name] != after[name]}
    assert stale == {r.name for r in runs if r.stage == "capabilities"} | {"analysis"}


def test_an_unresolvable_hub_model_stops_the_study_before_any_run(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    config = tmp_path / "study.yaml"
    config.write_text(
        (REPO / "configs" / "demo.yaml")
        .read_text()
        .replace('"embedded:SmolLM2-135M-Instruct"]', '"nobody/no-such-model"]', 1)
    )
    executed = []
    with pytest.raises(ParameterError) as error:
        execute_study(load_config(config), execute=lambda run, study: executed.append(run.name))
    assert (error.value.name, error.value.value, executed) == ("models", "nobody/no-such-model", [])


def test_the_paper_config_builds_every_evaluation_prompt_without_a_model():
    from helpers.evaluation.evaluate import build_prompt_rows, plan_variant

    runs = plan_runs(load_config(REPO / "configs" / "paper.yaml"))
    original = next(r for r in runs if r.name == "evaluate-Llama-3.1-8B-Instruct-original")
    plan = plan_variant(original.params)
    sizes = {task: len(build_prompt_rows(plan, task)) for task in original.params.tasks}
    assert sizes == {"trivia": 500 * 28, "truthfulqa": 500 * 28, "disinfo": 125 * 28, "medqa": 500 * 28}


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_notebooks_are_valid_with_cell_ids(stage):
    import nbformat

    notebook = nbformat.read(REPO / "notebooks" / f"{stage}.ipynb", as_version=4)
    nbformat.validate(notebook)
    assert all("id" in cell for cell in notebook.cells)
