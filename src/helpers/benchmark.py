"""A benchmark command (not a timed test): the project's generation against a plain ``model.generate`` loop.

``python -m helpers benchmark`` answers a sample of the demo's evaluation prompts (its tasks, prompt variants and
answer cap, read from ``configs/demo.yaml``; greedy) several ways in one run: with :mod:`helpers.generation` as the
evaluation runs it (:func:`helpers.models.load_model`'s precision, finished rows refilled) and without refill, in
each precision asked for; with a plain batched ``model.generate`` loop at the same batch size in the model's own precision (bfloat16 for SmolLM2, as
lm-evaluation-harness runs it), and one prompt at a time in float32 — the reference, since float32 answers do not
depend on the batch (docs/design.md, "Known pitfalls"). It prints prompts/s, answer tokens/s and how many answers
equal the reference, and ends with one line comparing the fastest project row with plain generate: ``speedup <x>x
over plain generate; equal to float32 batch-1: project <a>/<m>, plain <b>/<m>``. Timings on a shared machine are noisy: run it on a quiet one.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml

from helpers.evaluation.items import load_items
from helpers.evaluation.params import EvaluateParams
from helpers.evaluation.prompts import build_prompt_variants
from helpers.generation import (
    GROUP_BATCHES,
    GenerationSettings,
    generate_responses,
    model_precision,
    plan_batches,
    prompt_token_ids,
)
from helpers.models import EMBEDDED_MODEL, load_model
from helpers.paths import REPO_ROOT
from helpers.validation import check_choice, check_positive_int

DEMO_CONFIG = REPO_ROOT / "configs" / "demo.yaml"


@dataclass(frozen=True)
class Workload:
    """The prompts to answer, by task, and the answer cap and batch size they are generated with."""

    prompts: dict[str, list[str]]
    max_new_tokens: int
    batch_size: int

    @property
    def n_prompts(self) -> int:
        return sum(len(p) for p in self.prompts.values())


def demo_workload(n_prompts: int, config: Path = DEMO_CONFIG) -> Workload:
    """``n_prompts`` of the demo's evaluation prompts, spread evenly over its tasks and over each task's prompts.

    Tasks, items, contexts, templates, answer cap and batch size are the demo config's ``evaluate`` section, with
    :class:`~helpers.evaluation.params.EvaluateParams` defaults for what it leaves out.
    """
    check_positive_int("n_prompts", n_prompts)
    section = (yaml.safe_load(config.read_text()) or {}).get("evaluate", {})
    fields = EvaluateParams.model_fields

    def setting(name: str):
        return section.get(name, fields[name].default)

    tasks = list(setting("tasks"))
    prompts = {}
    for index, task in enumerate(tasks):
        wanted = n_prompts // len(tasks) + (index < n_prompts % len(tasks))
        items = load_items(task, n_items=setting("n_items"), seed=0)
        variants = build_prompt_variants(
            items,
            setting("amendment_types"),
            setting("templates"),
            seed=0,
            prompt_format=setting("prompt_format"),
        )
        step = len(variants) / wanted if wanted else 1
        prompts[task] = [variants[int(i * step)].prompt for i in range(min(wanted, len(variants)))]
    return Workload(prompts, int(setting("max_new_tokens")), int(setting("batch_size")))


def plain_generate(
    model, tokenizer, prompts: Sequence[str], max_new_tokens: int, batch_size: int
) -> list[str]:
    """The plain loop: batches of prompts sorted by length, left-padded, one greedy ``model.generate`` each."""
    token_ids = prompt_token_ids(tokenizer, prompts)
    answers = [""] * len(prompts)
    for batch in plan_batches(list(prompts), [len(t) for t in token_ids], batch_size):
        encoded = tokenizer.pad({"input_ids": [token_ids[i] for i in batch]}, return_tensors="pt")
        with torch.inference_mode():
            generated = model.generate(
                **encoded, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
            )
        texts = tokenizer.batch_decode(
            generated[:, encoded["input_ids"].shape[1] :], skip_special_tokens=True
        )
        for i, text in zip(batch, texts, strict=True):
            answers[i] = text.strip()
    return answers


def _dtype_name(model) -> str:
    """The precision a loaded model computes in, as the table names it ("float32")."""
    return model_precision(model).partition("@")[0]


def _timed(answer, workload: Workload) -> tuple[dict[str, list[str]], float]:
    started = time.perf_counter()
    answers = {task: answer(prompts) for task, prompts in workload.prompts.items()}
    return answers, time.perf_counter() - started


def benchmark_generation(
    n_prompts: int = 64,
    max_new_tokens: int | None = None,
    batch_size: int | None = None,
    dtype: str = "bfloat16",
    project_dtypes: Sequence[str] = ("auto",),
    reference_prompts: int = 64,
    config: Path = DEMO_CONFIG,
    model: str = EMBEDDED_MODEL,
) -> dict[str, dict[str, float]]:
    """Time the project's generation and the plain loop on the demo workload; compare both with the reference.

    ``dtype`` is the plain loop's precision (the model's own by default). The project's loop runs in each of
    ``project_dtypes`` (``auto``: what the evaluation loads, :func:`helpers.models.inference_dtype`), once
    without refill (groups of one batch: a row that ends leaves the batch) and once as the evaluation runs it
    (finished rows refilled, :func:`helpers.generation.decode_group`). Answer cap and batch size default to the
    demo config's. The float32 batch-1 reference (slow: one prompt at a time) answers ``reference_prompts`` of
    the prompts, spread evenly over them, and every method is compared with it there. Tokens are counted by
    re-tokenizing each answer, the same way for every method. Prints a table and the closing ``speedup`` line
    (the fastest project row against plain generate); returns the table's rows. ``model`` is the embedded model
    unless a test passes a tiny one.
    """
    workload = demo_workload(n_prompts, config)
    cap = max_new_tokens or workload.max_new_tokens
    batch = batch_size or workload.batch_size
    check_positive_int("max_new_tokens", cap)
    check_positive_int("batch_size", batch)
    check_positive_int("reference_prompts", reference_prompts)
    for name in project_dtypes:
        check_choice("project_dtypes", name, ("auto", "bfloat16", "float32"))
    print(
        f"{workload.n_prompts} prompts ({', '.join(f'{t} {len(p)}' for t, p in workload.prompts.items())}), "
        f"greedy, at most {cap} new tokens, batch {batch}, {torch.get_num_threads()} threads"
    )
    plain_model, tokenizer = load_model(model, device="cpu", dtype=dtype)
    plain_generate(
        plain_model, tokenizer, workload.prompts[next(iter(workload.prompts))][:batch], 2, batch
    )  # warm-up
    runs = {
        f"plain generate, {_dtype_name(plain_model)} b{batch}": _timed(
            lambda p: plain_generate(plain_model, tokenizer, p, cap, batch), workload
        )
    }
    settings = GenerationSettings(temperature=0.0, max_new_tokens=cap, batch_size=batch)
    project_labels = []
    for project_dtype in dict.fromkeys(project_dtypes):
        project_model, _ = load_model(model, device="cpu", dtype=project_dtype)
        for groups, how in [(1, "no refill"), (GROUP_BATCHES, "refill")]:
            label = f"project, {_dtype_name(project_model)} b{batch} {how}"
            if label in runs:
                continue
            runs[label] = _timed(
                lambda p, m=project_model, g=groups: generate_responses(
                    m, tokenizer, p, settings, desc="project", group_batches=g
                ),
                workload,
            )
            project_labels.append(label)
    flat_prompts = [p for prompts in workload.prompts.values() for p in prompts]
    m = min(reference_prompts, len(flat_prompts))
    checked = [int(i * len(flat_prompts) / m) for i in range(m)]
    reference_model, _ = load_model(model, device="cpu", dtype="float32")
    reference, reference_s = _timed(
        lambda p: plain_generate(reference_model, tokenizer, p, cap, 1),
        Workload({"checked": [flat_prompts[i] for i in checked]}, cap, 1),
    )
    expected = reference["checked"]

    def flat(answers: dict[str, list[str]]) -> list[str]:
        return [a for task in workload.prompts for a in answers[task]]

    rows = {}
    table = [("float32 batch 1 (reference)", expected, expected, reference_s)]
    table += [(name, flat(a), [flat(a)[i] for i in checked], seconds) for name, (a, seconds) in runs.items()]
    width = max(len(name) for name, *_ in table) + 2
    print(f"{'method':<{width}}{'seconds':>9}{'prompts/s':>11}{'tokens/s':>10}{'= float32 batch-1':>19}")
    for name, texts, at_checked, seconds in table:
        tokens = sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)
        equal = sum(a == b for a, b in zip(at_checked, expected, strict=True))
        rows[name] = {
            "seconds": seconds, "prompts_per_s": len(texts) / seconds, "tokens_per_s": tokens / seconds,
            "equal_to_reference": equal,
        }  # fmt: skip
        print(
            f"{name:<{width}}{seconds:>9.1f}{len(texts) / seconds:>11.2f}{tokens / seconds:>10.1f}{equal:>14}/{m}"
        )
    plain_label = next(iter(runs))
    fastest = min(project_labels, key=lambda name: rows[name]["seconds"])
    print(f"fastest project method: {fastest}")
    print(
        f"speedup {rows[plain_label]['seconds'] / rows[fastest]['seconds']:.2f}x over plain generate; "
        f"equal to float32 batch-1: project {rows[fastest]['equal_to_reference']}/{m}, "
        f"plain {rows[plain_label]['equal_to_reference']}/{m}"
    )
    return rows
