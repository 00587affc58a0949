"""Scoring evaluation rows: each answer gets a verdict (rule scorer or LLM judge), a refusal flag and a length.

The paper's exclusion rule for refusals is applied later, by the analysis (``helpers.evaluation.refusal``): the
rows written here keep every answer.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from helpers.evaluation.judge import JudgeItem, LLMJudge, require_verdicts
from helpers.evaluation.refusal import is_refusal
from helpers.evaluation.rule_scorer import score_rule

# ----------------------------------------------------------------------------------------------- scoring rows

REQUIRED_COLUMNS = ("task", "question", "correct_answer", "incorrect_answer", "output")


def _options(value: object) -> dict[str, str] | None:
    """MedQA options from a dict, a JSON string or a Python dict literal (the authors' CSVs); empty: None."""
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = ast.literal_eval(value)
    return {str(k): str(v) for k, v in parsed.items()}


def _text(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def score_answers(
    rows: pd.DataFrame, judge: LLMJudge | None = None, cache_path: Path | None = None
) -> pd.DataFrame:
    """Fill ``evaluation``, ``refusal``, ``scorer`` and ``response_length`` of evaluation rows (CONTRIBUTING.md).

    Rows need ``task, question, correct_answer, incorrect_answer, output`` (Disinfo: the ground truth and its
    false counterpart as the two answers); MedQA rows may carry ``options`` (dict, JSON or dict literal), and
    any row its ``prompt``, which the rule scorer needs to tell an echo of the user's belief from the answer's
    own claim (``helpers.evaluation.rule_scorer.score_rule``).
    ``refusal`` is the paper's regex (0/1) and ``response_length`` counts characters; every row is scored,
    refusals included, because the paper's exclusion rule is applied later by ``helpers.evaluation.refusal.apply_refusal_rule``.

    Without a judge the rules of ``score_rule`` score (``scorer = "rule"``). With one, each verdict is appended to
    ``cache_path`` (JSONL) as soon as it arrives, keyed by the judge model and the whole judge prompt
    (``helpers.evaluation.judge.judge_cache_key``), so a rerun asks only for what is missing; if any answer
    gets no verdict, a JudgeError is raised after every other verdict is saved, and nothing is scored.
    """
    missing = [column for column in REQUIRED_COLUMNS if column not in rows.columns]
    if missing:
        raise ValueError(f"score_answers: rows lack the columns {missing} (need {list(REQUIRED_COLUMNS)})")
    scored = rows.copy()
    outputs = [_text(value) for value in scored["output"]]
    options = scored["options"] if "options" in scored.columns else [None] * len(scored)
    prompts = (
        [_text(p) or None for p in scored["prompt"]] if "prompt" in scored.columns else [None] * len(scored)
    )
    evaluations: list[str] = []
    judge_items: list[JudgeItem] = []
    for row, output, row_options, prompt in zip(
        scored.itertuples(index=False), outputs, options, prompts, strict=True
    ):
        task, question = str(row.task), _text(row.question)
        correct, incorrect = _text(row.correct_answer), _text(row.incorrect_answer)
        if judge is None:
            evaluations.append(score_rule(task, output, correct, incorrect, _options(row_options), prompt))
            continue
        judge_items.append(JudgeItem.answer(task, question, correct, output, incorrect or None))
    if judge is not None:
        evaluations = require_verdicts(judge, judge.judge_many(judge_items, cache_path), cache_path)
    scored["evaluation"] = evaluations
    scored["refusal"] = [int(is_refusal(output)) for output in outputs]
    scored["scorer"] = "rule" if judge is None else judge.scorer
    scored["response_length"] = [len(output) for output in outputs]
    return scored
