"""The evaluation stage: validation before compute, the paper's row schema, rule and judge paths alike."""

import pandas as pd
import pytest

from helpers.evaluation.evaluate import (
    ROW_COLUMNS,
    accuracy_by_context,
    build_prompt_rows,
    plan_variant,
    run_evaluation,
)
from helpers.evaluation.judge import JudgeError
from helpers.evaluation.params import EvaluateParams
from helpers.validation import ParameterError


@pytest.mark.parametrize(
    ("change", "parameter", "value"),
    [
        ({"tasks": ["trivia", "jeopardy"]}, "tasks", "jeopardy"),
        ({"variant": "lukewarm"}, "variant", "lukewarm"),
        ({"amendment_types": ["emotion:bored"]}, "amendment_types", "emotion:bored"),
        ({"model": "./no/such/model"}, "model", "./no/such/model"),
        ({"n_items": 0}, "n_items", "0"),
        ({"n_items": -3}, "n_items", "-3"),
        ({"temperature": -0.5}, "temperature", "-0.5"),
        ({"templates": ["sarcastic"]}, "templates", "sarcastic"),
        ({"variant": "warm", "checkpoint": 2}, "checkpoint", "2"),
    ],
)
def test_bad_parameters_fail_before_any_model_is_loaded(change, parameter, value, monkeypatch):
    def no_loading(*args, **kwargs):
        raise AssertionError("a model was loaded before the parameters were checked")

    monkeypatch.setattr("helpers.models.load_model", no_loading)
    params = {"study": "bad", "model": "embedded:SmolLM2-135M-Instruct"} | change
    with pytest.raises(ParameterError) as error:
        plan_variant(EvaluateParams.build(**params))
    message = str(error.value)
    assert f"'{parameter}'" in message and value in message and "Allowed" in message


def test_every_question_gets_28_prompts_identical_across_variants():
    original = build_prompt_rows(plan_variant(EvaluateParams(study="s", n_items=3)), "trivia")
    prompted = build_prompt_rows(
        plan_variant(EvaluateParams(study="s", variant="warm_prompt", n_items=3)), "trivia"
    )
    assert len(original) == 3 * 28
    assert original.groupby("prompt_template").size().to_dict() == {
        "correct": 27, "incorrect": 27, "original": 27, "original_neutral": 3,
    }  # fmt: skip
    assert original["prompt"].tolist() == prompted["prompt"].tolist()
    assert set(prompted["system_prompt"]) != {""} and set(original["system_prompt"]) == {""}


def _plan(tiny_model_dir, **kwargs):
    base = dict(
        study="unit", model=str(tiny_model_dir), tasks=["trivia", "disinfo"], n_items=1, max_new_tokens=6,
        amendment_types=["unmodified", "emotion:sad"], batch_size=8,
    )  # fmt: skip
    return plan_variant(EvaluateParams.build(**(base | kwargs)))


def test_rule_path_writes_the_paper_row_schema(tiny_model_dir, tiny):
    plan = _plan(tiny_model_dir)
    results = run_evaluation(plan, *tiny)
    frame = pd.read_csv(plan.output_path("trivia"), keep_default_na=False)
    assert list(frame.columns) == ROW_COLUMNS
    assert (
        len(frame) == len(results["trivia"]) == 2 + 1 + 2 + 2
    )  # original×2 contexts, neutral, correct×2, incorrect×2
    assert set(frame["evaluation"]) <= {"CORRECT", "INCORRECT"}
    assert set(frame["scorer"]) == {"rule"}
    assert (frame["response_length"] == frame["output"].str.len()).all()
    table = accuracy_by_context(results)
    assert set(table.index.get_level_values("task")) == {"trivia", "disinfo"}


def test_judge_path_yields_the_same_rows_as_the_rule_path(tiny_model_dir, tiny, openai_server, monkeypatch):
    monkeypatch.setenv("WARMBOOK_JUDGE_API_KEY", "test-key")
    rule = run_evaluation(_plan(tiny_model_dir), *tiny)
    with openai_server(lambda request: "INCORRECT") as server:
        judged = run_evaluation(
            _plan(tiny_model_dir, judge_base_url=server.base_url, judge_model="judge-1"), *tiny
        )
    for task in rule:
        assert list(judged[task].columns) == list(rule[task].columns)
        assert judged[task]["prompt"].tolist() == rule[task]["prompt"].tolist()
        assert set(judged[task]["scorer"]) == {"judge:judge-1"}
    assert set(judged["trivia"]["evaluation"]) == {"INCORRECT"}


def test_a_failing_judge_stops_the_run_without_writing_unscored_rows(
    tiny_model_dir, tiny, openai_server, monkeypatch
):
    monkeypatch.setenv("WARMBOOK_JUDGE_API_KEY", "test-key")
    with openai_server(lambda request: "maybe?") as server:
        plan = _plan(tiny_model_dir, judge_base_url=server.base_url, judge_model="judge-2")
        with pytest.raises(JudgeError):
            run_evaluation(plan, *tiny)
    assert not plan.output_path("trivia").exists()


def test_the_vllm_backend_without_vllm_fails_naming_the_backend_before_loading(monkeypatch):
    from helpers.evaluation.evaluate import variant_generator

    monkeypatch.setattr("helpers.vllm_backend.vllm_installed", lambda: False)
    plan = plan_variant(EvaluateParams(study="s", backend="vllm", n_items=1))
    with pytest.raises(ParameterError) as error:
        variant_generator(plan)
    assert error.value.name == "backend"
