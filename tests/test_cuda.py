"""The GPU path: generation in bfloat16 on CUDA, LoRA training with trl's own loss, QLoRA.

Every test here needs a CUDA device and is skipped without one, so CI (CPU only) reports them as skipped. They
are the checks a machine with a GPU runs first (`tools/device_check.sh` runs this file there): the same tiny
random model as the CPU tests, so they exercise the code paths, not the paper's numbers.
"""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch
from test_finetune import STUDY, _examples, _params, _write_training_data
from test_models_generation import PROMPTS, _lively_model_with_an_early_stop_token

from helpers.checkpoints import checkpoint_problem, list_checkpoints
from helpers.generation import GenerationSettings, generate_responses, model_precision
from helpers.models import choose_device, load_model
from helpers.training.finetune import finetune

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_a_gpu_loads_the_model_in_bfloat16_and_keys_its_cache_so(tiny_model_dir):
    assert choose_device("auto").device.startswith("cuda")
    model, _ = load_model(str(tiny_model_dir))
    assert model.dtype == torch.bfloat16 and model.device.type == "cuda"
    assert model_precision(model) == "bfloat16@cuda"


def test_on_a_gpu_a_resumed_run_gives_the_answers_of_an_uninterrupted_one(tiny_model_dir, tmp_path):
    """bfloat16 answers depend on the batch a prompt is in; the batch plan makes a resumed run form the same
    batches, so its answers are the uninterrupted run's exactly (the CPU test, on the GPU)."""
    model, tokenizer = _lively_model_with_an_early_stop_token(tiny_model_dir)
    model.to("cuda", torch.bfloat16)
    settings = GenerationSettings(0.8, 8, batch_size=2, seed=3)
    prompts = PROMPTS + ["Name a prime.", "Why is the sky blue?"]
    full = tmp_path / "full.jsonl"
    uninterrupted = generate_responses(model, tokenizer, prompts, settings, model_id="tiny", cache_path=full)
    records = full.read_text().splitlines(keepends=True)
    killed = tmp_path / "killed.jsonl"
    killed.write_text(records[0] + records[1] + records[3])
    assert generate_responses(model, tokenizer, prompts, settings, model_id="tiny", cache_path=killed) == (
        uninterrupted
    )


def test_on_a_gpu_lora_trains_in_bfloat16_with_trls_loss_and_saves_resumable_checkpoints(tiny_model_dir):
    _write_training_data("warm", _examples(24))
    result = finetune(_params(str(tiny_model_dir), device="auto", learning_rate=1e-3))
    assert result.log["loss"].notna().all() and len(result.log) == 12
    checkpoints = list_checkpoints(STUDY, str(tiny_model_dir), "warm")
    assert list(checkpoints) == [0.5, 1.0, 2.0]
    for path in checkpoints.values():
        assert checkpoint_problem(path, resumable=True) is None
    info = json.loads((checkpoints[2.0] / "warmbook_checkpoint.json").read_text())
    assert "optimizer.pt" in info["files"]
    model, tokenizer = load_model(str(tiny_model_dir), adapter=checkpoints[2.0])
    assert model.device.type == "cuda"
    assert len(generate_responses(model, tokenizer, PROMPTS[:2], GenerationSettings(0.0, 4))) == 2


@pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is None, reason="needs bitsandbytes")
def test_qlora_trains_an_adapter_on_a_four_bit_base(tiny_model_dir):
    _write_training_data("warm", _examples(8))
    result = finetune(
        _params(str(tiny_model_dir), device="auto", quantization="4bit", epochs=1, checkpoints=[1])
    )
    assert result.log["loss"].notna().all()
    assert checkpoint_problem(list_checkpoints(STUDY, str(tiny_model_dir), "warm")[1.0]) is None
