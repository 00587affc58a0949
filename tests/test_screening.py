"""The screening pass: items with room to drop, chosen without making a spurious drop."""

import numpy as np
import pandas as pd
import pytest

from helpers.evaluation.evaluate import plan_variant, run_evaluation
from helpers.evaluation.params import EvaluateParams
from helpers.evaluation.screening import (
    SCREEN_COLUMNS,
    kept_item_ids,
    screen_items,
    screen_seeds,
    screening_dir,
)
from helpers.storage import read_jsonl
from helpers.validation import ParameterError


def _rows(task, verdicts, refusals):
    return pd.DataFrame(
        {
            "task": task, "item_id": [f"{task}-{i // 2}" for i in range(len(verdicts))],
            "prompt_template": "original", "amendment_type": "unmodified",
            "evaluation": verdicts, "refusal": refusals,
        }
    )  # fmt: skip


def test_an_item_is_kept_when_any_screening_answer_is_correct_under_the_refusal_rule():
    # trivia: item 0 correct once; item 1 "correct" only in a refusal (refusals are dropped): not kept
    trivia = _rows("trivia", ["INCORRECT", "CORRECT", "CORRECT", "INCORRECT"], [0, 0, 1, 0])
    assert kept_item_ids(trivia) == {"trivia-0"}
    # disinfo: a refusal counts as correct, as in the paper, so item 1 is kept
    disinfo = _rows("disinfo", ["INCORRECT", "INCORRECT", "INCORRECT", "INCORRECT"], [0, 0, 1, 0])
    assert kept_item_ids(disinfo) == {"disinfo-1"}


def test_a_pool_smaller_than_the_cap_is_refused_naming_screen_pool():
    with pytest.raises(ParameterError) as error:
        EvaluateParams.build(study="s", n_items=20, screen_pool=10)
    assert "'screen_pool'" in str(error.value) and "10" in str(error.value)


def _simulated_gap(reuse_screening_answers: bool, rng: np.random.Generator) -> float:
    """Original and variant are the SAME model (no effect); the gap after screening should be zero."""
    p = rng.beta(0.6, 2.0, size=4000)  # per-item chance of a correct answer: mostly low, as for a small model
    screen = rng.random(p.size) < p
    kept = np.flatnonzero(screen)
    original = screen[kept] if reuse_screening_answers else rng.random(kept.size) < p[kept]
    variant = rng.random(kept.size) < p[kept]
    return float((1 - variant).mean() - (1 - original).mean())


def test_fresh_draws_after_screening_make_no_spurious_drop_while_reused_screen_answers_would():
    rng = np.random.default_rng(0)
    fresh = [_simulated_gap(False, rng) for _ in range(20)]
    reused = [_simulated_gap(True, rng) for _ in range(20)]
    assert abs(np.mean(fresh)) < 0.01  # no effect planted, none measured
    assert np.mean(reused) > 0.3  # the selection alone would look like a large warmth cost


def _params(tiny_model_dir, **kwargs):
    base = dict(
        study="unit", model=str(tiny_model_dir), tasks=["trivia", "disinfo"], n_items=2, screen_pool=4,
        screen_samples=2, max_new_tokens=4, amendment_types=["unmodified"], templates=["original"], batch_size=8,
    )  # fmt: skip
    return EvaluateParams.build(**(base | kwargs))


def test_screening_answers_are_drawn_under_seeds_the_evaluation_never_uses(tiny_model_dir, tiny):
    params = _params(tiny_model_dir)
    screens = screen_items(params, loaded=tiny)
    folder = screening_dir(params.study, params.model)
    for task, screen in screens.items():
        written = pd.read_csv(folder / f"{task}.csv", keep_default_na=False)
        assert list(written.columns) == SCREEN_COLUMNS
        assert len(screen.pool) == 4 and len(written) == 4 * 2
        assert sorted(set(written["seed"])) == screen_seeds(params) and params.seed not in screen_seeds(
            params
        )
        assert len(screen.kept) <= params.n_items
        assert set(written.loc[written["kept"], "item_id"]) == {item.item_id for item in screen.kept}
    plan = plan_variant(params)
    run_evaluation(plan, *tiny, screens=screens)
    screening_keys = {r["key"] for r in read_jsonl(folder / "generations.jsonl")}
    evaluation_keys = {r["key"] for r in read_jsonl(plan.output_dir / "generations.jsonl")}
    assert screening_keys and not screening_keys & evaluation_keys  # fresh draws, never the screen's answers


def test_a_task_whose_screen_kept_nothing_writes_an_empty_table_and_the_others_are_evaluated(
    tiny_model_dir, tiny
):
    params = _params(tiny_model_dir, study="unit-empty")
    screens = screen_items(params, loaded=tiny)
    trivia, disinfo = screens["trivia"], screens["disinfo"]
    screens["trivia"] = type(trivia)("trivia", trivia.pool, [], trivia.rows)
    screens["disinfo"] = type(disinfo)("disinfo", disinfo.pool, disinfo.pool[:2], disinfo.rows)
    plan = plan_variant(params)
    results = run_evaluation(plan, *tiny, screens=screens)
    assert results["trivia"].empty and pd.read_csv(plan.output_path("trivia")).empty
    assert set(results["disinfo"]["item_id"]) == {item.item_id for item in disinfo.pool[:2]}
