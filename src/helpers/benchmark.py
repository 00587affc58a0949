"""A benchmark command (not a timed test): generation throughput of the embedded model per batch size.

``python -m helpers benchmark`` prints prompts per second for each batch size, and whether batched answers
equal batch-1 answers under greedy decoding (the batch-invariance pitfall of DESIGN.md).
"""

from __future__ import annotations

import time

from helpers.evaluation.items import load_items
from helpers.generation import GenerationSettings, generate_responses
from helpers.models import EMBEDDED_MODEL, choose_device, load_model


def benchmark_generation(
    n_prompts: int = 32, max_new_tokens: int = 64, batch_sizes: list[int] | tuple[int, ...] = (1, 8, 16)
) -> list[dict[str, float]]:
    """Time greedy generation of ``n_prompts`` TriviaQA questions at each batch size; print and return rows."""
    model, tokenizer = load_model(EMBEDDED_MODEL)
    prompts = [item.question for item in load_items("trivia", n_items=n_prompts, seed=0)]
    plan = choose_device()
    print(f"device={plan.device} dtype={plan.dtype} prompts={n_prompts} max_new_tokens={max_new_tokens}")
    rows, reference = [], None
    for batch_size in batch_sizes:
        settings = GenerationSettings(temperature=0.0, max_new_tokens=max_new_tokens, batch_size=batch_size)
        started = time.perf_counter()
        outputs = generate_responses(model, tokenizer, prompts, settings, model_id=EMBEDDED_MODEL)
        seconds = time.perf_counter() - started
        reference = reference or outputs
        same = sum(a == b for a, b in zip(reference, outputs, strict=True)) / len(outputs)
        rows.append(
            {
                "batch_size": batch_size,
                "seconds": seconds,
                "prompts_per_s": n_prompts / seconds,
                "same_as_first": same,
            }
        )
        print(
            f"batch {batch_size:3d}: {seconds:7.1f} s, {n_prompts / seconds:5.2f} prompts/s, identical to first: {same:.0%}"
        )
    return rows
