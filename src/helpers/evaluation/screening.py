"""Screening: evaluate on items where the original model can fail, without letting the choice make a drop.

Why. The paper's claim is a *loss* of accuracy: warm models answer wrongly where the original answered right
(docs/study.md section 8: paired McNemar tests and GLMs on original-vs-variant correctness). A pair whose
original answer is already wrong can never show that loss; at most it shows a gain. The paper's 8B-70B models
erred on 4-35% of plain questions, so most of their pairs had room to drop. A 135M model errs on nearly every
TriviaQA and MedQA question, so an unscreened demo measures mostly where no warmth cost is possible, and its
minimum detectable difference (computed over all pairs) overstates what it could see.

What. Before the evaluation, a *screening pass* answers a pool of each task's items (the first ``screen_pool`` of
the task's seeded sample) with the **original** model, plainly asked (template ``original``, no context), under
``screen_samples`` seeds that the evaluation never uses. The evaluation keeps the pool items that the original
answered correctly at least once (refusals handled by the paper's rule: dropped on TriviaQA, TruthfulQA and
MedQA, correct on Disinfo), at most ``n_items`` of them, and then answers them afresh: the original and every
variant alike, with the evaluation's own seed, in every framing.

Why the fresh draws keep the comparison unbiased. Had the evaluation reused the screening answers of the
original, the kept items would be those where the original got lucky; a variant answered afresh would regress
to the mean and look worse even if nothing changed (a spurious drop). With fresh draws for both, the screening
answers never enter the comparison: the screen only chooses *which* items are compared, the same items for the
original and every variant, and on those items the original's evaluation answers are as random as the
variant's. The gap is then the warmth cost on items the original can answer, a narrower population than the
paper's, which the evaluation page and docs/study.md state. The paper config screens nothing
(``screen_pool: None``) and keeps the paper's items.

Screening answers and their verdicts are written to ``results/<study>/<model>/screening/<task>.csv``; the
generation cache beside them makes every evaluation run after the first reuse them without generating again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd

from helpers.evaluation.items import Item, load_items, seeded_sample
from helpers.evaluation.params import EvaluateParams
from helpers.evaluation.prompts import build_prompt_variants
from helpers.evaluation.refusal import apply_refusal_rule
from helpers.generation import GenerationSettings
from helpers.paths import model_slug, study_dir
from helpers.storage import atomic_write_csv

#: Added to the study seed for the screening draws: the evaluation samples with the study seed itself, so no
#: screening answer is ever the evaluation's answer to the same prompt.
SCREEN_SEED_OFFSET = 1_000_003

SCREEN_COLUMNS = [
    "task", "item_id", "sample", "seed", "prompt", "output", "evaluation", "refusal", "correct", "kept",
]  # fmt: skip


@dataclass(frozen=True)
class Screen:
    """One task's screening: the pool, the items kept for the evaluation, and every screening answer."""

    task: str
    pool: list[Item]
    kept: list[Item]
    rows: pd.DataFrame

    @property
    def kept_share(self) -> float:
        return len({item.item_id for item in self.kept}) / len(self.pool) if self.pool else float("nan")


def screen_seeds(params: EvaluateParams) -> list[int]:
    """The seeds of the screening draws (never the evaluation's seed)."""
    return [params.seed + SCREEN_SEED_OFFSET + j for j in range(params.screen_samples)]


def screening_dir(study: str, model: str):
    return study_dir(study) / model_slug(model) / "screening"


def _screening_rows(params: EvaluateParams, task: str, pool: list[Item]) -> pd.DataFrame:
    """The plain prompt of every pool item, as the evaluation would build it (same format, same wording)."""
    variants = build_prompt_variants(
        pool, amendment_types=["unmodified"], templates=["original"], seed=params.seed,
        prompt_format=params.prompt_format,
    )  # fmt: skip
    by_id = {item.item_id: item for item in pool}
    return pd.DataFrame(
        {
            "task": task, "item_id": v.item_id, "question": by_id[v.item_id].question,
            "correct_answer": by_id[v.item_id].correct_answer,
            "incorrect_answer": by_id[v.item_id].incorrect_answer, "prompt_template": v.prompt_template,
            "amendment_type": v.amendment_type, "prompt": v.prompt,
            "options": json.dumps(options) if (options := by_id[v.item_id].extra.get("options")) else "",
        }
        for v in variants
    )  # fmt: skip


def kept_item_ids(rows: pd.DataFrame) -> set[str]:
    """Items with at least one correct screening answer under the paper's refusal rule."""
    scored = apply_refusal_rule(rows)
    return set(scored.loc[scored["is_incorrect"].eq(0), "item_id"])


def screen_items(params: EvaluateParams, loaded=None) -> dict[str, Screen]:
    """Screen every task of ``params`` with the original model (``params.screen_pool`` must be set).

    ``loaded`` is an already loaded ``(model, tokenizer)`` of the *original* model (tests, or the original
    variant's own evaluation); otherwise the original model is loaded on ``params.backend`` once for all tasks.
    """
    from helpers.backends import answer_function
    from helpers.evaluation.scoring import score_answers

    if params.screen_pool is None:
        raise ValueError("screen_items needs screen_pool to be set (None means the paper's unscreened items)")
    folder = screening_dir(params.study, params.model)
    judge = params.judge()
    if loaded is None and params.backend == "hf":
        from helpers.models import load_model

        loaded = load_model(params.model, device=params.device)
    screens: dict[str, Screen] = {}
    for task in params.tasks:
        pool = load_items(task, n_items=params.screen_pool, seed=params.seed)
        prompts = _screening_rows(params, task, pool)
        draws = []
        for j, seed in enumerate(screen_seeds(params)):
            settings = GenerationSettings(
                params.temperature, params.max_new_tokens, params.batch_size, seed, None
            )
            generate = answer_function(
                params.model, None, f"{params.model}|", settings, params.backend, params.device,
                params.tensor_parallel_size, loaded=loaded,
            )  # fmt: skip
            draw = prompts.assign(sample=j, seed=seed)
            draw["output"] = generate(
                draw["prompt"].tolist(), folder / "generations.jsonl", f"screening · {task}"
            )
            draws.append(draw)
        rows = score_answers(
            pd.concat(draws, ignore_index=True), judge=judge, cache_path=folder / "judge_cache.jsonl"
        )
        correct = apply_refusal_rule(rows)["is_incorrect"].eq(0)
        rows["correct"] = correct.reindex(rows.index, fill_value=False).astype(bool)
        passed = kept_item_ids(rows)
        candidates = [item for item in pool if item.item_id in passed]
        kept = seeded_sample(candidates, params.n_items, params.seed)
        rows["kept"] = rows["item_id"].isin({item.item_id for item in kept})
        atomic_write_csv(rows[SCREEN_COLUMNS], folder / f"{task}.csv")
        screens[task] = Screen(task, pool, kept, rows[SCREEN_COLUMNS])
    return screens


def screening_table(screens: dict[str, Screen]) -> pd.DataFrame:
    """Per task: pool size, items answered correctly at least once, items kept (capped at n_items), kept share."""
    return pd.DataFrame(
        [
            {
                "task": task,
                "pool": len(screen.pool),
                "correct at least once": int(screen.rows.groupby("item_id")["correct"].any().sum()),
                "kept": len(screen.kept),
                "kept share": round(screen.kept_share, 3),
            }
            for task, screen in screens.items()
        ]
    )


def read_screening(study: str, model: str) -> pd.DataFrame:
    """Every screening answer a study wrote for one model (empty when the study screened nothing)."""
    folder = screening_dir(study, model)
    frames = [pd.read_csv(path, keep_default_na=False) for path in sorted(folder.glob("*.csv"))]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=SCREEN_COLUMNS)
