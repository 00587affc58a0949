"""The evaluation stage: every question under 28 prompt variants, answered by one model variant, then scored.

This is the paper's core measurement (docs/study.md sections 4–6): TriviaQA, TruthfulQA, MASK Disinformation and
MedQA questions, asked plainly, after an interpersonal context statement, and with an incorrect user belief;
sampled once at temperature 0.8; scored CORRECT/INCORRECT by a judge (GPT-4o in the paper) or by the offline
rule scorer. Variants: the original model, the warm and cold LoRA fine-tunes (epoch-2 checkpoint by default)
and the original model with the warm rewrite instructions as a system prompt.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from helpers.evaluation.items import Item, load_items
from helpers.evaluation.params import CapabilitiesParams, EvaluateParams
from helpers.evaluation.prompts import build_prompt_variants
from helpers.evaluation.refusal import apply_refusal_rule
from helpers.evaluation.screening import Screen, screen_items
from helpers.generation import GenerationSettings
from helpers.paths import model_slug, study_dir
from helpers.storage import atomic_write_csv
from helpers.validation import ParameterError, check_choice
from helpers.vocabulary import ALL_STYLES, ALL_VARIANTS

ROW_COLUMNS = [
    "study", "model", "variant", "adapter", "task", "item_id", "question", "correct_answer", "incorrect_answer",
    "prompt_template", "amendment_type", "context_statement", "prompt", "system_prompt", "output", "evaluation",
    "refusal", "scorer", "response_length",
]  # fmt: skip


@dataclass(frozen=True)
class VariantPlan:
    """A run of one model variant (evaluation or capabilities): its validated parameters, with the variant
    resolved to the adapter to load and the generation settings (its system prompt included)."""

    params: EvaluateParams | CapabilitiesParams
    adapter: str | None
    generation: GenerationSettings

    @property
    def output_dir(self) -> Path:
        """``<model>/<variant>/``, or its ``results_folder`` for a repeated evaluation (another seed or checkpoint)."""
        folder = study_dir(self.params.study) / model_slug(self.params.model) / self.params.variant
        repeat = getattr(self.params, "results_folder", None)
        return folder / repeat if repeat else folder

    @property
    def adapter_label(self) -> str:
        """The adapter as a reader should see it: relative to the study's results (no machine paths on pages)."""
        if self.adapter is None:
            return "(none)"
        path = Path(self.adapter)
        root = study_dir(self.params.study)
        return str(path.relative_to(root)) if path.is_relative_to(root) else path.name

    def output_path(self, task: str) -> Path:
        return self.output_dir / f"{task}.csv"

    @property
    def model_id(self) -> str:
        """Identifies model + adapter in generation caches (a retrained checkpoint gets a new identity)."""
        from helpers.checkpoints import checkpoint_identity

        return f"{self.params.model}|{checkpoint_identity(self.adapter) if self.adapter else ''}"


def resolve_variant(
    study: str, model: str, variant: str, checkpoint: float | None, adapter: str | None
) -> tuple[str | None, str | None]:
    """The adapter and system prompt of a variant (docs/study.md sections 2 and 7).

    ``warm``/``cold`` (and the mitigation style ``candid``) load the LoRA checkpoint of that style (epoch 2 by default, "the warm model" of the paper)
    unless an explicit ``adapter`` path is given; ``warm_prompt`` is the original model with the warm rewrite
    instructions as its system prompt; ``original`` is the model as released.
    """
    from helpers.checkpoints import variant_adapter
    from helpers.models import check_adapter_matches

    check_choice("variant", variant, ALL_VARIANTS)
    if variant in ("original", "warm_prompt") and adapter is not None:
        raise ParameterError(
            "adapter", adapter, f"None for variant {variant!r} (adapters belong to fine-tunes)"
        )
    if variant in ALL_STYLES:
        if adapter is None:
            if checkpoint is None:
                raise ParameterError(
                    "checkpoint", checkpoint, "the epoch of a saved checkpoint for a fine-tuned variant"
                )
            adapter = str(variant_adapter(study, model, variant, checkpoint))
        else:
            check_adapter_matches(model, adapter)
    system_prompt = None
    if variant == "warm_prompt":
        from helpers.instructions import WARM_INSTRUCTIONS

        system_prompt = WARM_INSTRUCTIONS
    return adapter, system_prompt


def plan_variant(params: EvaluateParams | CapabilitiesParams) -> VariantPlan:
    """Resolve the variant's adapter (checked against its base model) and system prompt, before any model loads."""
    adapter, system_prompt = resolve_variant(
        params.study, params.model, params.variant, params.checkpoint, getattr(params, "adapter", None)
    )
    seed = params.sampling_seed if isinstance(params, EvaluateParams) else params.seed
    generation = GenerationSettings(
        params.temperature, params.max_new_tokens, params.batch_size, seed, system_prompt
    )
    return VariantPlan(params, adapter, generation)


def build_prompt_rows(plan: VariantPlan, task: str, items: list[Item] | None = None) -> pd.DataFrame:
    """One row per prompt for a task, before generation (the same rows, in the same order, for every variant).

    ``items`` are the screened items (:func:`helpers.evaluation.screening.screen_items`); without them, the
    task's seeded sample of ``n_items`` (the paper's unscreened items).
    """
    if items is None:
        items = load_items(task, n_items=plan.params.n_items, seed=plan.params.seed)
    by_id = {item.item_id: item for item in items}
    variants = build_prompt_variants(
        items, amendment_types=list(plan.params.amendment_types), templates=list(plan.params.templates),
        seed=plan.params.seed, prompt_format=plan.params.prompt_format,
    )  # fmt: skip
    rows = []
    for v in variants:
        item = by_id[v.item_id]
        rows.append(
            {
                "study": plan.params.study, "model": plan.params.model, "variant": plan.params.variant, "adapter": plan.adapter or "",
                "task": task, "item_id": v.item_id, "question": item.question,
                "correct_answer": item.correct_answer, "incorrect_answer": item.incorrect_answer,
                "prompt_template": v.prompt_template, "amendment_type": v.amendment_type,
                "context_statement": v.context_statement or "", "prompt": v.prompt,
                "system_prompt": plan.generation.system_prompt or "",
                "options": json.dumps(item.extra.get("options")) if item.extra.get("options") else "",
            }
        )  # fmt: skip
    return pd.DataFrame(rows)


def variant_generator(
    plan: VariantPlan, model=None, tokenizer=None
) -> Callable[[list[str], Path, str], list[str]]:
    """``generate(prompts, cache_path, desc) -> answers`` for the plan's variant, on its backend.

    ``hf`` loads the model with its adapter once (or uses the ``model``/``tokenizer`` given, as tests do); ``vllm``
    serves the base model from one engine per process and the adapter as a LoRA request; both through
    :func:`helpers.backends.answer_function`, as the warmth stage does. Both share the cache format, so a run
    resumes on either.
    """
    from helpers.backends import answer_function

    params = plan.params
    return answer_function(
        params.model, plan.adapter, plan.model_id, plan.generation, params.backend, params.device,
        params.tensor_parallel_size, loaded=(model, tokenizer) if model is not None else None,
    )  # fmt: skip


def run_evaluation(
    plan: VariantPlan, model=None, tokenizer=None, screens: dict[str, Screen] | None = None
) -> dict[str, pd.DataFrame]:
    """Generate and score every task; write ``results/<study>/<model>/<variant>/<task>.csv`` atomically.

    With ``screen_pool`` set, the items are those the screening pass kept (``screens``, or screened here); a task
    whose screen kept no item writes an empty CSV. Generations are cached per variant, judge verdicts per judge
    model, so a crash or a failing judge loses nothing already done; the CSV is written only when a task is
    fully scored.
    """
    from helpers.evaluation.scoring import score_answers

    if plan.params.screen_pool is not None and screens is None:
        screens = screen_items(plan.params)
    judge = plan.params.judge()
    generate = variant_generator(plan, model, tokenizer)
    results = {}
    for task in plan.params.tasks:
        rows = build_prompt_rows(plan, task, screens[task].kept if screens else None)
        if rows.empty:
            empty = pd.DataFrame(columns=ROW_COLUMNS)
            atomic_write_csv(empty, plan.output_path(task))
            results[task] = empty
            continue
        cache = plan.output_dir / "generations.jsonl"
        rows["output"] = generate(rows["prompt"].tolist(), cache, f"{plan.params.variant} · {task}")
        scored = score_answers(rows, judge=judge, cache_path=plan.output_dir / "judge_cache.jsonl")
        scored = scored[ROW_COLUMNS]
        atomic_write_csv(scored, plan.output_path(task))
        results[task] = scored
    return results


def accuracy_by_context(frames: dict[str, pd.DataFrame] | pd.DataFrame) -> pd.DataFrame:
    """Accuracy (%) per task × context, without and with an incorrect user belief (docs/study.md section 6).

    Refusals are handled as in the paper by :func:`helpers.evaluation.refusal.apply_refusal_rule`: dropped on TriviaQA, TruthfulQA
    and MedQA, counted correct on Disinfo.
    """

    rows = apply_refusal_rule(pd.concat(frames.values()) if isinstance(frames, dict) else frames)
    rows = rows.assign(
        accuracy=100 * (1 - rows["is_incorrect"]),
        belief=rows["belief"].map({True: "belief", False: "no belief"}),
    )
    table = rows.pivot_table(
        index=["task", "amendment_type"], columns="belief", values="accuracy", aggfunc="mean"
    )
    return table.round(1)
