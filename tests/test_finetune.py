"""LoRA fine-tuning: checkpoints at the paper's epochs, loss on the reply only, bad input refused up front."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from tiny_models import tiny_llama

from helpers.checkpoints import (
    checkpoint_dir,
    format_epoch,
    list_checkpoints,
    require_checkpoints,
    variant_adapter,
)
from helpers.models import load_model
from helpers.training.finetune import (
    build_trainer,
    checkpoint_steps,
    finetune,
    load_training_examples,
    training_data_path,
)
from helpers.training.params import FinetuneParams
from helpers.validation import ParameterError

STUDY = "unit"
SMALL = {"epochs": 2, "checkpoints": [0.5, 1, 2], "per_device_batch": 2, "grad_accum": 2, "max_length": 128}


def _params(model: str, style: str = "warm", **changes) -> FinetuneParams:
    return FinetuneParams.build(study=STUDY, model=model, style=style, device="cpu", **{**SMALL, **changes})


def _examples(n: int) -> list[dict]:
    return [
        {
            "prompt": [{"role": "user", "content": f"Question number {i}: what is {i} plus {i}?"}],
            "completion": [
                {"role": "assistant", "content": f"I'm so glad you asked! It is {2 * i}, my friend."}
            ],
        }
        for i in range(n)
    ]


def _write_training_data(style: str, examples: list[dict]) -> Path:
    path = training_data_path(STUDY, style)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(e) + "\n" for e in examples))
    return path


def _adapter_weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path / "adapter_model.safetensors"))


@pytest.fixture(scope="module")
def trained_once(tiny_model_dir, tmp_path_factory):
    """One tiny run shared by the tests below: 24 examples, effective batch 4, so 6 steps per epoch and
    checkpoints 0.5/1/2 at steps 3/6/12. It lives in its own results folder."""
    root = tmp_path_factory.mktemp("trained-results")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WARMBOOK_RESULTS", str(root))
        _write_training_data("warm", _examples(24))
        config = _params(str(tiny_model_dir), learning_rate=1e-3)
        result = finetune(config)
    return root, str(tiny_model_dir), config, result


@pytest.fixture
def trained(trained_once, monkeypatch):
    root, model, config, result = trained_once
    monkeypatch.setenv("WARMBOOK_RESULTS", str(root))
    return model, config, result


def test_paper_defaults_are_the_published_hyperparameters():
    config = FinetuneParams()
    assert (config.lora_r, config.lora_alpha, config.lora_dropout) == (8, 16, 0.1)
    assert (config.learning_rate, config.max_length, config.effective_batch, config.epochs) == (
        1e-5,
        1024,
        16,
        10,
    )
    assert config.checkpoints == [0.5, 1, 1.5, 2, 4, 6, 8, 10]


def test_checkpoint_steps_put_fractional_epochs_on_optimizer_steps():
    steps = checkpoint_steps(3667, 16, [0.5, 1, 1.5, 2, 10])
    assert steps == {0.5: 115, 1.0: 230, 1.5: 345, 2.0: 460, 10.0: 2300}


def test_checkpoint_steps_refuse_two_checkpoints_on_the_same_step():
    with pytest.raises(ParameterError, match="checkpoints"):
        checkpoint_steps(16, 16, [0.5, 1])


def test_epochs_are_formatted_without_trailing_zeros():
    assert [format_epoch(e) for e in (0.5, 1.0, 1.5, 10)] == ["0.5", "1", "1.5", "10"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("lora_dropout", 1.5), ("learning_rate", 0), ("per_device_batch", 0), ("checkpoints", [1, 12])],
)
def test_bad_hyperparameters_name_the_parameter(field, value):
    with pytest.raises(ParameterError) as error:
        FinetuneParams.build(**{field: value})
    assert error.value.name == field


def test_each_checkpoint_is_saved_at_its_step_and_loads_as_an_adapter(trained):
    model, _, result = trained
    saved = list_checkpoints(STUDY, model, "warm")
    assert list(saved) == [0.5, 1.0, 2.0]
    steps = {e: json.loads((p / "warmbook_checkpoint.json").read_text())["step"] for e, p in saved.items()}
    assert steps == {0.5: 3, 1.0: 6, 2.0: 12}
    assert result.n_steps == 12 and result.n_examples == 24
    assert result.log["step"].tolist() == list(range(1, 13))
    assert saved[2.0] == checkpoint_dir(STUDY, model, "warm", 2) and saved[2.0].name == "checkpoint-epoch-2"
    lm, _ = load_model(model, adapter=saved[2.0], device="cpu")
    base, _ = load_model(model, device="cpu")
    assert not hasattr(lm, "peft_config")  # merged into the weights for inference
    assert any(not torch.equal(a, b) for a, b in zip(lm.parameters(), base.parameters(), strict=True))
    first, last = _adapter_weights(saved[0.5]), _adapter_weights(saved[2.0])
    assert any(not torch.equal(first[k], last[k]) for k in first)


def test_a_rerun_with_the_same_settings_trains_nothing(trained):
    model, config, first = trained
    before = (list_checkpoints(STUDY, model, "warm")[2.0] / "adapter_model.safetensors").stat().st_mtime_ns
    again = finetune(config)
    assert again.skipped and again.n_steps == first.n_steps
    after = (list_checkpoints(STUDY, model, "warm")[2.0] / "adapter_model.safetensors").stat().st_mtime_ns
    assert before == after


def test_the_evaluation_stage_finds_the_selected_checkpoint_by_variant(trained):
    model, _, _ = trained
    assert variant_adapter(STUDY, model, "original") is None
    assert variant_adapter(STUDY, model, "warm", 1).name == "checkpoint-epoch-1"


def test_a_missing_checkpoint_names_the_epochs_available(trained):
    model, _, _ = trained
    with pytest.raises(ParameterError) as error:
        require_checkpoints(STUDY, model, "warm", [1.5])
    assert error.value.name == "checkpoint" and error.value.value == 1.5
    assert "0.5, 1, 2" in str(error.value)


def test_an_adapter_from_another_base_model_is_refused_before_loading(trained, tmp_path):
    from transformers import AutoTokenizer

    model, _, _ = trained
    tokenizer = AutoTokenizer.from_pretrained(model)
    other = tmp_path / "other-tiny"
    tiny_llama(tokenizer, hidden_size=16, layers=1, heads=2, kv_heads=1).save_pretrained(other)
    tokenizer.save_pretrained(other)
    adapter = list_checkpoints(STUDY, model, "warm")[2.0]
    with pytest.raises(ParameterError) as error:
        load_model(str(other), adapter=adapter, device="cpu")
    assert error.value.name == "adapter"
    shutil.copytree(adapter, checkpoint_dir(STUDY, str(other), "warm", 2))
    with pytest.raises(ParameterError, match="trained on"):
        require_checkpoints(STUDY, str(other), "warm", [2])


def test_loss_is_computed_on_the_assistant_reply_only(tiny_model_dir, tmp_path):
    examples = _examples(2)
    trainer = build_trainer(
        str(tiny_model_dir), examples, _params(str(tiny_model_dir)), tmp_path / "trainer", "cpu"
    )
    batch = trainer.data_collator([trainer.train_dataset[0]])
    labels, input_ids = batch["labels"][0], batch["input_ids"][0]
    tokenizer = trainer.processing_class
    trained_on = tokenizer.decode(input_ids[labels != -100])
    assert trained_on.startswith(examples[0]["completion"][0]["content"])
    assert trained_on.strip().endswith("<|im_end|>")
    prompt_text = tokenizer.decode(input_ids[labels == -100])
    assert "Question number 0" in prompt_text and "<|im_start|>assistant" in prompt_text
    assert "glad" not in prompt_text


def _token_loss(model, batch: dict) -> tuple[float, int]:
    """Summed next-token loss of a collated batch over its trained tokens, and how many tokens that is."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
    labels = batch["labels"][:, 1:]
    loss = torch.nn.functional.cross_entropy(
        logits.transpose(1, 2), labels, ignore_index=-100, reduction="sum"
    )
    return float(loss), int((labels != -100).sum())


def test_batching_examples_of_different_lengths_leaves_every_trained_token_loss_unchanged(
    tiny_model_dir, tmp_path
):
    """Length-grouped batches change which examples share a batch (and how much padding there is), never what a
    trained token costs: the padded batch's per-token loss equals that of each example alone. Were the pad
    positions trained on, as a collator that copied input_ids into labels would do, it would not."""
    examples = _examples(1) + [
        {
            "prompt": [
                {"role": "user", "content": "A much longer question, with many more words in it, please?"}
            ],
            "completion": [
                {"role": "assistant", "content": "A longer answer too, so the two lengths differ."}
            ],
        }
    ]
    params = _params(str(tiny_model_dir), train_sampling_strategy="group_by_length")
    trainer = build_trainer(str(tiny_model_dir), examples, params, tmp_path / "trainer", "cpu")
    model = trainer.model.eval()
    rows = [trainer.train_dataset[i] for i in range(2)]
    with torch.no_grad():
        alone = [_token_loss(model, trainer.data_collator([row])) for row in rows]
        padded = trainer.data_collator(rows)
        assert (padded["attention_mask"] == 0).any(), "the two examples must differ in length"
        together, n = _token_loss(model, padded)
        assert n == sum(count for _, count in alone)
        assert together / n == pytest.approx(sum(loss for loss, _ in alone) / n, rel=1e-5)
        broken = dict(padded, labels=padded["input_ids"].clone())  # pads trained on
        wrong, m = _token_loss(model, broken)
        assert m > n and wrong / m != pytest.approx(together / n, rel=1e-3)


def test_an_unknown_style_fails_before_anything_loads(tiny_model_dir):
    with pytest.raises(ParameterError) as error:
        _params(str(tiny_model_dir), "friendly")
    assert error.value.name == "style"


def test_a_missing_training_file_points_at_the_training_data_stage(tiny_model_dir):
    with pytest.raises(ParameterError, match="run the training_data stage first"):
        finetune(_params(str(tiny_model_dir), "cold"))


def test_an_empty_training_file_fails_before_training(tiny_model_dir):
    _write_training_data("cold", [])
    with pytest.raises(ParameterError, match="empty") as error:
        finetune(_params(str(tiny_model_dir), "cold"))
    assert error.value.name == "training_data"


def test_a_malformed_example_names_its_line():
    path = _write_training_data("warm", _examples(2) + [{"prompt": [{"role": "user", "content": "hi"}]}])
    with pytest.raises(ParameterError, match="line 3"):
        load_training_examples(path)


def test_n_train_draws_a_seeded_subset_and_refuses_more_than_exist():
    path = _write_training_data("warm", _examples(10))
    subset = load_training_examples(path, n_train=4, seed=1)
    assert len(subset) == 4 and subset == load_training_examples(path, n_train=4, seed=1)
    with pytest.raises(ParameterError) as error:
        load_training_examples(path, n_train=11)
    assert error.value.name == "n_train"


# ------------------------------------------------------------------------------------------- kills and damage


class _Killed(Exception):
    """Stands in for a SIGKILL right after a checkpoint was published."""


def _copy_run(trained_once, root: Path) -> None:
    """Put a copy of the shared uninterrupted run's study folder under this test's results root."""
    shutil.copytree(trained_once[0] / STUDY, root / STUDY)


def test_each_checkpoint_holds_the_trainer_state_to_resume_from(trained):
    from helpers.checkpoints import checkpoint_problem

    model, _, _ = trained
    for path in list_checkpoints(STUDY, model, "warm").values():
        assert checkpoint_problem(path, resumable=True) is None
        assert json.loads((path / "trainer_state.json").read_text())["global_step"] in (3, 6, 12)


def test_a_run_killed_after_epoch_half_resumes_there_and_ends_equal_to_an_uninterrupted_run(
    trained_once, monkeypatch, capsys
):
    import helpers.training.finetune as finetune_module

    _, model, config, uninterrupted = trained_once
    _write_training_data("warm", _examples(24))
    publish = finetune_module._publish_checkpoint

    def publish_then_die(saved, target, info):
        publish(saved, target, info)
        if info["epoch"] == 0.5:
            raise _Killed

    monkeypatch.setattr(finetune_module, "_publish_checkpoint", publish_then_die)
    with pytest.raises(_Killed):
        finetune(config)
    assert list(list_checkpoints(STUDY, model, "warm")) == [0.5]
    half = list_checkpoints(STUDY, model, "warm")[0.5] / "adapter_model.safetensors"
    written = half.stat().st_mtime_ns
    monkeypatch.setattr(finetune_module, "_publish_checkpoint", publish)
    capsys.readouterr()

    result = finetune(config)
    assert "Resuming warm from its complete epoch-0.5 checkpoint (step 3)" in capsys.readouterr().out
    assert half.stat().st_mtime_ns == written  # epoch 0.5 was not trained again
    assert result.log["step"].tolist() == list(range(1, 13))
    assert result.log["loss"].tolist() == pytest.approx(uninterrupted.log["loss"].tolist(), rel=1e-4)
    for epoch in (0.5, 1.0, 2.0):
        resumed, clean = (
            _adapter_weights(result.checkpoints[epoch]),
            _adapter_weights(uninterrupted.checkpoints[epoch]),
        )
        assert all(torch.allclose(resumed[k], clean[k], atol=1e-6) for k in clean), epoch


def test_a_checkpoint_without_weights_is_detected_and_redone(trained_once, capsys):
    root, model, config, uninterrupted = trained_once
    _copy_run(trained_once, Path(os.environ["WARMBOOK_RESULTS"]))
    broken = checkpoint_dir(STUDY, model, "warm", 1)
    (broken / "adapter_model.safetensors").unlink()
    assert list(list_checkpoints(STUDY, model, "warm")) == [0.5, 2.0]
    with pytest.raises(ParameterError) as error:  # not peft's HFValidationError, far from the cause
        variant_adapter(STUDY, model, "warm", 1)
    assert error.value.name == "checkpoint" and "0.5, 2" in str(error.value)

    result = finetune(config)
    out = capsys.readouterr().out
    assert "checkpoint-epoch-1 is incomplete (missing adapter_model.safetensors): it will be redone" in out
    assert "Resuming warm from its complete epoch-0.5 checkpoint" in out and not result.skipped
    redone, clean = (
        _adapter_weights(result.checkpoints[2.0]),
        _adapter_weights(uninterrupted.checkpoints[2.0]),
    )
    assert all(torch.allclose(redone[k], clean[k], atol=1e-6) for k in clean)


def test_a_truncated_weights_file_is_incomplete_too(trained_once):
    from helpers.checkpoints import checkpoint_problem

    _copy_run(trained_once, Path(os.environ["WARMBOOK_RESULTS"]))
    weights = checkpoint_dir(STUDY, trained_once[1], "warm", 2) / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    assert "unreadable" in checkpoint_problem(weights.parent)
    assert list(list_checkpoints(STUDY, trained_once[1], "warm")) == [0.5, 1.0]


def test_on_cpu_the_loss_is_the_models_own_cross_entropy_over_the_reply(tiny_model_dir, tmp_path):
    """The CPU trainer bypasses trl's chunked LM-head kernel; the loss must be the same objective."""
    trainer = build_trainer(
        str(tiny_model_dir), _examples(4), _params(str(tiny_model_dir)), tmp_path / "trainer", "cpu"
    )
    assert type(trainer).__name__ == "CPUSFTTrainer"
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
    model = trainer.model.eval()
    with torch.no_grad():
        loss = trainer.compute_loss(model, dict(batch))
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    targets = batch["labels"][:, 1:]
    by_hand = torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-100
    )
    assert torch.allclose(loss, by_hand, atol=1e-5)


def test_the_learning_rate_sweep_scores_each_rate_on_examples_it_never_trains_on(
    tiny_model_dir, tmp_path, monkeypatch
):
    from helpers.training.finetune import learning_rate_sweep, sweep_sentence

    monkeypatch.setenv("WARMBOOK_RESULTS", str(tmp_path))
    _write_training_data("warm", _examples(12))
    params = _params(str(tiny_model_dir), lr_sweep=[1e-5, 1e-2], lr_sweep_steps=2, lr_sweep_held_out=4)
    sweep = learning_rate_sweep(params, "cpu")
    assert list(sweep["learning_rate"]) == [0.0, 1e-5, 1e-2]
    assert list(sweep["steps"]) == [0, 2, 2]
    # a rate of 1e-5 barely moves a random tiny model in two steps; 1e-2 moves it
    before, slow, fast = sweep["held_out_loss"]
    assert abs(slow - before) < abs(fast - before)
    sentence = sweep_sentence(sweep, 1e-2 if fast < slow else 1e-5)
    assert "is the sweep's best" in sentence
    assert "NOT" in sweep_sentence(sweep, 3e-4)


def test_a_sweep_needs_more_examples_than_it_holds_out(tiny_model_dir, tmp_path, monkeypatch):
    from helpers.training.finetune import learning_rate_sweep

    monkeypatch.setenv("WARMBOOK_RESULTS", str(tmp_path))
    _write_training_data("warm", _examples(4))
    with pytest.raises(ParameterError, match="lr_sweep_held_out"):
        learning_rate_sweep(_params(str(tiny_model_dir), lr_sweep=[1e-3], lr_sweep_held_out=4), "cpu")


@pytest.mark.parametrize("rates", [[0.0], [-1e-3], [1e-3, 1e-3]])
def test_sweep_rates_must_be_distinct_and_positive(rates):
    with pytest.raises(ParameterError, match="lr_sweep"):
        FinetuneParams.build(lr_sweep=rates)


def test_only_the_warm_style_sweeps_and_only_when_rates_are_listed():
    assert FinetuneParams.build(style="warm", lr_sweep=[1e-4, 1e-3]).runs_sweep
    assert not FinetuneParams.build(style="cold", lr_sweep=[1e-4, 1e-3]).runs_sweep
    assert not FinetuneParams.build(style="warm").runs_sweep


def test_a_checkpoint_is_resumable_when_every_file_it_was_saved_with_is_there(trained_once):
    """The info file lists what the Trainer saved, so any layout is checked: here FSDP's, where the optimizer
    state is ``optimizer.bin`` and the model state ``pytorch_model_fsdp.bin`` (what accelerate writes)."""
    from helpers.checkpoints import checkpoint_problem

    _copy_run(trained_once, Path(os.environ["WARMBOOK_RESULTS"]))
    path = checkpoint_dir(STUDY, trained_once[1], "warm", 1)
    info_file = path / "warmbook_checkpoint.json"
    info = json.loads(info_file.read_text())
    assert {"optimizer.pt", "scheduler.pt", "rng_state.pth", "trainer_state.json"} <= set(info["files"])

    (path / "optimizer.pt").rename(path / "optimizer.bin")
    (path / "pytorch_model_fsdp.bin").write_bytes(b"model state")
    fsdp_files = [f for f in info["files"] if f != "optimizer.pt"] + [
        "optimizer.bin",
        "pytorch_model_fsdp.bin",
    ]
    info_file.write_text(json.dumps({**info, "files": fsdp_files}))
    assert checkpoint_problem(path, resumable=True) is None
    (path / "pytorch_model_fsdp.bin").unlink()
    assert checkpoint_problem(path, resumable=True) == "missing pytorch_model_fsdp.bin"

    info_file.write_text(json.dumps({k: v for k, v in info.items() if k != "files"}))  # saved before the list
    assert checkpoint_problem(path, resumable=True) == "missing optimizer.pt"
    info_file.write_text(json.dumps({**info, "files": [f for f in info["files"] if f != "optimizer.pt"]}))
    assert checkpoint_problem(path, resumable=True) == "saved without optimizer state"
    assert checkpoint_problem(path) is None  # still an adapter the later stages can load
