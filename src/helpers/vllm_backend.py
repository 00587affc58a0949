"""vLLM as a second generation backend: one engine per base model, adapters served as LoRA requests.

At the paper's scale (about 182,000 evaluation answers per model of up to 70B parameters, docs/study.md
section 4) the project's own decode loop (:func:`helpers.generation.generate_responses`, batches planned up
front over a transformers model) keeps one GPU busy at a time; vLLM's continuous batching and tensor
parallelism do the same sampling many times faster. The backend is chosen per stage with
``backend: hf | vllm``; ``hf`` stays the default and the only CPU path (docs/design.md, "Scale").

What stays the same as :func:`helpers.generation.generate_responses`, so a stage can switch backend without
touching anything else:
- the prompts: the same chat template of the model's tokenizer (no system prompt unless the warm-prompt control
  sets one), tokenized without extra special tokens — vLLM receives token ids, so it never adds a second BOS;
- the sampling: temperature and the new-token cap of :class:`helpers.generation.GenerationSettings`, plain
  sampling (top-p 1, no top-k), answers stripped of surrounding white space;
- the cache: the same JSONL file and record schema (``key``, ``prompt``, ``output``), appended chunk by chunk.
  Keys are :func:`helpers.generation.cache_key` of ``model_id + "|vllm"``: the two engines draw different random
  numbers, so answers of one never pass silently for answers of the other.

One engine per base model serves the original model and every adapter (``enable_lora=True``): the warmth stage's
sixteen checkpoints and the evaluation variants share one copy of the base weights. Each prompt carries its own
seed (from ``settings.seed`` and its cache key), so an answer does not depend on which other prompts were batched
with it — vLLM schedules requests as it likes.

``vllm`` is imported only when an engine is built; :func:`check_backend` refuses ``backend="vllm"`` up front,
naming the parameter and the fix, where vLLM is not installed.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from tqdm.auto import tqdm

from helpers.generation import GenerationSettings, cache_key, prompt_token_ids
from helpers.storage import append_jsonl, read_jsonl
from helpers.validation import ParameterError, check_choice, check_positive_int
from helpers.vocabulary import Backend

BACKENDS: tuple[str, ...] = get_args(Backend)
"""``hf``: the project's decode loop over a transformers model (``helpers.generation``; default, CPU and GPU).
``vllm``: the vLLM engine (CUDA GPUs)."""

VLLM_PIN = "vllm==0.33.0"
"""The vLLM release this backend was written against (its ``LLM``, ``SamplingParams`` and ``LoRARequest``)."""

CHUNK_SIZE = 512
"""Prompts submitted to the engine per call: vLLM batches inside a chunk; the cache is appended after each."""


def vllm_installed() -> bool:
    """Whether ``import vllm`` would find the package (nothing is imported: vLLM initialises CUDA on import)."""
    return importlib.util.find_spec("vllm") is not None


def check_backend(backend: str) -> str:
    """``hf`` or ``vllm``; ``vllm`` only where the package is installed, so a stage fails before loading anything."""
    check_choice("backend", backend, BACKENDS)
    if backend == "vllm" and not vllm_installed():
        raise ParameterError(
            "backend",
            backend,
            f"'hf' (the default), or 'vllm' after `.venv/bin/pip install {VLLM_PIN}` on a machine with a CUDA GPU "
            "(vLLM is not installed in this environment)",
        )
    return backend


def check_tensor_parallel_size(tensor_parallel_size: int) -> int:
    """GPUs one engine spreads a model over (the paper used 2-3 H100s per model; docs/study.md section 2)."""
    return check_positive_int("tensor_parallel_size", tensor_parallel_size)


def vllm_model_id(model_id: str) -> str:
    """The identity cache keys are computed from, so vLLM answers and ``hf`` backend answers never mix."""
    return f"{model_id}|vllm"


def request_seed(settings: GenerationSettings, key: str) -> int:
    """A per-prompt seed: the same prompt draws the same random numbers whatever it is batched with."""
    return settings.seed + int(key[:8], 16) % 1_000_003


def sampling_kwargs(settings: GenerationSettings, seed: int) -> dict[str, Any]:
    """Arguments of ``vllm.SamplingParams`` for one prompt: the paper's temperature and cap, plain sampling.

    Temperature 0 is greedy decoding in vLLM, as ``do_sample=False`` is in Hugging Face.
    """
    return {
        "n": 1,
        "temperature": settings.temperature,
        "top_p": 1.0,
        "max_tokens": settings.max_new_tokens,
        "seed": seed,
        "skip_special_tokens": True,
    }


@dataclass
class LoRARegistry:
    """Stable integer ids for the adapters one engine serves (vLLM keys its adapter cache on ``lora_int_id``)."""

    ids: dict[str, int] = field(default_factory=dict)

    def request_args(self, adapter: str | Path) -> dict[str, Any]:
        """Arguments of ``vllm.lora.request.LoRARequest`` for an adapter folder; the same folder keeps its id."""
        path = str(Path(adapter).resolve())
        if not (Path(path) / "adapter_config.json").exists():
            raise ParameterError(
                "adapter", str(adapter), "a folder with a peft adapter_config.json (a saved checkpoint)"
            )
        lora_id = self.ids.setdefault(path, len(self.ids) + 1)
        return {"lora_name": f"adapter-{lora_id}", "lora_int_id": lora_id, "lora_path": path}


@dataclass
class VLLMEngine:
    """A vLLM ``LLM`` for one base model, its tokenizer and the adapters it has been asked to serve."""

    model: str
    llm: Any
    tokenizer: Any
    loras: LoRARegistry = field(default_factory=LoRARegistry)


def engine_kwargs(
    model_path: str, tensor_parallel_size: int = 1, max_lora_rank: int = 8, seed: int = 0
) -> dict[str, Any]:
    """Arguments of ``vllm.LLM``: LoRA on, the model's own dtype (bf16 for the paper's models), ``seed``.

    ``max_lora_rank`` must be at least the adapters' rank (paper: r=8); ``max_loras`` adapters stay on the GPU at
    once — the warmth stage asks for one at a time.
    """
    return {
        "model": model_path,
        "tokenizer": model_path,
        "tensor_parallel_size": check_tensor_parallel_size(tensor_parallel_size),
        "enable_lora": True,
        "max_lora_rank": check_positive_int("max_lora_rank", max_lora_rank),
        "max_loras": 1,
        "dtype": "auto",
        "seed": seed,
    }


_ENGINES: dict[tuple[str, int, int], VLLMEngine] = {}


def load_engine(
    model: str, tensor_parallel_size: int = 1, max_lora_rank: int = 8, seed: int = 0
) -> VLLMEngine:
    """The engine for a base model, built once per process and reused for the original and every adapter."""
    from helpers.models import load_tokenizer, resolve_model_path

    check_backend("vllm")
    key = (model, tensor_parallel_size, max_lora_rank)
    if key not in _ENGINES:
        from vllm import LLM

        path = resolve_model_path(model)
        llm = LLM(**engine_kwargs(path, tensor_parallel_size, max_lora_rank, seed))
        _ENGINES[key] = VLLMEngine(model, llm, load_tokenizer(model))
    return _ENGINES[key]


def generate_responses_vllm(
    engine: VLLMEngine,
    prompts: Sequence[str],
    settings: GenerationSettings,
    model_id: str = "",
    cache_path: Path | None = None,
    adapter: str | Path | None = None,
    desc: str = "generating (vLLM)",
) -> list[str]:
    """Answer every prompt (in the given order) with vLLM, reusing and extending the generation cache.

    The drop-in counterpart of :func:`helpers.generation.generate_responses`: same arguments (the engine replaces
    model and tokenizer; ``adapter`` picks a LoRA checkpoint, ``None`` the original model), same return value,
    same cache records.
    """
    from vllm import SamplingParams
    from vllm.lora.request import LoRARequest

    lora = LoRARequest(**engine.loras.request_args(adapter)) if adapter else None
    keys = [cache_key(vllm_model_id(model_id), p, settings) for p in prompts]
    done = {r["key"]: r["output"] for r in read_jsonl(cache_path)} if cache_path else {}
    todo = list({k: p for k, p in zip(keys, prompts, strict=True) if k not in done}.items())
    with tqdm(total=len(todo), desc=desc, unit="prompt", disable=None if todo else True) as bar:
        for start in range(0, len(todo), CHUNK_SIZE):
            chunk = todo[start : start + CHUNK_SIZE]
            token_ids = prompt_token_ids(engine.tokenizer, [p for _, p in chunk], settings.system_prompt)
            results = engine.llm.generate(
                [{"prompt_token_ids": ids} for ids in token_ids],
                [SamplingParams(**sampling_kwargs(settings, request_seed(settings, k))) for k, _ in chunk],
                use_tqdm=False,
                lora_request=lora,
            )
            records = [
                {"key": k, "prompt": p, "output": result.outputs[0].text.strip()}
                for (k, p), result in zip(chunk, results, strict=True)
            ]
            if cache_path:
                append_jsonl(cache_path, records)
            done.update({r["key"]: r["output"] for r in records})
            bar.update(len(chunk))
    return [done[k] for k in keys]
