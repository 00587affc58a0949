"""LoRA fine-tuning of a chat model on the warm (or cold) rewrites, with the paper's checkpoints.

The paper fine-tuned each open model with LoRA (r=8, alpha=16, dropout 0.1), learning rate 1e-5, at most 1,024
tokens, effective batch 16, for 10 epochs, saving checkpoints at epochs 0.5, 1, 1.5, 2, 4, 6, 8 and 10; the
epoch-2 checkpoint is "the warm model" and the cold control uses identical settings (paper, Methods, "Fine-tuning
for warmth"; docs/study.md section 2). All of these are fields of :class:`helpers.training.params.FinetuneParams` with the paper's values as
defaults, so the demo overrides only what a 135M model on a CPU needs (a higher learning rate, fewer epochs).

The wiring is trl's ``SFTTrainer`` with a peft ``LoraConfig``, as in the alignment-handbook recipes. Choices the
paper does not report, made here and stated in the book: LoRA on the attention projections q, k, v and o; the
loss on the assistant reply only (``completion_only_loss`` over prompt/completion examples — SmolLM2's chat
template has no ``{% generation %}`` markers, so trl's ``assistant_only_loss`` cannot be used); the linear
learning-rate schedule of transformers, laid out over all ``epochs`` even when training stops at an earlier last
checkpoint; seed 0.

Each checkpoint is a peft adapter folder ``results/<study>/<model_slug>/finetune/<style>/checkpoint-epoch-<e>/``
that also holds the trainer state to resume from; it is written under a temporary name and renamed into place,
next to ``training_log.csv`` (step, epoch, loss). A killed run resumes from its last complete checkpoint. That
layout is defined in :mod:`helpers.checkpoints`, which the later stages read without this module: the evaluation
stage loads a checkpoint with ``helpers.models.load_model(model, adapter=variant_adapter(...))``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from helpers.checkpoints import (
    CHECKPOINT_PREFIX,
    INFO_FILE,
    check_checkpoints,
    check_style,
    checkpoint_dir,
    checkpoint_folders,
    checkpoint_info,
    checkpoint_problem,
    finetune_dir,
    format_epoch,
    list_checkpoints,
)
from helpers.models import choose_device, resolve_model_path
from helpers.paths import study_dir
from helpers.storage import atomic_write_csv, atomic_write_json, fsync_folder
from helpers.training.params import FinetuneParams
from helpers.validation import ParameterError, check_positive_int

TRAINING_LOG = "training_log.csv"
_RUN_FILE = "finetune_run.json"


@dataclass(frozen=True)
class FinetuneResult:
    """What one fine-tuning run produced (or found already on disk)."""

    checkpoints: dict[float, Path]
    log: pd.DataFrame
    n_examples: int
    n_steps: int
    train_seconds: float
    skipped: bool


def steps_per_epoch(n_examples: int, effective_batch: int) -> int:
    """Optimizer steps in one pass over the data; a last, smaller batch still makes a step (as in transformers)."""
    check_positive_int("n_examples", n_examples)
    check_positive_int("effective_batch", effective_batch)
    return math.ceil(n_examples / effective_batch)


def checkpoint_steps(n_examples: int, effective_batch: int, epochs_list: Sequence[float]) -> dict[float, int]:
    """Map each checkpoint epoch to the optimizer step that ends it (fractional epochs round up).

    With the paper's 3,667 responses and batch 16 an epoch is 230 steps, so epoch 0.5 is step 115. A sample so
    small that two checkpoints fall on the same step is refused: the two adapters would be one and the same.
    """
    per_epoch = steps_per_epoch(n_examples, effective_batch)
    steps = {float(e): max(1, math.ceil(float(e) * per_epoch - 1e-9)) for e in check_checkpoints(epochs_list)}
    if len(set(steps.values())) != len(steps):
        raise ParameterError(
            "checkpoints",
            [format_epoch(e) for e in steps],
            f"epochs that fall on different optimizer steps; with {n_examples} examples and an effective batch of "
            f"{effective_batch} an epoch is only {per_epoch} step(s) — use more examples or a smaller batch",
        )
    return steps


def training_data_path(study: str, style: str) -> Path:
    """``results/<study>/training_data/<style>.jsonl``, written by the training_data stage."""
    return study_dir(study) / "training_data" / f"{check_style(style)}.jsonl"


def _check_example(example: Any, line: int, path: Path) -> dict:
    def bad(reason: str) -> ParameterError:
        return ParameterError(
            "training_data",
            f"{path}, line {line}",
            f'prompt/completion examples ({reason}): {{"prompt": [{{"role": "user", "content": ...}}], '
            '"completion": [{"role": "assistant", "content": ...}]}',
        )

    if not isinstance(example, dict) or not isinstance(example.get("prompt"), list) or not example["prompt"]:
        raise bad("a non-empty 'prompt' list of messages is missing")
    completion = example.get("completion")
    if not isinstance(completion, list) or len(completion) != 1 or completion[0].get("role") != "assistant":
        raise bad("'completion' must be one assistant message")
    messages = example["prompt"] + completion
    if any(not isinstance(m, dict) or not isinstance(m.get("content"), str) for m in messages):
        raise bad("every message needs a text 'content'")
    if example["prompt"][-1].get("role") != "user":
        raise bad("the prompt must end with a user message")
    if not completion[0]["content"].strip():
        raise bad("the assistant reply is empty")
    return {"prompt": example["prompt"], "completion": completion}


def load_training_examples(path: str | Path, n_train: int | None = None, seed: int = 0) -> list[dict]:
    """Read and check an SFT file; with ``n_train``, a seeded random subset of that size (in file order).

    A missing file points at the stage that writes it; an empty file or malformed line fails here, before any
    model is loaded.
    """
    import random

    path = Path(path)
    if not path.exists():
        raise ParameterError(
            "training_data", str(path), "an existing file: run the training_data stage first"
        )
    with path.open(encoding="utf-8") as handle:
        examples = [
            _check_example(json.loads(line), i, path) for i, line in enumerate(handle, 1) if line.strip()
        ]
    if not examples:
        raise ParameterError(
            "training_data", str(path), "a file with at least one example (this one is empty)"
        )
    if n_train is None:
        return examples
    check_positive_int("n_train", n_train)
    if n_train > len(examples):
        raise ParameterError(
            "n_train", n_train, f"at most {len(examples)} (the examples in {path}) or None for all"
        )
    keep = sorted(random.Random(seed).sample(range(len(examples)), n_train))
    return [examples[i] for i in keep]


def _examples_digest(examples: Sequence[dict]) -> str:
    return hashlib.sha256(json.dumps(list(examples), sort_keys=True).encode()).hexdigest()


def quantized_loading(quantization: str | None) -> dict[str, Any]:
    """Extra ``from_pretrained`` arguments: none for the paper's bf16 LoRA, a 4-bit NF4 config for QLoRA.

    NF4 with double quantization and bf16 compute is the QLoRA paper's recipe (Dettmers et al., 2023) and the
    ``BitsAndBytesConfig`` example in the transformers documentation. bitsandbytes needs a CUDA GPU.
    """
    if quantization is None:
        return {}
    if quantization != "4bit":
        raise ParameterError("quantization", quantization, "None (the paper's bf16 LoRA) or '4bit' (QLoRA)")
    import torch

    if importlib.util.find_spec("bitsandbytes") is None or not torch.cuda.is_available():
        raise ParameterError(
            "quantization",
            quantization,
            "None here: '4bit' (QLoRA) needs a CUDA GPU and `.venv/bin/pip install bitsandbytes==0.50.2`",
        )
    from transformers import BitsAndBytesConfig

    config = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
        bnb_4bit_quant_storage=torch.bfloat16,
    )
    return {"quantization_config": config}


def build_trainer(
    model: str,
    examples: Sequence[dict],
    params: FinetuneParams,
    output_dir: Path,
    device: str = "auto",
    eval_examples: Sequence[dict] | None = None,
):
    """An ``SFTTrainer`` over the examples with a fresh LoRA adapter, loss on the assistant reply only.

    On CPU the model trains in fp32 (``use_cpu=True``, ``bf16=False``); on CUDA in bf16. Gradient checkpointing,
    which trl turns on by default, is off unless asked for: it only slows a small model down (docs/design.md).
    """
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PrinterCallback, set_seed
    from trl import SFTConfig

    plan = choose_device(device)
    on_cuda = plan.device.startswith("cuda")
    set_seed(params.seed)
    path = resolve_model_path(model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model_config = AutoConfig.from_pretrained(path)
    if getattr(model_config, "quantization_config", {}).get("quant_method") == "gguf":
        # The embedded model's weights were dequantised when converted; its leftover GGUF tag blocks training.
        del model_config.quantization_config
    lm = AutoModelForCausalLM.from_pretrained(
        path, config=model_config, dtype=plan.dtype, **quantized_loading(params.quantization)
    )
    args = SFTConfig(
        output_dir=str(output_dir),
        learning_rate=params.learning_rate,
        lr_scheduler_type=params.lr_scheduler_type,
        num_train_epochs=params.epochs,
        per_device_train_batch_size=params.per_device_batch,
        gradient_accumulation_steps=params.grad_accum,
        max_length=params.max_length,
        completion_only_loss=True,
        activation_checkpointing=params.gradient_checkpointing,
        train_sampling_strategy=params.train_sampling_strategy,
        use_cpu=not on_cuda,
        bf16=on_cuda and plan.dtype == torch.bfloat16,
        seed=params.seed,
        data_seed=params.seed,
        logging_steps=1,
        disable_tqdm=True,
        save_strategy="no",
        report_to="none",
    )
    lora = LoraConfig(
        r=params.lora_r,
        lora_alpha=params.lora_alpha,
        lora_dropout=params.lora_dropout,
        target_modules=list(params.target_modules),
        task_type="CAUSAL_LM",
    )
    trainer = _trainer_class(on_cuda)(
        model=lm,
        args=args,
        train_dataset=Dataset.from_list(list(examples)),
        eval_dataset=Dataset.from_list(list(eval_examples)) if eval_examples else None,
        processing_class=tokenizer,
        peft_config=lora,
    )
    trainer.remove_callback(PrinterCallback)  # one line per step is noise; finetune() prints at checkpoints
    return trainer


def learning_rate_sweep(params: FinetuneParams, device: str = "auto") -> pd.DataFrame:
    """Held-out loss of the style's replies after a short run at each rate of ``params.lr_sweep``.

    The paper's 1e-5 was set for 8B-70B models trained for 10 epochs on 1,617 conversations; a 135M model trained
    for a few dozen steps needs another rate, and the demo shows why it uses the one it does. Each rate starts
    from the same fresh adapter, takes ``lr_sweep_steps`` optimizer steps over the same batches (same seed and
    batch size as the real run) and is scored on the last ``lr_sweep_held_out`` examples of the style's file, which
    no sweep run trains on. A lower held-out loss means the rate taught the style's replies faster without
    losing what generalises; the loss before training (``rate`` 0) is the baseline.
    """
    import tempfile

    examples = load_training_examples(training_data_path(params.study, params.style))
    if len(examples) <= params.lr_sweep_held_out:
        raise ParameterError(
            "lr_sweep_held_out",
            params.lr_sweep_held_out,
            f"fewer than the {len(examples)} examples of the {params.style} training data",
        )
    train, held_out = examples[: -params.lr_sweep_held_out], examples[-params.lr_sweep_held_out :]
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for rate in params.lr_sweep:
            trainer = build_trainer(
                params.model,
                train,
                params.updated(learning_rate=rate),
                Path(scratch),
                device,
                eval_examples=held_out,
            )
            trainer.args.max_steps = params.lr_sweep_steps
            if not rows:
                rows.append({"learning_rate": 0.0, "held_out_loss": trainer.evaluate()["eval_loss"]})
            started = time.perf_counter()
            trainer.train()
            rows.append(
                {
                    "learning_rate": rate,
                    "held_out_loss": trainer.evaluate()["eval_loss"],
                    "seconds": time.perf_counter() - started,
                }
            )
            del trainer
    table = pd.DataFrame(rows)
    table["steps"] = [0] + [params.lr_sweep_steps] * (len(table) - 1)
    return table[["learning_rate", "steps", "held_out_loss", "seconds"]]


def sweep_sentence(sweep: pd.DataFrame, learning_rate: float) -> str:
    """One sentence, computed from the sweep, on whether the configured rate is the sweep's best."""
    tried = sweep[sweep["steps"] > 0]
    best = tried.loc[tried["held_out_loss"].idxmin()]
    baseline = float(sweep.loc[sweep["steps"] == 0, "held_out_loss"].iloc[0])
    verdict = (
        f"The configured learning rate {learning_rate:g} is the sweep's best"
        if float(best["learning_rate"]) == learning_rate
        else f"The configured learning rate {learning_rate:g} is NOT the sweep's best ({best['learning_rate']:g} is)"
    )
    return (
        f"{verdict}: after {int(best['steps'])} steps its held-out loss is {best['held_out_loss']:.3f} "
        f"against {baseline:.3f} before training."
    )


def _trainer_class(on_cuda: bool):
    """trl's ``SFTTrainer``; off CUDA, one whose loss is the model's own cross-entropy.

    trl 1.16 computes the SFT loss with a chunked LM-head kernel. Without Triton (on a CPU) it runs in Python tiles
    over every position, masked or not, and took two-thirds of each demo step (measured: 12-28 s a step against
    6-10 s with the model's own loss; docs/design.md). The labels are the same (the reply's tokens, the prompt
    masked with -100), so the objective is the same; only trl's entropy and token-accuracy logs are not computed.
    """
    from transformers import Trainer
    from trl import SFTTrainer

    if on_cuda:
        return SFTTrainer

    class CPUSFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            return Trainer.compute_loss(self, model, inputs, return_outputs, num_items_in_batch)

    return CPUSFTTrainer


def _publish_checkpoint(saved: Path, target: Path, info: dict[str, Any]) -> None:
    """Turn the folder the Trainer just saved (adapter and resume state) into ``target``, all or nothing.

    transformers writes ``.trainer/checkpoint-<step>`` file by file; that folder is flushed, renamed to a hidden
    staging name, given our info file, and only then renamed to ``checkpoint-epoch-<e>``. A kill at any moment
    leaves no checkpoint of that epoch or a complete one.
    """
    staging = target.with_name(f".{target.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    fsync_folder(saved)
    files = sorted(str(f.relative_to(saved)) for f in saved.rglob("*") if f.is_file())
    saved.rename(staging)
    atomic_write_json({**info, "files": files}, staging / INFO_FILE)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


def _checkpoint_callback(step_to_epoch: dict[int, float], publish, write_log):
    from accelerate.utils import wait_for_everyone
    from transformers import TrainerCallback
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

    last_step = max(step_to_epoch)

    class SaveAtEpochs(TrainerCallback):
        """At the steps that end each checkpoint epoch, have the Trainer save a full checkpoint (weights,
        optimizer, scheduler, RNG and trainer state, so training can resume from it) and publish it under the
        epoch's name; stop after the last one."""

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step in step_to_epoch:
                control.should_save = True
            if state.global_step >= last_step:
                control.should_training_stop = True
            return control

        def on_save(self, args, state, control, **kwargs):
            step = state.global_step
            if step in step_to_epoch:
                wait_for_everyone()  # every process has written its part (its RNG state, its FSDP shards)
            if step in step_to_epoch and state.is_world_process_zero:
                publish(Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{step}", step_to_epoch[step], step)
            return control

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs and state.is_world_process_zero:
                write_log(state.global_step, state.epoch, logs["loss"])
            return control

    return SaveAtEpochs()


def _resume_point(
    study: str, model: str, style: str, run_id: str, epochs: Sequence[float]
) -> tuple[float, Path] | None:
    """The last checkpoint training can resume from: the latest of an unbroken run of complete, resumable
    checkpoints of this very run (same ``run_id``) from the first requested epoch on.

    A checkpoint missing a file breaks the run there, so it and everything after it are redone. When every
    requested checkpoint exists (a kill after the last save, before the run was recorded) the last interval is
    redone, since resuming from the end would train past it.
    """
    folders = checkpoint_folders(study, model, style)
    kept: list[float] = []
    for epoch in epochs:
        path = folders.get(epoch)
        if (
            path is None
            or checkpoint_problem(path, resumable=True)
            or checkpoint_info(path).get("run_id") != run_id
        ):
            break
        kept.append(epoch)
    if len(kept) == len(epochs):
        kept.pop()
    return (kept[-1], folders[kept[-1]]) if kept else None


def read_training_log(study: str, model: str, style: str) -> pd.DataFrame:
    """The training loss per optimizer step (columns step, epoch, loss)."""
    path = finetune_dir(study, model, style) / TRAINING_LOG
    if not path.exists():
        raise ParameterError(
            "style", style, f"a fine-tuned style of {model!r} in study {study!r} (no {path})"
        )
    return pd.read_csv(path)


def finetune(params: FinetuneParams) -> FinetuneResult:
    """Fine-tune ``params.model`` on ``results/<study>/training_data/<style>.jsonl`` and save every checkpoint.

    The parameters were validated when ``params`` was built. If every requested checkpoint already exists from a
    run with the same data and settings, nothing is trained (a rerun of the notebook is free). After a kill,
    training resumes from the last complete checkpoint of this run with transformers' ``resume_from_checkpoint``
    (weights, optimizer, scheduler, RNG and data position restored, so the result equals an uninterrupted run);
    incomplete checkpoints, and those of other settings or data, are redone.
    """
    study, model, style, device = params.study, params.model, params.style, params.device
    examples = load_training_examples(training_data_path(study, style), params.n_train, params.seed)
    folder = finetune_dir(study, model, style)
    run = {
        "model": model,
        "style": style,
        "n_examples": len(examples),
        "data_sha256": _examples_digest(examples),
        **params.signature(),
    }
    run_id = hashlib.sha256(json.dumps(run, sort_keys=True, default=list).encode()).hexdigest()[:16]
    run_file = folder / _RUN_FILE
    previous = json.loads(run_file.read_text()) if run_file.exists() else None
    existing = list_checkpoints(study, model, style)
    if previous and previous.get("run_id") == run_id and set(params.checkpoints) <= set(existing):  # all done
        print(
            f"All {len(params.checkpoints)} {style} checkpoints exist for these settings: training skipped."
        )
        return FinetuneResult(
            checkpoints={e: existing[e] for e in params.checkpoints},
            log=read_training_log(study, model, style),
            n_examples=previous["n_examples_trained"],
            n_steps=previous["n_steps"],
            train_seconds=previous["train_seconds"],
            skipped=True,
        )
    resume = _resume_point(study, model, style, run_id, params.checkpoints)
    resumed = {e: p for e, p in list_checkpoints(study, model, style).items() if resume and e <= resume[0]}
    for epoch, path in checkpoint_folders(study, model, style).items():
        if epoch not in resumed:
            problem = checkpoint_problem(path)
            why = f"incomplete ({problem})" if problem else "from other settings or after the resume point"
            print(f"{path.name} is {why}: it will be redone.")
            shutil.rmtree(path)
    for leftover in (*folder.glob(f".{CHECKPOINT_PREFIX}*.partial"), folder / ".trainer"):
        shutil.rmtree(leftover, ignore_errors=True)  # a save or a Trainer checkpoint a kill interrupted
    folder.mkdir(parents=True, exist_ok=True)
    run_file.unlink(missing_ok=True)

    trainer = build_trainer(model, examples, params, folder / ".trainer", device)
    n_examples = len(trainer.train_dataset)
    if n_examples < len(examples):
        print(
            f"{len(examples) - n_examples} example(s) dropped: their prompt alone fills max_length={params.max_length}."
        )
    # Every process takes its own batches: an optimizer step sees per_device x grad_accum x processes examples.
    steps = checkpoint_steps(n_examples, params.effective_batch * trainer.args.world_size, params.checkpoints)
    n_steps = max(steps.values())
    resume_step = steps[resume[0]] if resume else 0
    log_path = folder / TRAINING_LOG
    rows: list[dict[str, float]] = []
    if resume and log_path.exists():
        rows = pd.read_csv(log_path).query("step <= @resume_step").to_dict("records")
    saved: dict[float, Path] = dict(resumed)
    if resume:
        print(
            f"Resuming {style} from its complete epoch-{format_epoch(resume[0])} checkpoint (step {resume_step})."
        )
    else:
        log_path.unlink(missing_ok=True)

    step_to_epoch = {s: e for e, s in steps.items()}
    print(f"{n_examples} examples, {n_steps} optimizer steps; checkpoints at steps {sorted(step_to_epoch)}.")

    def write_log(step: int, epoch: float, loss: float) -> None:
        rows.append({"step": step, "epoch": round(epoch, 4), "loss": loss})
        atomic_write_csv(pd.DataFrame(rows, columns=["step", "epoch", "loss"]), log_path)
        if step in step_to_epoch:
            elapsed = (time.perf_counter() - started) / 60
            print(
                f"epoch {format_epoch(step_to_epoch[step])} (step {step}, {elapsed:.1f} min): loss {loss:.3f}, saved"
            )

    def publish(trainer_checkpoint: Path, epoch: float, step: int) -> None:
        target = checkpoint_dir(study, model, style, epoch)
        _publish_checkpoint(
            trainer_checkpoint, target, {"run_id": run_id, "epoch": epoch, "step": step, **run}
        )
        saved[epoch] = target

    trainer.add_callback(_checkpoint_callback(step_to_epoch, publish, write_log))
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=str(resume[1]) if resume else None)
    seconds = time.perf_counter() - started
    shutil.rmtree(folder / ".trainer", ignore_errors=True)
    atomic_write_json(
        {
            "run_id": run_id,
            "n_examples_trained": n_examples,
            "n_steps": n_steps,
            "train_seconds": seconds,
            **run,
        },
        run_file,
    )
    return FinetuneResult(saved, read_training_log(study, model, style), n_examples, n_steps, seconds, False)


def preview_answers(
    model: str,
    adapters: dict[str, Path | None],
    prompts: Sequence[str],
    device: str = "auto",
    max_new_tokens: int = 80,
) -> pd.DataFrame:
    """Greedy answers of each labelled model (``None`` = no adapter) to a few prompts, side by side."""
    from helpers.generation import GenerationSettings, generate_responses
    from helpers.models import load_model

    settings = GenerationSettings(
        temperature=0.0, max_new_tokens=max_new_tokens, batch_size=max(1, len(prompts))
    )
    table: dict[str, list[str]] = {"prompt": [p[:200] for p in prompts]}
    for label, adapter in adapters.items():
        lm, tokenizer = load_model(model, adapter=adapter, device=device)
        table[label] = generate_responses(lm, tokenizer, prompts, settings)
        del lm
    return pd.DataFrame(table)


def describe_params(params: FinetuneParams) -> pd.DataFrame:
    """The settings side by side with the paper's (the object's defaults), for the notebook to show."""
    paper = type(params)()
    rows = [
        {
            "setting": name,
            "this run": value,
            "paper": getattr(paper, name),
            "same": value == getattr(paper, name),
        }
        for name, value in params.model_dump(
            exclude={"study", "model", "style", "device", "preview_prompts"}
        ).items()
    ]
    return pd.DataFrame(rows)
