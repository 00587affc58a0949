"""The vLLM backend: chosen only where vLLM is installed; its requests built exactly like the Hugging Face backend's.

No GPU and no vLLM here: the pure functions are tested directly, and the engine is replaced at the very edge by a
fake ``vllm`` module (``LLM``, ``SamplingParams``, ``LoRARequest``) that records what it is asked.
"""

from __future__ import annotations

import importlib.machinery
import json
import sys
import types
from pathlib import Path

import pytest

from helpers import vllm_backend
from helpers.generation import GenerationSettings, cache_key, generate_responses, prompt_token_ids
from helpers.models import load_tokenizer
from helpers.validation import ParameterError
from helpers.vllm_backend import (
    LoRARegistry,
    check_backend,
    engine_kwargs,
    generate_responses_vllm,
    load_engine,
    request_seed,
    sampling_kwargs,
)

SETTINGS = GenerationSettings(temperature=0.8, max_new_tokens=300, batch_size=2, seed=7)


class _FakeLLM:
    """Stands in for ``vllm.LLM``: answers ``"<adapter>:<n prompt tokens>:<seed>"`` and records every call."""

    instances: list[_FakeLLM] = []

    def __init__(self, **kwargs):
        self.kwargs, self.calls = kwargs, []
        _FakeLLM.instances.append(self)

    def generate(self, prompts, sampling_params, *, use_tqdm=True, lora_request=None):
        self.calls.append({"prompts": prompts, "params": sampling_params, "lora": lora_request})
        name = lora_request.kwargs["lora_name"] if lora_request else "base"
        return [
            types.SimpleNamespace(
                outputs=[
                    types.SimpleNamespace(text=f"  {name}:{len(p['prompt_token_ids'])}:{s.kwargs['seed']} \n")
                ]
            )
            for p, s in zip(prompts, sampling_params, strict=True)
        ]


class _Recorded:
    def __init__(self, **kwargs):
        self.kwargs = kwargs


@pytest.fixture
def fake_vllm(monkeypatch):
    """A ``vllm`` package with the three names the backend uses, visible to ``importlib.util.find_spec``."""
    _FakeLLM.instances.clear()
    package = types.ModuleType("vllm")
    package.__spec__ = importlib.machinery.ModuleSpec("vllm", None, is_package=True)
    package.LLM, package.SamplingParams = _FakeLLM, type("SamplingParams", (_Recorded,), {})
    lora, request = types.ModuleType("vllm.lora"), types.ModuleType("vllm.lora.request")
    request.LoRARequest = type("LoRARequest", (_Recorded,), {})
    for name, module in (("vllm", package), ("vllm.lora", lora), ("vllm.lora.request", request)):
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(vllm_backend, "_ENGINES", {})
    return package


def _adapter(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"r": 8}))
    return folder


@pytest.mark.skipif(vllm_backend.vllm_installed(), reason="vLLM is installed here")
def test_vllm_backend_is_refused_where_vllm_is_not_installed_naming_the_fix():
    with pytest.raises(ParameterError) as error:
        check_backend("vllm")
    assert error.value.name == "backend"
    assert "pip install vllm==0.33.0" in str(error.value)
    assert check_backend("hf") == "hf"


def test_unknown_backend_is_refused():
    with pytest.raises(ParameterError, match="'hf', 'vllm'"):
        check_backend("tgi")


def test_vllm_backend_is_accepted_where_vllm_is_installed(fake_vllm):
    assert check_backend("vllm") == "vllm"


def test_the_vllm_backend_sends_the_token_ids_of_the_hf_backends_chat_template(tiny_model_dir):
    tokenizer = load_tokenizer(str(tiny_model_dir))
    prompts = ["What is the capital of France?", "I feel sad today. Who wrote Hamlet?"]
    ids = prompt_token_ids(tokenizer, prompts, system_prompt="Be warm.")
    for prompt, token_ids in zip(prompts, ids, strict=True):
        text = tokenizer.decode(token_ids)
        assert text.startswith("<|im_start|>system\nBe warm.<|im_end|>")
        assert text.endswith(f"<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n")
        assert token_ids.count(tokenizer.convert_tokens_to_ids("<|im_start|>")) == 3  # nothing added twice
    hf = tokenizer(
        [tokenizer.apply_chat_template(
            [{"role": "system", "content": "Be warm."}, {"role": "user", "content": p}],
            tokenize=False, add_generation_prompt=True,
        ) for p in prompts],
        add_special_tokens=False,
    )["input_ids"]  # fmt: skip
    assert ids == hf


def test_sampling_parameters_are_the_papers_temperature_and_cap_with_a_per_prompt_seed():
    assert sampling_kwargs(SETTINGS, 123) == {
        "n": 1,
        "temperature": 0.8,
        "top_p": 1.0,
        "max_tokens": 300,
        "seed": 123,
        "skip_special_tokens": True,
    }
    key_a, key_b = cache_key("m", "a", SETTINGS), cache_key("m", "b", SETTINGS)
    assert request_seed(SETTINGS, key_a) == request_seed(SETTINGS, key_a) != request_seed(SETTINGS, key_b)
    assert request_seed(SETTINGS, key_a) - request_seed(GenerationSettings(seed=0), key_a) == 7


def test_each_adapter_folder_keeps_one_lora_id(tmp_path):
    registry = LoRARegistry()
    warm, cold = _adapter(tmp_path / "warm"), _adapter(tmp_path / "cold")
    assert registry.request_args(warm) == {
        "lora_name": "adapter-1", "lora_int_id": 1, "lora_path": str(warm.resolve())
    }  # fmt: skip
    assert registry.request_args(cold)["lora_int_id"] == 2
    assert registry.request_args(tmp_path / "warm" / ".." / "warm")["lora_int_id"] == 1
    with pytest.raises(ParameterError, match="adapter_config.json"):
        registry.request_args(tmp_path / "missing")


def test_engine_serves_adapters_with_lora_enabled_and_the_configured_tensor_parallel_size():
    kwargs = engine_kwargs("/models/llama", tensor_parallel_size=2, max_lora_rank=8, seed=3)
    assert kwargs == {
        "model": "/models/llama", "tokenizer": "/models/llama", "tensor_parallel_size": 2,
        "enable_lora": True, "max_lora_rank": 8, "max_loras": 1, "dtype": "auto", "seed": 3,
    }  # fmt: skip
    with pytest.raises(ParameterError, match="tensor_parallel_size"):
        engine_kwargs("/models/llama", tensor_parallel_size=0)


def test_one_engine_per_base_model_serves_the_original_and_every_adapter(fake_vllm, tiny_model_dir, tmp_path):
    model = str(tiny_model_dir)
    engine = load_engine(model, tensor_parallel_size=1)
    assert load_engine(model, tensor_parallel_size=1) is engine
    assert len(_FakeLLM.instances) == 1 and _FakeLLM.instances[0].kwargs["enable_lora"] is True
    adapter = _adapter(tmp_path / "checkpoint-epoch-2")
    original = generate_responses_vllm(engine, ["Hi there"], SETTINGS, model_id=model)
    warm = generate_responses_vllm(engine, ["Hi there"], SETTINGS, model_id=model + "+warm", adapter=adapter)
    assert original[0].startswith("base:") and warm[0].startswith("adapter-1:")
    assert engine.llm.calls[1]["lora"].kwargs["lora_path"] == str(adapter.resolve())


def test_answers_come_back_in_order_and_are_cached_like_the_hf_backend(fake_vllm, tiny_model_dir, tmp_path):
    engine = load_engine(str(tiny_model_dir))
    cache = tmp_path / "generations.jsonl"
    prompts = ["Who wrote Hamlet? Please answer.", "2+2?", "2+2?"]
    answers = generate_responses_vllm(engine, prompts, SETTINGS, model_id="m", cache_path=cache)
    [call] = engine.llm.calls
    assert len(call["prompts"]) == 2  # the repeated prompt is generated once
    assert [p.kwargs["seed"] for p in call["params"]] == [
        request_seed(SETTINGS, cache_key("m|vllm", p, SETTINGS)) for p in prompts[:2]
    ]
    assert answers[1] == answers[2] and answers[0] != answers[1] and answers[0] == answers[0].strip()
    records = [json.loads(line) for line in cache.read_text().splitlines()]
    assert [set(r) for r in records] == [{"key", "prompt", "output"}] * 2
    assert generate_responses_vllm(engine, prompts, SETTINGS, model_id="m", cache_path=cache) == answers
    assert len(engine.llm.calls) == 1  # the rerun was served from the cache


def test_answers_of_the_hf_backend_are_not_passed_off_as_vllm_answers(fake_vllm, tiny_model_dir, tmp_path):
    from helpers.models import load_model

    cache = tmp_path / "generations.jsonl"
    settings = GenerationSettings(temperature=0.0, max_new_tokens=2, batch_size=2)
    lm, tokenizer = load_model(str(tiny_model_dir), device="cpu")
    generate_responses(lm, tokenizer, ["2+2?"], settings, model_id="m", cache_path=cache)
    engine = load_engine(str(tiny_model_dir))
    generate_responses_vllm(engine, ["2+2?"], settings, model_id="m", cache_path=cache)
    assert len(engine.llm.calls) == 1
    assert len(cache.read_text().splitlines()) == 2


@pytest.mark.skipif(vllm_backend.vllm_installed(), reason="vLLM is installed here")
def test_the_warmth_stage_serves_the_original_and_every_checkpoint_from_one_engine(
    fake_vllm, tiny_model_dir, tmp_path, monkeypatch
):
    from helpers.warmth.sociot import WarmthVariant, generate_variant_responses

    monkeypatch.setenv("WARMBOOK_RESULTS", str(tmp_path / "results"))
    model = str(tiny_model_dir)
    variants = [
        WarmthVariant("original", 0.0, None),
        WarmthVariant("warm", 2.0, _adapter(tmp_path / "warm-2")),
        WarmthVariant("cold", 2.0, _adapter(tmp_path / "cold-2")),
    ]
    answers = {
        v.label: generate_variant_responses("s", model, v, ["Hi there"], SETTINGS, backend="vllm")
        for v in variants
    }
    assert len(_FakeLLM.instances) == 1  # one engine for the base model
    assert [a[0].split(":")[0] for a in answers.values()] == ["base", "adapter-1", "adapter-2"]
    [engine] = _FakeLLM.instances
    assert [c["lora"].kwargs["lora_path"] if c["lora"] else None for c in engine.calls] == [
        None, str((tmp_path / "warm-2").resolve()), str((tmp_path / "cold-2").resolve())
    ]  # fmt: skip


def test_the_warmth_stage_refuses_vllm_where_it_is_not_installed(tiny_model_dir, tmp_path):
    from helpers.warmth.sociot import WarmthVariant, generate_variant_responses

    if vllm_backend.vllm_installed():
        pytest.skip("vLLM is installed here")
    with pytest.raises(ParameterError, match="backend"):
        generate_variant_responses(
            "s", str(tiny_model_dir), WarmthVariant("original", 0.0, None), ["Hi"], SETTINGS, backend="vllm"
        )
