"""General capabilities and safety of each model variant (paper, capability and safety controls; docs/study.md
section 7).

The paper checks that warmth fine-tuning did not simply break the models: MMLU (zero-shot, the answer letter read
with a regex), GSM8K (zero-shot chain of thought, the final number read with a regex), both sampled at temperature
0.2, and the AdvBench refusal rate on 520 harmful requests. Warm models mostly held these (Llama-8B MMLU -8.6 pp
the exception). This module builds the prompts, parses the answers and summarises a benchmark as an accuracy with
a Wilson 95% interval. AdvBench refusals are graded by the study's LLM judge with a refusal rubric when a judge is
configured (``helpers.evaluation.judge.JudgeItem.refusal``), and by the paper's refusal phrase regex
(``helpers.evaluation.refusal.is_refusal``) only when none is.

Items are any objects with the named attributes, read-only (the loaders in ``helpers.evaluation.items`` return frozen
dataclasses), described by the Protocols below.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pandas as pd
from statsmodels.stats.proportion import proportion_confint

from helpers.evaluation.evaluate import VariantPlan

if TYPE_CHECKING:
    from helpers.evaluation.judge import LLMJudge
from helpers.storage import atomic_write_csv
from helpers.validation import ParameterError

#: Sampling temperature of the capability benchmarks (paper, Methods).
LETTERS = "ABCD"


#: The score a model gets without the capability (MMLU: four options; GSM8K: no problem solved; AdvBench: no
#: refusal): a variant cannot lose what the original does not have, so a benchmark at its floor shows nothing.
BENCHMARK_FLOORS = {"mmlu": 25.0, "gsm8k": 0.0, "advbench": 0.0}


class MMLUItem(Protocol):
    """One MMLU question: ``choices`` maps A-D to texts or lists them in order; ``answer`` is the gold letter."""

    @property
    def subject(self) -> str: ...
    @property
    def question(self) -> str: ...
    @property
    def choices(self) -> Mapping[str, str] | Sequence[str]: ...
    @property
    def answer(self) -> str: ...


class GSM8KItem(Protocol):
    """One GSM8K problem with its final numeric answer (an int or a float)."""

    @property
    def question(self) -> str: ...
    @property
    def answer(self) -> float: ...


class AdvBenchItem(Protocol):
    """One AdvBench harmful request."""

    @property
    def goal(self) -> str: ...


def _choice_texts(choices: Mapping[str, str] | Sequence[str]) -> dict[str, str]:
    if isinstance(choices, Mapping):
        return {letter: str(choices[letter]) for letter in LETTERS}
    if len(choices) != len(LETTERS):
        raise ParameterError("choices", choices, "four answer options (A-D)")
    return dict(zip(LETTERS, map(str, choices), strict=True))


def mmlu_prompt(item: MMLUItem) -> str:
    """Zero-shot MMLU prompt: subject, question, lettered options and the answer format the regex reads."""
    subject = item.subject.replace("_", " ")
    options = "\n".join(f"{letter}. {text}" for letter, text in _choice_texts(item.choices).items())
    return (
        f"The following is a multiple choice question about {subject}.\n\n{item.question}\n{options}\n\n"
        'Answer with the letter of the correct option, in the form "Answer: X".'
    )


def gsm8k_prompt(item: GSM8KItem) -> str:
    """Zero-shot chain-of-thought GSM8K prompt ending in a fixed final-answer line for the regex."""
    return (
        f"{item.question}\n\n"
        "Let's think step by step. End your reply with the final answer as a number on its own line, in the "
        'form "The answer is N".'
    )


def advbench_prompt(item: AdvBenchItem) -> str:
    """AdvBench is sent as the bare harmful request, as a user would type it."""
    return item.goal


# Letters are matched case-sensitively so that "the answer is a bit unclear" names no option.
_MMLU_STATED = re.compile(r"(?i:answer\s*(?:is|:)?\s*[:\-]?\s*(?:option\s*)?)[(*\s]*([A-D])\b")
_MMLU_LEADING = re.compile(r"\s*[(*]*([A-D])(?:[).:*]|\s*$)")
_MMLU_OPTION = re.compile(r"(?i:\boption)\s*\(?([A-D])\b")


def parse_mmlu_answer(text: str) -> str | None:
    """The answer letter: the last "Answer: X" / "the answer is (X)", else a reply that opens with a lone
    letter ("B", "(B)", "B. Paris"), else the last "option X"; None when the reply names no letter."""
    text = text or ""
    if stated := _MMLU_STATED.findall(text):
        return stated[-1]
    if leading := _MMLU_LEADING.match(text):
        return leading.group(1)
    options = _MMLU_OPTION.findall(text)
    return options[-1] if options else None


_NUMBER = r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_GSM8K_STATED = (
    re.compile(rf"####\s*\$?\s*({_NUMBER})"),
    re.compile(rf"\\boxed\{{\s*\$?\s*({_NUMBER})"),
    re.compile(rf"answer\s*(?:is|:)\s*[:\-]?\s*\**\s*\$?\s*({_NUMBER})", re.IGNORECASE),
)


def parse_gsm8k_answer(text: str) -> float | None:
    """The final number: the last "#### N", "\\boxed{N}" or "the answer is N" if any, else the last number in
    the reply; thousands separators are dropped ("1,250" -> 1250.0). None when the reply has no number."""
    text = text or ""
    for pattern in _GSM8K_STATED:
        if found := pattern.findall(text):
            return float(found[-1].replace(",", ""))
    numbers = re.findall(_NUMBER, text)
    return float(numbers[-1].replace(",", "")) if numbers else None


def summarise_benchmark(correct: Sequence[bool]) -> dict[str, float | int]:
    """n, accuracy and its Wilson 95% interval, in percent (the paper reports benchmark accuracy with 95% CIs).

    The Wilson interval stays inside [0, 100] and keeps its coverage near 0% or 100%, where AdvBench refusal
    rates sit.
    """
    n = len(correct)
    if n == 0:
        raise ParameterError("correct", list(correct), "at least one result")
    successes = sum(bool(value) for value in correct)
    lower, upper = proportion_confint(successes, n, alpha=0.05, method="wilson")
    return {"n": n, "accuracy": 100 * successes / n, "ci_lower": 100 * lower, "ci_upper": 100 * upper}


def _benchmark_rows(benchmark: str, n_items: int | None, seed: int) -> list[dict]:
    from helpers.evaluation.items import load_advbench, load_gsm8k, load_mmlu

    if benchmark == "mmlu":
        return [{"prompt": mmlu_prompt(i), "gold": i.answer} for i in load_mmlu(n_items, seed)]
    if benchmark == "gsm8k":
        return [{"prompt": gsm8k_prompt(i), "gold": i.answer} for i in load_gsm8k(n_items, seed)]
    return [{"prompt": advbench_prompt(i), "gold": "refusal"} for i in load_advbench(n_items, seed)]


def _is_correct(benchmark: str, output: str, gold: object) -> tuple[object, bool]:
    if benchmark == "mmlu":
        parsed = parse_mmlu_answer(output)
        return parsed, parsed == gold
    parsed = parse_gsm8k_answer(output)
    return parsed, parsed is not None and abs(parsed - float(gold)) < 1e-6


def advbench_refusals(
    requests: Sequence[str],
    outputs: Sequence[str],
    judge: LLMJudge | None = None,
    cache_path: Path | None = None,
) -> tuple[list[bool], str]:
    """Whether each AdvBench response refused, and the ``scorer`` that decided it.

    With a judge, its refusal rubric grades every response (REFUSED or COMPLIED; verdicts cached in
    ``cache_path``; a failed item raises JudgeError after the others are saved, so nothing is half-scored);
    without one, the paper's phrase regex, which misses refusals worded otherwise and flags compliance that
    happens to contain "I cannot".
    """
    from helpers.evaluation.judge import JudgeItem, require_verdicts
    from helpers.evaluation.refusal import is_refusal

    if judge is None:
        return [is_refusal(output) for output in outputs], "rule"
    items = [JudgeItem.refusal(request, output) for request, output in zip(requests, outputs, strict=True)]
    verdicts = require_verdicts(judge, judge.judge_many(items, cache_path), cache_path)
    return [verdict == "REFUSED" for verdict in verdicts], judge.scorer


def run_capabilities(
    plan: VariantPlan, model=None, tokenizer=None, judge: LLMJudge | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Answer and score each benchmark; write ``capabilities.csv`` (summary) and ``capabilities_items.csv``.

    ``judge`` (default: the one the parameters configure, if any) grades AdvBench refusals
    (:func:`advbench_refusals`)."""
    from helpers.evaluation.evaluate import variant_generator

    judge = judge or plan.params.judge()
    generate = variant_generator(plan, model, tokenizer)
    summaries, items = [], []
    for benchmark in plan.params.benchmarks:
        rows = _benchmark_rows(benchmark, plan.params.n_items, plan.params.seed)
        cache = plan.output_dir / "capabilities_generations.jsonl"
        outputs = generate([r["prompt"] for r in rows], cache, f"{plan.params.variant} · {benchmark}")
        scorer = "rule"
        if benchmark == "advbench":
            cache = plan.output_dir / "capabilities_judge_cache.jsonl"
            refused, scorer = advbench_refusals([r["prompt"] for r in rows], outputs, judge, cache)
            results = list(zip(refused, refused, strict=True))
        else:
            results = [_is_correct(benchmark, o, r["gold"]) for r, o in zip(rows, outputs, strict=True)]
        scored = [
            {
                "benchmark": benchmark,
                **row,
                "output": output,
                "parsed": parsed,
                "correct": correct,
                "scorer": scorer,
            }
            for row, output, (parsed, correct) in zip(rows, outputs, results, strict=True)
        ]
        items.extend(scored)
        summaries.append({"benchmark": benchmark, **summarise_benchmark([r["correct"] for r in scored])})
    summary = pd.DataFrame(summaries).assign(
        study=plan.params.study, model=plan.params.model, variant=plan.params.variant
    )
    item_frame = pd.DataFrame(items).assign(variant=plan.params.variant)
    atomic_write_csv(summary, plan.output_dir / "capabilities.csv")
    atomic_write_csv(item_frame, plan.output_dir / "capabilities_items.csv")
    return summary, item_frame
