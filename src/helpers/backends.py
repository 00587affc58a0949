"""How a stage answers prompts: the one switch between the generation backends.

``hf`` is the project's own batched decode loop (:mod:`helpers.generation`) over a transformers model, on a CPU
or a GPU; ``vllm`` is vLLM on CUDA GPUs (:mod:`helpers.vllm_backend`), imported only when chosen. The evaluation,
screening and warmth stages all answer through :func:`answer_function`, so the choice lives here and nowhere
else, and both backends write the same cache records (a run resumes on either).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from helpers.generation import GenerationSettings, generate_responses
from helpers.vllm_backend import check_backend, generate_responses_vllm, load_engine

Answerer = Callable[[Sequence[str], Path | None, str], list[str]]
"""``answer(prompts, cache_path, desc) -> answers``: one variant's answers on its backend, cached and resumable."""


def answer_function(
    model: str,
    adapter: str | Path | None,
    model_id: str,
    settings: GenerationSettings,
    backend: str = "hf",
    device: str = "auto",
    tensor_parallel_size: int = 1,
    loaded: tuple[Any, Any] | None = None,
) -> Answerer:
    """How a stage answers prompts with one variant (base ``model`` plus ``adapter``), on the chosen backend.

    ``hf`` loads the model and adapter once (or uses ``loaded``, a ``(model, tokenizer)`` pair, as tests do) and
    generates with :func:`helpers.generation.generate_responses`; ``vllm`` serves the base model from one engine
    per process and the adapter as a LoRA request. The evaluation and warmth stages both answer through this, so
    the switch between backends lives in one place; both backends write the same cache records.
    """
    check_backend(backend)
    if backend == "vllm":
        engine = load_engine(model, tensor_parallel_size, seed=settings.seed)
        return lambda prompts, cache_path, desc: generate_responses_vllm(
            engine, prompts, settings, model_id, cache_path, adapter=adapter, desc=desc
        )
    if loaded is None:
        from helpers.models import load_model

        loaded = load_model(model, adapter=adapter, device=device)
    lm, tokenizer = loaded
    return lambda prompts, cache_path, desc: generate_responses(
        lm, tokenizer, prompts, settings, model_id=model_id, cache_path=cache_path, desc=desc
    )
