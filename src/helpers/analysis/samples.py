"""The authors' released samples of scored outputs, read the way their scripts read them (``python -m helpers samples``).

The paper's repository (warm_ai_2025) ships ``sample_data/<model>/<original|warm>/<task>_<variant>_outputs.csv``:
a few scored answers per model and task, each with the GPT-4o judge's CORRECT/INCORRECT label, and
``statistical_models/model_configs_sample.py`` to run the four logistic regressions on them. This module does the
same with this project's code, for one or more model folders pooled:

* ``scorer``: how often the offline rule scorer (:func:`helpers.evaluation.rule_scorer.score_rule`, through
  :func:`helpers.evaluation.scoring.score_answers`) agrees with the authors' labels, per task, beside the
  majority-label baseline and Cohen's kappa (statsmodels ``cohens_kappa``), so agreement is read against chance;
* ``models``: the average marginal effects (pp) of the paper's models 1-4 (:mod:`helpers.analysis.glm`) on the
  pooled rows, with the authors' refusal rule applied to the output text (:func:`helpers.evaluation.refusal.is_refusal`).

With 20 rows per file these are checks of the machinery, not estimates of the paper's effects.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from statsmodels.stats.inter_rater import cohens_kappa

from helpers.analysis.glm import (
    GlmResult,
    model_1_main_effects,
    model_2_context_group,
    model_3_each_context,
    model_4_belief,
)
from helpers.analysis.reference import load_sample_folder
from helpers.evaluation.scoring import score_answers
from helpers.paths import DATA_DIR
from helpers.vocabulary import TASKS

ITEMS_DIR = DATA_DIR / "paper_items"

# Bundled items that supply answers a trimmed sample file lacks: task -> (file, key column, answer columns).
_ITEM_ANSWERS = {
    "trivia": ("trivia.jsonl", "content_key", ("correct_answer", "incorrect_answer")),
    "truthfulqa": ("truthfulqa.jsonl", "content_key", ("correct_answer", "incorrect_answer")),
    "disinfo": ("disinfo.jsonl", "prompt_disinfo", ("ground_truth", "ground_false")),
}


def load_samples(folders: Sequence[Path | str]) -> pd.DataFrame:
    """Evaluation rows of every model folder (:func:`helpers.analysis.reference.load_sample_folder`), pooled.

    Answers still missing after the folder's own files (a warm-only question, or the TriviaQA/TruthfulQA answer
    "None" lost to an empty cell) are looked up by question text in the bundled paper items (data/MANIFEST.md).
    """
    rows = pd.concat([load_sample_folder(folder) for folder in folders], ignore_index=True)
    for task, (filename, key, (correct, incorrect)) in _ITEM_ANSWERS.items():
        items = pd.read_json(ITEMS_DIR / filename, lines=True, dtype=False).drop_duplicates(key)
        items[key] = items[key].astype(str).str.strip()
        answers = items.set_index(key)
        for column, source in (("correct_answer", correct), ("incorrect_answer", incorrect)):
            missing = rows["task"].eq(task) & (rows[column].isna() | rows[column].eq(""))
            rows.loc[missing, column] = rows.loc[missing, "item_id"].map(answers[source])
    return rows


def scorer_agreement(rows: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per task: ``n`` labelled rows, the rule scorer's ``agreement`` with the authors' labels, the ``baseline``
    share of the majority label (what always answering that label would score) and Cohen's ``kappa``.

    Rows without a CORRECT/INCORRECT label or without a correct answer to score against are left out. Kappa is
    NaN when it is undefined (both raters give one and the same label throughout).
    """
    labelled = rows[rows["evaluation"].isin(["CORRECT", "INCORRECT"]) & rows["correct_answer"].notna()]
    scored = score_answers(labelled.drop(columns=["evaluation"]))
    report: dict[str, dict[str, float]] = {}
    for task in TASKS:
        mask = labelled["task"].eq(task).to_numpy()
        if not mask.any():
            continue
        authors = labelled["evaluation"].to_numpy()[mask]
        rule = scored["evaluation"].to_numpy()[mask]
        table = pd.crosstab(
            pd.Categorical(authors, ["CORRECT", "INCORRECT"]),
            pd.Categorical(rule, ["CORRECT", "INCORRECT"]),
            dropna=False,
        ).to_numpy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            kappa = float(cohens_kappa(table).kappa)
        report[task] = {
            "n": int(mask.sum()),
            "agreement": float(np.mean(authors == rule)),
            "baseline": float(pd.Series(authors).value_counts(normalize=True).iloc[0]),
            "kappa": kappa,
        }
    return report


def _model_summary(result: GlmResult, key: str) -> dict[str, object]:
    """One fitted model as JSON-ready values: AMEs (pp) and both p-values keyed by ``key``, n and notes."""
    ame = result.ame.set_index(key)
    return {
        "n_obs": result.n_obs,
        "fitted": result.ok,
        "ame": ame["ame_pp"].astype(float).to_dict(),
        "p_value": ame["p_value"].astype(float).to_dict(),
        "p_value_logodds": ame["p_value_logodds"].astype(float).to_dict(),
        "notes": list(result.notes),
    }


def glm_summary(rows: pd.DataFrame, variant: str = "warm") -> dict[str, dict[str, object]]:
    """The paper's models 1-4 on the pooled rows: model 1 keyed by effect (``fine_tuning``, ``dataset:<task>``),
    models 2-4 by condition (model 4: ``no_belief``, ``belief`` and each belief x context group)."""
    return {
        "model_1": _model_summary(model_1_main_effects(rows, variant), "effect"),
        "model_2": _model_summary(model_2_context_group(rows, variant), "condition"),
        "model_3": _model_summary(model_3_each_context(rows, variant), "condition"),
        "model_4": _model_summary(model_4_belief(rows, variant), "condition"),
    }


def _json_ready(value: object) -> object:
    """NaN and infinities become ``None`` (JSON has no NaN); containers are converted recursively."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def samples_report(folders: Sequence[Path | str]) -> dict[str, object]:
    """What ``python -m helpers samples FOLDER ... --json`` prints: folders, models, ``scorer`` and ``models``."""
    rows = load_samples(folders)
    return _json_ready(
        {
            "folders": [str(folder) for folder in folders],
            "sample_models": sorted(rows["model"].unique()),
            "rows": len(rows),
            "refusals": int(rows["refusal"].sum()),
            "scorer": scorer_agreement(rows),
            "models": glm_summary(rows),
        }
    )


def format_report(report: dict[str, object]) -> str:
    """The report as a few readable lines (``samples`` without ``--json``)."""
    lines = [f"{report['rows']} rows of {', '.join(report['sample_models'])}; {report['refusals']} refusals"]
    for task, numbers in report["scorer"].items():
        kappa = "n/a" if numbers["kappa"] is None else f"{numbers['kappa']:.2f}"
        lines.append(
            f"rule scorer, {task}: agreement {numbers['agreement']:.1%} of {numbers['n']} "
            f"(majority baseline {numbers['baseline']:.1%}), kappa {kappa}"
        )
    for name, model in report["models"].items():
        effects = ", ".join(
            f"{key} {'n/a' if value is None else f'{value:+.2f}'} pp" for key, value in model["ame"].items()
        )
        lines.append(f"{name} ({model['n_obs']} answers): {effects or 'not fitted'}")
    return "\n".join(lines)


def print_samples_report(folders: Sequence[Path | str], as_json: bool) -> int:
    """Entry point of ``python -m helpers samples``: print the report (one JSON object with ``--json``)."""
    report = samples_report(folders)
    print(json.dumps(report, indent=2) if as_json else format_report(report))
    return 0
