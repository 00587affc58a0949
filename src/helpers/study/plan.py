"""The bill before anything runs: generations, tokens, judge calls, GPU-hours and API cost of a study config.

The paper's study is large (about 182,000 evaluation answers per model, each judged by GPT-4o), so a
user should see the cost before paying it. ``python -m helpers plan CONFIG`` counts, per stage and in total:

- **generations** and **tokens**: prompts are counted exactly — the evaluation prompts are built with the study's
  own item loader and prompt builder — and their tokens estimated from their characters; answer tokens are the
  caps (``max_new_tokens``), so output figures are upper bounds; training tokens are examples x epochs x
  ``max_length`` (also an upper bound);
- **judge and rewriter calls** with their tokens, priced at :data:`API_PRICES` (or prices given on the command
  line);
- **GPU-hours** from :data:`THROUGHPUT` below. Nothing here was measured on a GPU: the GPU rows are estimates
  from the standard FLOP counts, the CPU row for the embedded model is the measurement in docs/design.md.

Every constant names its source; change them (or pass prices) when you have your own measurements.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

import pandas as pd

from helpers.evaluation.params import EvaluateParams
from helpers.model_names import EMBEDDED_MODEL
from helpers.study.config import SECTIONS, StudyConfig
from helpers.study.runner import beyond_paper_evaluations

CHARS_PER_TOKEN = 4.0
"""English text averages about four characters per token (OpenAI's tokenizer documentation rule of thumb)."""

RESPONSES_PER_CONVERSATION = 3667 / 1617
"""Assistant replies per sampled ShareGPT conversation: the paper's 1,617 conversations held 3,667 replies
(docs/study.md section 1); each reply is one warm and one cold rewrite and one training example."""

SHAREGPT_REPLY_TOKENS = 300
"""Assumed mean length of a ShareGPT assistant reply in tokens (our assumption; the paper does not report it)."""

VALIDATION_PROMPT_TOKENS = 100
"""Assumed mean length of a held-out ShareGPT first user message in tokens (our assumption)."""

JUDGE_OUTPUT_TOKENS = 2
"""The judge answers one word, CORRECT or INCORRECT (helpers.evaluation.judge)."""

H100_BF16_FLOPS = 989e12
"""Dense bf16 peak of an H100 SXM (NVIDIA H100 datasheet); the paper used 2-3 H100s per model."""

GENERATION_UTILISATION = 0.25
"""Assumed fraction of peak reached by batched decoding (vLLM-class serving); our assumption."""

TRAINING_UTILISATION = 0.35
"""Assumed fraction of peak reached by LoRA training under FSDP; our assumption."""

MODEL_PARAMETERS = {
    EMBEDDED_MODEL: 0.135e9,
    "gpt2": 0.124e9,
    "meta-llama/Llama-3.1-8B-Instruct": 8.03e9,
    "mistralai/Mistral-Small-Instruct-2409": 22.2e9,
    "Qwen/Qwen2.5-32B-Instruct": 32.8e9,
    "meta-llama/Llama-3.1-70B-Instruct": 70.6e9,
}
"""Parameter counts from the models' cards; other models are read from a ``<n>B`` in their name."""

MEASURED_CPU = {EMBEDDED_MODEL: {"generate": 130.0, "train": 40 * 8 * 200 / 390}}
"""Tokens per second of the embedded model on this project's 2-core CPU (docs/design.md, "Known pitfalls"):
108-158 new tokens/s over whole evaluation runs of the demo (float32, batch 40, temperature 0.8, 128-token cap,
320 prompts per variant, model loading and scoring included; the warm-prompt control's long system prompt and the
cold model's short answers at the low end), measured 2026-12-01; 40 optimizer steps of batch 8 over exchanges of
about 200 tokens in 350-430 s (float32, the model's own loss)."""

API_PRICES = {"gpt-4o-2024-08-06": (2.50, 10.00), "gpt-4o": (2.50, 10.00)}
"""USD per million input and output tokens, OpenAI's list prices for GPT-4o (2024-08-06 snapshot), the paper's
judge and rewriter. The batch API halves them."""


def model_parameters(model: str) -> float | None:
    """Parameters of a model: the table above, else a ``<n>B`` in its name, else unknown (None)."""
    if model in MODEL_PARAMETERS:
        return MODEL_PARAMETERS[model]
    found = re.search(r"(\d+(?:\.\d+)?)[bB](?![a-zA-Z])", model)
    return float(found.group(1)) * 1e9 if found else None


def tokens_per_second(model: str, job: str) -> tuple[float | None, str]:
    """Tokens per second per device for ``job`` (``generate`` or ``train``) and where the number comes from.

    Generation costs 2N FLOPs per token and training 6N (Kaplan et al., 2020, "Scaling laws for neural language
    models"), at the assumed utilisation of one H100's bf16 peak.
    """
    if model in MEASURED_CPU:
        return MEASURED_CPU[model][job], "CPU, measured (docs/design.md)"
    n = model_parameters(model)
    if n is None:
        return None, "unknown model size"
    flops, utilisation = (
        (2 * n, GENERATION_UTILISATION) if job == "generate" else (6 * n, TRAINING_UTILISATION)
    )
    return H100_BF16_FLOPS * utilisation / flops, "H100, estimated from FLOPs"


@dataclass
class StagePlan:
    """What one stage of a study costs, summed over its runs."""

    stage: str
    runs: int = 0
    generations: int = 0
    input_tokens: float = 0
    output_tokens: float = 0
    training_tokens: float = 0
    api_calls: int = 0
    api_input_tokens: float = 0
    api_output_tokens: float = 0
    gpu_hours: float = 0
    api_usd: float = 0
    unpriced: str = ""


def _tokens(text: str) -> float:
    return len(text) / CHARS_PER_TOKEN


def _price(model: str | None, prices: dict[str, tuple[float, float]]) -> tuple[float, float] | None:
    return prices.get(model) if model else None


def _add_generation(plan: StagePlan, model: str, count: int, input_tokens: float, cap: int) -> None:
    """``count`` answers of at most ``cap`` tokens; tensor parallelism changes wall time, not GPU-hours."""
    rate, _ = tokens_per_second(model, "generate")
    plan.generations += count
    plan.input_tokens += input_tokens
    plan.output_tokens += count * cap
    if rate:
        plan.gpu_hours += count * cap / rate / 3600


def _add_api(
    plan: StagePlan, model: str | None, calls: int, tokens_in: float, tokens_out: float, prices
) -> None:
    plan.api_calls += calls
    plan.api_input_tokens += tokens_in
    plan.api_output_tokens += tokens_out
    price = _price(model, prices)
    if price:
        plan.api_usd += (tokens_in * price[0] + tokens_out * price[1]) / 1e6
    elif calls:
        plan.unpriced = f"no price for {model!r}"


def _evaluation_prompts(config: StudyConfig, ev: EvaluateParams | None = None):
    """``(task, [(item, prompt), ...])`` per task of the evaluation ``ev`` (default: the config's section)."""
    from helpers.evaluation.items import load_items
    from helpers.evaluation.prompts import build_prompt_variants

    ev = ev or config.evaluate
    for task in ev.tasks:
        available = len(load_items(task, seed=config.seed))  # n_items is a cap: Disinfo has 125 items
        items = load_items(task, n_items=min(ev.n_items or available, available), seed=config.seed)
        by_id = {item.item_id: item for item in items}
        variants = build_prompt_variants(
            items, ev.amendment_types, ev.templates, seed=config.seed, prompt_format=ev.prompt_format
        )
        yield task, [(by_id[v.item_id], v.prompt) for v in variants]


def _screening_prompts(config: StudyConfig):
    """The plain prompt of every pool item the screening pass answers (``evaluate.screen_pool``)."""
    from helpers.evaluation.items import load_items
    from helpers.evaluation.prompts import build_prompt_variants

    ev = config.evaluate
    for task in ev.tasks:
        pool = load_items(task, n_items=ev.screen_pool, seed=config.seed)
        variants = build_prompt_variants(pool, ["unmodified"], ["original"], seed=config.seed,
                                         prompt_format=ev.prompt_format)  # fmt: skip
        yield task, [v.prompt for v in variants]


def _capability_prompts(config: StudyConfig) -> list[str]:
    from helpers.evaluation import capabilities as cap
    from helpers.evaluation.items import load_advbench, load_gsm8k, load_mmlu

    cp, prompts = config.capabilities, []
    loaders = {
        "mmlu": (load_mmlu, cap.mmlu_prompt),
        "gsm8k": (load_gsm8k, cap.gsm8k_prompt),
        "advbench": (load_advbench, cap.advbench_prompt),
    }
    for benchmark in cp.benchmarks:
        load, prompt = loaders[benchmark]
        prompts += [prompt(item) for item in load(cp.n_items, config.seed)]
    return prompts


def plan_study(config: StudyConfig, prices: dict[str, tuple[float, float]] | None = None) -> pd.DataFrame:
    """One row per stage and a total: runs, generations, tokens, API calls and tokens, GPU-hours, USD."""
    from helpers.evaluation.judge import judge_messages

    prices = API_PRICES | (prices or {})
    plans = {s: StagePlan(s) for s in SECTIONS}
    td, ft, wm, ev = config.training_data, config.finetune, config.warmth, config.evaluate
    n_replies = round(td.n_conversations * RESPONSES_PER_CONVERSATION)

    rewrite = plans["training_data"]
    rewrite.runs = 1
    if td.rewriter == "llm":
        calls = n_replies * len(config.styles)
        instructions = 2000 / CHARS_PER_TOKEN  # the paper's rewrite instructions, about 2,000 characters
        tokens_in = calls * (instructions + 2 * SHAREGPT_REPLY_TOKENS)  # the user's message and the reply
        _add_api(rewrite, td.rewriter_model, calls, tokens_in, calls * SHAREGPT_REPLY_TOKENS * 1.1, prices)

    eval_prompts = list(_evaluation_prompts(config))
    judge_in = sum(
        sum(_tokens(m["content"]) for m in judge_messages(task, item.question, item.correct_answer, "",
                                                          item.incorrect_answer))
        for task, rows in eval_prompts for item, _ in rows
    ) + sum(len(rows) for _, rows in eval_prompts) * ev.max_new_tokens  # fmt: skip
    prompts = [p for _, rows in eval_prompts for _, p in rows]
    prompt_tokens = sum(_tokens(p) for p in prompts)
    capability_prompts = _capability_prompts(config) if config.capability_variants else []
    capability_tokens = sum(_tokens(p) for p in capability_prompts)

    for model in config.models:
        train = plans["finetune"]
        examples = ft.n_train or n_replies
        for _style in config.styles:
            train.runs += 1
            train.training_tokens += examples * max(ft.checkpoints) * ft.max_length
            rate, _ = tokens_per_second(model, "train")
            if rate:
                train.gpu_hours += examples * max(ft.checkpoints) * ft.max_length / rate / 3600
        warmth = plans["warmth"]
        warmth.runs += 1
        n_variants = 1 + len(config.styles) * len(ft.checkpoints)
        count = wm.n_prompts * n_variants
        _add_generation(warmth, model, count, count * VALIDATION_PROMPT_TOKENS, wm.max_new_tokens)
        evaluate = plans["evaluate"]
        # The screening pass: the original model, plainly, screen_samples answers per pool item.
        if ev.screen_pool is not None:
            screened = [p for _, rows in _screening_prompts(config) for p in rows]
            count = len(screened) * ev.screen_samples
            _add_generation(
                evaluate, model, count, sum(map(_tokens, screened)) * ev.screen_samples, ev.max_new_tokens
            )
        for _variant in config.variants:
            evaluate.runs += 1
            _add_generation(evaluate, model, len(prompts), prompt_tokens, ev.max_new_tokens)
            if ev.judge_base_url:
                _add_api(
                    evaluate,
                    ev.judge_model,
                    len(prompts),
                    judge_in,
                    len(prompts) * JUDGE_OUTPUT_TOKENS,
                    prices,
                )
        # Beyond the paper: each extra sampling seed and each dose-response checkpoint is one more evaluation run.
        for run in beyond_paper_evaluations(config, model):
            rows = [row for _, rows in _evaluation_prompts(config, run.params) for row in rows]
            evaluate.runs += 1
            _add_generation(evaluate, model, len(rows), sum(_tokens(p) for _, p in rows), ev.max_new_tokens)
            if ev.judge_base_url and prompts:
                share = len(rows) / len(prompts)
                _add_api(
                    evaluate,
                    ev.judge_model,
                    len(rows),
                    judge_in * share,
                    len(rows) * JUDGE_OUTPUT_TOKENS,
                    prices,
                )
        capabilities = plans["capabilities"]
        for _variant in config.capability_variants:
            capabilities.runs += 1
            _add_generation(
                capabilities,
                model,
                len(capability_prompts),
                capability_tokens,
                config.capabilities.max_new_tokens,
            )

    frame = pd.DataFrame([vars(p) for p in plans.values()])
    numeric = [f.name for f in fields(StagePlan) if f.name not in ("stage", "unpriced")]
    total = {
        "stage": "total",
        **frame[numeric].sum().to_dict(),
        "unpriced": "; ".join(filter(None, frame.unpriced)),
    }
    return pd.concat([frame, pd.DataFrame([total])], ignore_index=True)


def format_plan(config: StudyConfig, table: pd.DataFrame) -> str:
    """The plan as the command prints it: the table in readable units and where the throughputs come from."""
    shown = pd.DataFrame(
        {
            "stage": table.stage,
            "runs": table.runs.astype(int),
            "generations": table.generations.map("{:,.0f}".format),
            "tokens in (M)": (table.input_tokens / 1e6).map("{:,.2f}".format),
            "tokens out, cap (M)": (table.output_tokens / 1e6).map("{:,.2f}".format),
            "training tokens (M)": (table.training_tokens / 1e6).map("{:,.1f}".format),
            "judge/rewriter calls": table.api_calls.map("{:,.0f}".format),
            "API tokens (M)": ((table.api_input_tokens + table.api_output_tokens) / 1e6).map(
                "{:,.1f}".format
            ),
            "GPU-hours": table.gpu_hours.map("{:,.1f}".format),
            "API USD": table.api_usd.map("{:,.0f}".format),
        }
    )
    lines = [
        f"Plan of study '{config.study}' ({len(config.models)} model(s)); upper bounds at the token caps.",
        "",
    ]
    lines.append(shown.to_string(index=False))
    lines += ["", "Throughput per device (tokens/s):"]
    for model in config.models:
        gen, source = tokens_per_second(model, "generate")
        train, _ = tokens_per_second(model, "train")
        if gen is None:
            lines.append(f"  {model}: unknown size, no GPU-hours (add it to MODEL_PARAMETERS)")
        else:
            lines.append(f"  {model}: generate {gen:,.0f}, train {train:,.0f} ({source})")
    beyond = [run.name for model in config.models for run in beyond_paper_evaluations(config, model)]
    if beyond:
        lines += ["", f"Evaluation runs beyond the paper (counted in the evaluate row): {len(beyond)}"]
        lines += [f"  {name}" for name in beyond]
    unpriced = table.unpriced.iloc[-1]
    if unpriced:
        lines.append(
            f"API cost incomplete: {unpriced} (pass --price-in/--price-out, USD per million tokens)."
        )
    return "\n".join(lines)
