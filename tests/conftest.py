"""Shared fixtures: tiny random chat models built from a config (no downloads) and a local OpenAI server."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

from openai_server import OpenAICompatibleServer  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_results(tmp_path_factory, monkeypatch):
    """Every test writes results into its own temporary folder, never into the repository's results/, and
    answers in float32 on a CPU whatever its matrix units (``helpers.models.inference_dtype``), so a test's
    answers do not depend on the host."""
    monkeypatch.setenv("WARMBOOK_RESULTS", str(tmp_path_factory.mktemp("results")))
    monkeypatch.setenv("WARMBOOK_CPU_PRECISION", "float32")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A randomly initialised 2-layer Llama with SmolLM2's tokenizer and ChatML template, saved to disk.

    Built from a config in about a second, it exercises the real transformers/peft/trl code paths; its outputs
    are gibberish, which is all the pipeline tests need.
    """
    from tiny_models import tiny_llama
    from transformers import AutoTokenizer

    from helpers.models import prepare_embedded_model

    tokenizer = AutoTokenizer.from_pretrained(prepare_embedded_model())
    torch.manual_seed(0)
    model = tiny_llama(tokenizer)
    path = tmp_path_factory.mktemp("tiny-model")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny(tiny_model_dir):
    """The tiny model loaded once, as ``(model, tokenizer)``, for tests that generate with it."""
    from helpers.models import load_model

    return load_model(str(tiny_model_dir), device="cpu")


@pytest.fixture
def openai_server():
    """Factory: ``with openai_server(respond) as server`` starts a real HTTP server on 127.0.0.1."""
    return OpenAICompatibleServer
