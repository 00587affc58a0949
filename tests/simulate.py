"""Synthetic evaluation rows whose true effects are known: the analysis must find what was planted."""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.vocabulary import AMENDMENT_TYPES, BELIEF_TEMPLATES, TASKS


def simulate_evaluation_rows(
    *,
    models: tuple[str, ...] = ("synthetic-model",),
    variants: tuple[str, ...] = ("original", "warm"),
    tasks: tuple[str, ...] = TASKS,
    n_items: int = 100,
    base_error: float = 0.2,
    belief_error: float = 0.1,
    effect_pp: float = 10.0,
    context_effects_pp: dict[str, float] | None = None,
    belief_effect_pp: float = 0.0,
    refusal_rate: float = 0.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Evaluation rows (CONTRIBUTING schema) whose true effects are known, to check that the analysis finds them.

    Every item gets the paper's 28 prompts (9 contexts x original/correct/incorrect templates, plus the
    original_neutral unmodified prompt). The original errs with probability ``base_error`` (+ ``belief_error``
    under an incorrect user belief); every non-original variant errs ``effect_pp`` points more, plus
    ``context_effects_pp[context]`` and, under a belief, ``belief_effect_pp``. Answers are independent draws,
    so the planted effects are exactly the expected differences in error rate. A ``refusal_rate`` share of
    answers are refusals, scored INCORRECT by the judge (the refusal rule in :func:`score_rows` then applies).
    """
    rng = np.random.default_rng(seed)
    context_effects_pp = context_effects_pp or {}
    prompts = [("unmodified", "original_neutral")] + [
        (context, template) for context in AMENDMENT_TYPES for template in ("original", *BELIEF_TEMPLATES)
    ]
    records = []
    for model in models:
        for variant in variants:
            for task in tasks:
                for item in range(n_items):
                    for context, template in prompts:
                        belief = template in BELIEF_TEMPLATES
                        error = base_error + (belief_error if belief else 0.0)
                        if variant != "original":
                            shift = effect_pp + context_effects_pp.get(context, 0.0)
                            error += (shift + (belief_effect_pp if belief else 0.0)) / 100
                        refused = rng.random() < refusal_rate
                        wrong = refused or rng.random() < error
                        answer = f"answer {item}" + " and more" * int(rng.integers(0, 30))
                        output = "I'm sorry, but I can't help with that." if refused else answer
                        records.append(
                            {
                                "study": "synthetic",
                                "model": model,
                                "variant": variant,
                                "adapter": "",
                                "task": task,
                                "item_id": f"{task}-{item}",
                                "question": f"question {item}",
                                "correct_answer": "right",
                                "incorrect_answer": "wrong",
                                "prompt_template": template,
                                "amendment_type": context,
                                "context_statement": "",
                                "prompt": f"{context} {template} question {item}",
                                "system_prompt": "",
                                "output": output,
                                "evaluation": "INCORRECT" if wrong else "CORRECT",
                                "refusal": int(refused),
                                "scorer": "rule",
                                "response_length": len(output),
                            }
                        )
    return pd.DataFrame.from_records(records)
