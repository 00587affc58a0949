"""Model loading and batched generation: one loader for every kind of model id; batching changes nothing."""

import json

import pytest
import torch

import helpers.generation
from helpers.generation import (
    GenerationSettings,
    cache_key,
    chat_messages,
    generate_responses,
    model_precision,
    plan_batches,
    prompt_token_ids,
)
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


def test_a_cpu_trains_in_float32_and_answers_in_bfloat16_only_with_matrix_units(tiny_model_dir, monkeypatch):
    import helpers.models

    plan = choose_device("cpu")
    assert plan.device == "cpu" and plan.dtype == torch.float32
    assert choose_device("cpu", "bfloat16").dtype == torch.bfloat16
    monkeypatch.setenv("WARMBOOK_CPU_PRECISION", "auto")
    for amx, expected in [(False, torch.float32), (True, torch.bfloat16)]:
        monkeypatch.setattr(helpers.models, "cpu_has_bf16_matrix_units", lambda amx=amx: amx)
        assert load_model(str(tiny_model_dir), device="cpu")[0].dtype == expected
    monkeypatch.setenv("WARMBOOK_CPU_PRECISION", "float32")
    assert load_model(str(tiny_model_dir), device="cpu")[0].dtype == torch.float32
    assert load_model(str(tiny_model_dir), device="cpu", dtype="bfloat16")[0].dtype == torch.bfloat16
    monkeypatch.setenv("WARMBOOK_CPU_PRECISION", "fp8")
    with pytest.raises(ParameterError, match="WARMBOOK_CPU_PRECISION"):
        load_model(str(tiny_model_dir), device="cpu")


def test_the_preallocated_cache_holds_what_a_dynamic_cache_holds():
    from transformers.cache_utils import DynamicLayer

    from helpers.generation import _PreallocatedLayer

    torch.manual_seed(0)
    grown, reference = _PreallocatedLayer(capacity=6), DynamicLayer()
    steps = [torch.randn(1, 2, 3, 4), None, torch.randn(3, 2, 2, 4), "select", torch.randn(2, 2, 1, 4)]
    for step in steps:
        if step is None:
            for layer in (grown, reference):
                layer.batch_repeat_interleave(3)
        elif isinstance(step, str):
            for layer in (grown, reference):
                layer.batch_select_indices(torch.tensor([0, 2]))
        else:
            got, want = grown.update(step, step + 1), reference.update(step, step + 1)
            assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
    assert grown.get_seq_length() == reference.get_seq_length() == 6
    with pytest.raises(RuntimeError, match="cannot hold"):
        grown.update(torch.randn(2, 2, 4, 4), torch.randn(2, 2, 4, 4))


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
    model, tokenizer = load_model(str(tiny_model_dir), device="cpu", dtype="float32")
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


def test_a_cache_filled_in_one_precision_never_answers_for_another(tiny_model_dir, tmp_path, monkeypatch):
    """bfloat16 and float32 answers of the same weights differ, so each precision has its own cache rows; both
    sample from the same random streams (the seed key leaves the precision out)."""
    cache = tmp_path / "generations.jsonl"
    settings = GenerationSettings(0.8, 6, batch_size=2, seed=3)
    answers = {}
    for dtype in ["float32", "bfloat16", "float32"]:
        model, tokenizer = load_model(str(tiny_model_dir), device="cpu", dtype=dtype)
        assert model_precision(model) == f"{dtype}@cpu"
        answers.setdefault(dtype, []).append(
            generate_responses(model, tokenizer, PROMPTS, settings, model_id="tiny", cache_path=cache)
        )
    assert len(list(read_jsonl(cache))) == 2 * len(PROMPTS)  # the second float32 run regenerated nothing
    assert answers["float32"][0] == answers["float32"][1]
    assert cache_key("tiny", PROMPTS[0], settings, "float32@cpu") != cache_key(
        "tiny", PROMPTS[0], settings, "bfloat16@cpu"
    )
    seeds, real = [], helpers.generation._row_generator
    monkeypatch.setattr(helpers.generation, "_row_generator", lambda key: seeds.append(key) or real(key))
    generate_responses(model, tokenizer, PROMPTS[:2], settings, model_id="tiny")
    assert sorted(seeds) == sorted(cache_key("tiny", p, settings) for p in PROMPTS[:2])


def _lively_model_with_an_early_stop_token(tiny_model_dir):
    """The tiny model with weights drawn wide enough that greedy answers differ per prompt, and a token that ends
    the answer to one prompt after three tokens made a stop token (others run to the cap)."""
    model, tokenizer = load_model(str(tiny_model_dir), device="cpu", dtype="float32")
    torch.manual_seed(0)
    with torch.no_grad():
        for name, weight in model.named_parameters():
            if "norm" not in name:
                weight.normal_(0, 0.15)
    ids = torch.tensor(prompt_token_ids(tokenizer, PROMPTS[3:4]))
    with torch.inference_mode():
        stop = int(model.generate(input_ids=ids, max_new_tokens=3, do_sample=False)[0, -1])
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, stop]
    return model, tokenizer


def test_the_decode_loop_gives_model_generate_greedy_answers_in_float32(tiny_model_dir):
    model, tokenizer = _lively_model_with_an_early_stop_token(tiny_model_dir)
    expected = []
    for prompt in PROMPTS:
        ids = torch.tensor(prompt_token_ids(tokenizer, [prompt]))
        with torch.inference_mode():
            out = model.generate(input_ids=ids, max_new_tokens=12, do_sample=False)
        expected.append(tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True).strip())
    assert (
        generate_responses(model, tokenizer, PROMPTS, GenerationSettings(0.0, 12, batch_size=4)) == expected
    )
    assert len(set(map(len, expected))) > 1  # one answer stopped early, so its row left the batch


def _batch_1_greedy(model, tokenizer, prompts, max_new_tokens):
    answers = []
    for prompt in prompts:
        ids = torch.tensor(prompt_token_ids(tokenizer, [prompt]))
        with torch.inference_mode():
            out = model.generate(input_ids=ids, max_new_tokens=max_new_tokens, do_sample=False)
        answers.append(tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True).strip())
    return answers


def test_a_finished_rows_slot_is_refilled_and_answers_stay_those_of_batch_1(tiny_model_dir):
    model, tokenizer = _lively_model_with_an_early_stop_token(tiny_model_dir)
    prompts = PROMPTS + ["Name a prime.", "Why is the sky blue?"]
    calls = []
    model.register_forward_hook(
        lambda module, args, kwargs, out: calls.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True
    )
    answers = generate_responses(model, tokenizer, prompts, GenerationSettings(0.0, 12, batch_size=3))
    decode_steps = [i for i, shape in enumerate(calls) if shape[1] == 1]
    refills = [i for i, shape in enumerate(calls) if shape[1] > 1 and decode_steps and i > decode_steps[0]]
    assert refills, "no prompt entered the batch after decoding began"
    assert max(shape[0] for shape in calls) == 3  # never more rows than slots
    assert answers == _batch_1_greedy(model, tokenizer, prompts, 12)


def test_the_attention_mask_follows_prompt_lengths_not_the_pad_token(tiny_model_dir):
    """SmolLM2's pad token is its end-of-turn token, which ends every chat turn inside the prompt: a mask of
    "tokens that are not pad" hides the prompt's own turn ends and changes the answers; ours does not."""
    model, tokenizer = _lively_model_with_an_early_stop_token(tiny_model_dir)
    token_ids = prompt_token_ids(tokenizer, PROMPTS)
    assert all(tokenizer.pad_token_id in ids[:-1] for ids in token_ids)  # the pitfall is present
    reference = _batch_1_greedy(model, tokenizer, PROMPTS, 12)
    ours = generate_responses(model, tokenizer, PROMPTS, GenerationSettings(0.0, 12, batch_size=len(PROMPTS)))
    assert ours == reference
    padded = tokenizer.pad({"input_ids": token_ids}, return_tensors="pt")
    naive_mask = (padded["input_ids"] != tokenizer.pad_token_id).long()
    with torch.inference_mode():
        out = model.generate(
            input_ids=padded["input_ids"], attention_mask=naive_mask, max_new_tokens=12, do_sample=False
        )
    naive = [t.strip() for t in tokenizer.batch_decode(out[:, padded["input_ids"].shape[1] :], skip_special_tokens=True)]
    assert naive != reference  # the naive mask is wrong on these prompts: this test can tell the two apart


def test_a_stopped_row_leaves_the_batch_and_the_shared_prefix_runs_once(tiny_model_dir):
    model, tokenizer = _lively_model_with_an_early_stop_token(tiny_model_dir)
    shapes = []
    model.register_forward_hook(
        lambda module, args, kwargs, out: shapes.append(kwargs["input_ids"].shape), with_kwargs=True
    )
    generate_responses(model, tokenizer, PROMPTS, GenerationSettings(0.0, 12, batch_size=len(PROMPTS)))
    assert shapes[0][0] == 1  # the chat template's opening, shared by every prompt, once
    rows = [shape[0] for shape in shapes[1:]]
    assert rows[0] == len(PROMPTS) and rows[-1] < len(PROMPTS) and rows == sorted(rows, reverse=True)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_a_resumed_run_gives_the_answers_of_an_uninterrupted_one(tiny_model_dir, tmp_path, dtype):
    model, tokenizer = _lively_model_with_an_early_stop_token(tiny_model_dir)
    model.to(getattr(torch, dtype))
    settings = GenerationSettings(0.8, 8, batch_size=1, seed=3)  # groups of GROUP_BATCHES: 4 and 3 prompts
    prompts = PROMPTS + ["Name a prime.", "Why is the sky blue?"]
    full = tmp_path / "full.jsonl"
    uninterrupted = generate_responses(model, tokenizer, prompts, settings, model_id="tiny", cache_path=full)
    records = full.read_text().splitlines(keepends=True)
    for survivors in ([0, 1, 2, 3], [0, 1, 5]):  # killed after the first group; killed with both groups partial
        killed = tmp_path / f"killed-{len(survivors)}.jsonl"
        killed.write_text("".join(records[i] for i in survivors))
        resumed = generate_responses(model, tokenizer, prompts, settings, model_id="tiny", cache_path=killed)
        assert resumed == uninterrupted
        assert sorted(killed.read_text().splitlines()) == sorted(full.read_text().splitlines())


def test_groups_are_planned_over_all_prompts_whatever_the_cache_holds(tiny_model_dir, tmp_path, monkeypatch):
    model, tokenizer = load_model(str(tiny_model_dir), device="cpu")
    settings = GenerationSettings(0.8, 4, batch_size=1)  # groups of GROUP_BATCHES prompts: 4 and 1
    run_groups = []
    decode = helpers.generation.decode_group

    def recording(model, rows, settings, keys, *args):
        run_groups.append(tuple(keys))
        return decode(model, rows, settings, keys, *args)

    monkeypatch.setattr(helpers.generation, "decode_group", recording)
    cache = tmp_path / "cache.jsonl"
    generate_responses(model, tokenizer, PROMPTS, settings, cache_path=cache)
    all_groups, run_groups[:] = list(run_groups), []
    assert [len(g) for g in all_groups] == [helpers.generation.GROUP_BATCHES, 1]
    records = cache.read_text().splitlines(keepends=True)
    cache.write_text("".join(records[:4]))  # the first group survives whole, the second not at all
    generate_responses(model, tokenizer, PROMPTS, settings, cache_path=cache)
    assert run_groups == all_groups[1:]
    run_groups[:] = []
    cache.write_text("".join(records[:3] + records[4:]))  # one answer of the first group is lost
    generate_responses(model, tokenizer, PROMPTS, settings, cache_path=cache)
    assert run_groups == all_groups[:1]


def test_the_batch_plan_sorts_by_length_then_key():
    assert plan_batches(["b", "a", "c", "d"], [5, 5, 1, 9], batch_size=2) == [[2, 1], [0, 3]]


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


def test_sampling_draws_from_each_rows_distribution_with_its_own_stream():
    from helpers.generation import _sample

    probs = torch.tensor([[0.0, 0.2, 0.8], [1.0, 0.0, 0.0], [0.5, 0.0, 0.5]])
    streams = [torch.Generator().manual_seed(s) for s in range(3)]
    draws = torch.stack([_sample(probs, streams) for _ in range(4000)])
    assert (draws[:, 1] == 0).all() and (draws[:, 0] != 0).all() and (draws[:, 2] != 1).all()
    assert abs((draws[:, 0] == 2).float().mean().item() - 0.8) < 0.03
    assert abs((draws[:, 2] == 0).float().mean().item() - 0.5) < 0.03
    again = [torch.Generator().manual_seed(s) for s in range(3)]
    assert torch.equal(_sample(probs, again), draws[0])
