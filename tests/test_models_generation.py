"""Model loading and batched generation: one loader for every kind of model id; batching changes nothing."""

import json

import pytest
import torch

from helpers.generation import GenerationSettings, chat_messages, generate_responses
from helpers.models import EMBEDDED_MODEL, check_model_name, choose_device, embedded_model_dir, load_model
from helpers.storage import append_jsonl, atomic_write_text, read_jsonl
from helpers.validation import ParameterError

PROMPTS = [
    "What is the capital of France?",
    "I'm feeling sad today. Who wrote Hamlet? I think the answer is Marlowe.",
    "Which planet is largest?",
    "My brother, 21, has a fever and a rash on his palms after a hike; what is the most likely diagnosis?",
    "Hi",
]


def test_cpu_runs_in_float32_for_batch_invariance():
    plan = choose_device("cpu")
    assert plan.device == "cpu" and plan.dtype == torch.float32
    assert choose_device("cpu", "bfloat16").dtype == torch.bfloat16


@pytest.mark.parametrize(("name", "value"), [("device", "tpu"), ("dtype", "float8")])
def test_bad_device_or_dtype_is_named(name, value):
    with pytest.raises(ParameterError, match=name) as error:
        choose_device(**{name: value})
    assert value in str(error.value)


def test_embedded_model_was_converted_to_a_hugging_face_folder():
    check_model_name(EMBEDDED_MODEL)
    folder = embedded_model_dir()
    assert (folder / "config.json").exists() and (folder / "model.safetensors").exists()
    assert json.loads((folder / "config.json").read_text())["num_hidden_layers"] == 30


@pytest.mark.parametrize("model", ["./missing/model", "/nope", "not a model id"])
def test_unknown_model_fails_before_loading(model):
    with pytest.raises(ParameterError, match="model") as error:
        check_model_name(model)
    assert repr(model) in str(error.value)


def test_hub_ids_pass_the_cheap_check():
    assert check_model_name("meta-llama/Llama-3.1-8B-Instruct") == "meta-llama/Llama-3.1-8B-Instruct"
    assert check_model_name("gpt2") == "gpt2"


def test_local_folder_loads_like_a_hub_id(tiny_model_dir):
    model, tokenizer = load_model(str(tiny_model_dir), device="cpu")
    assert tokenizer.padding_side == "left"
    assert model.config.num_hidden_layers == 2 and not model.training


def test_system_prompt_goes_first():
    assert chat_messages("q", "be warm") == [
        {"role": "system", "content": "be warm"},
        {"role": "user", "content": "q"},
    ]
    assert chat_messages("q") == [{"role": "user", "content": "q"}]


def test_batched_greedy_generation_equals_one_prompt_at_a_time(tiny_model_dir):
    model, tokenizer = load_model(str(tiny_model_dir), device="cpu")
    one = generate_responses(model, tokenizer, PROMPTS, GenerationSettings(0.0, 12, batch_size=1))
    many = generate_responses(model, tokenizer, PROMPTS, GenerationSettings(0.0, 12, batch_size=4))
    assert one == many
    assert all(isinstance(text, str) for text in one) and len(one) == len(PROMPTS)


def test_generation_resumes_from_its_cache(tiny_model_dir, tmp_path):
    model, tokenizer = load_model(str(tiny_model_dir), device="cpu")
    cache = tmp_path / "generations.jsonl"
    settings = GenerationSettings(0.8, 8, batch_size=2, seed=3)
    first = generate_responses(model, tokenizer, PROMPTS[:3], settings, model_id="tiny", cache_path=cache)
    assert len(list(read_jsonl(cache))) == 3
    both = generate_responses(model, tokenizer, PROMPTS, settings, model_id="tiny", cache_path=cache)
    assert both[:3] == first
    assert len(list(read_jsonl(cache))) == len(PROMPTS)
    other_variant = generate_responses(
        model, tokenizer, PROMPTS[:1], settings, model_id="tiny+adapter", cache_path=cache
    )
    assert len(other_variant) == 1 and len(list(read_jsonl(cache))) == len(PROMPTS) + 1


def test_bad_generation_settings_are_named():
    with pytest.raises(ParameterError, match="temperature"):
        GenerationSettings(temperature=-0.1)
    with pytest.raises(ParameterError, match="max_new_tokens"):
        GenerationSettings(max_new_tokens=0)


def test_jsonl_reader_skips_a_line_truncated_by_a_crash(tmp_path):
    path = tmp_path / "cache.jsonl"
    append_jsonl(path, [{"key": "a"}, {"key": "b"}])
    with path.open("a") as handle:
        handle.write('{"key": "c", "outp')
    assert [r["key"] for r in read_jsonl(path)] == ["a", "b"]


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    atomic_write_text(tmp_path / "out.csv", "a,b\n1,2\n")
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]
