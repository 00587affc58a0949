"""Typed, validated study configurations (``configs/*.yaml``).

A study config names the models, the variants and the sizes of every stage, like an alignment-handbook recipe:
configs are data, the runner turns them into papermill runs. Unknown keys, models, variants, tasks or contexts
fail at load time, naming the field, the value and what is allowed — before anything runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from helpers.models import check_model_name
from helpers.validation import ParameterError
from helpers.vocabulary import (
    AMENDMENT_TYPES,
    BENCHMARKS,
    PAPER_CHECKPOINTS,
    STYLES,
    TASKS,
    TEMPLATES,
    VARIANTS,
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrainingDataConfig(_Section):
    """Warm and cold SFT data (paper: 1,617 ShareGPT conversations, 1,500 validation prompts; GPT-4o rewrites)."""

    n_conversations: int = Field(1617, gt=0)
    n_validation: int = Field(1500, gt=0)
    rewriter: Literal["rule", "llm", "transformers"] = "rule"
    rewriter_model: str | None = None
    rewriter_base_url: str | None = None
    max_turns: int = Field(20, gt=0)


class FinetuneConfig(_Section):
    """LoRA SFT hyperparameters (paper: r=8, alpha=16, dropout=0.1, lr=1e-5, 10 epochs, effective batch 16)."""

    styles: list[Literal["warm", "cold"]] = ["warm", "cold"]
    lora_r: int = Field(8, gt=0)
    lora_alpha: int = Field(16, gt=0)
    lora_dropout: float = Field(0.1, ge=0, lt=1)
    learning_rate: float = Field(1e-5, gt=0)
    epochs: float = Field(10, gt=0)
    checkpoints: list[float] = list(PAPER_CHECKPOINTS)
    selected_checkpoint: float = 2
    max_length: int = Field(1024, gt=0)
    per_device_batch: int = Field(4, gt=0)
    grad_accum: int = Field(4, gt=0)

    @model_validator(mode="after")
    def _selected_is_saved(self) -> FinetuneConfig:
        if self.selected_checkpoint not in self.checkpoints:
            raise ValueError(
                f"selected_checkpoint {self.selected_checkpoint} is not among checkpoints {self.checkpoints}"
            )
        if max(self.checkpoints) > self.epochs:
            raise ValueError(f"checkpoints {self.checkpoints} go beyond epochs={self.epochs}")
        return self


class WarmthConfig(_Section):
    """SocioT warmth of each checkpoint's responses (paper: GPT-2 scorer, 1,500 prompts, 100 dropout passes)."""

    n_prompts: int = Field(1500, gt=0)
    scorer_model: str = "gpt2"
    n_passes: int = Field(100, gt=0)
    max_new_tokens: int = Field(300, gt=0)

    @field_validator("scorer_model")
    @classmethod
    def _known_scorer(cls, value: str) -> str:
        return check_model_name(value)


class JudgeConfig(_Section):
    """An OpenAI-compatible judge endpoint (paper: GPT-4o at temperature 0). The key comes from the environment."""

    base_url: str
    model: str


class EvaluationConfig(_Section):
    """The four tasks × 28 prompt variants (STUDY.md sections 4–6)."""

    variants: list[Literal["original", "warm", "cold", "warm_prompt"]] = list(VARIANTS)
    tasks: list[Literal["trivia", "truthfulqa", "disinfo", "medqa"]] = list(TASKS)
    n_items: int | None = Field(500, gt=0)
    amendment_types: list[str] = list(AMENDMENT_TYPES)
    templates: list[Literal["original", "original_neutral", "correct", "incorrect"]] = list(TEMPLATES)
    temperature: float = Field(0.8, ge=0)
    max_new_tokens: int = Field(300, gt=0)
    batch_size: int = Field(16, gt=0)
    judge: JudgeConfig | None = None

    @field_validator("amendment_types")
    @classmethod
    def _known_contexts(cls, value: list[str]) -> list[str]:
        for amendment in value:
            if amendment not in AMENDMENT_TYPES:
                raise ValueError(
                    f"unknown amendment type {amendment!r}; allowed: {', '.join(AMENDMENT_TYPES)}"
                )
        return value


class CapabilitiesConfig(_Section):
    """MMLU, GSM8K (temperature 0.2) and AdvBench refusals for original vs warm (STUDY.md section 7)."""

    benchmarks: list[Literal["mmlu", "gsm8k", "advbench"]] = list(BENCHMARKS)
    variants: list[Literal["original", "warm", "cold", "warm_prompt"]] = ["original", "warm"]
    n_items: int | None = Field(None, gt=0)
    temperature: float = Field(0.2, ge=0)
    max_new_tokens: int = Field(512, gt=0)


class StudyConfig(_Section):
    """One study: which models, which stages and how big. See configs/demo.yaml for a commented example."""

    study: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    models: list[str] = Field(min_length=1)
    device: str = "auto"
    batch_size: int = Field(16, gt=0)
    seed: int = 0
    training_data: TrainingDataConfig = TrainingDataConfig()
    finetune: FinetuneConfig = FinetuneConfig()
    warmth: WarmthConfig = WarmthConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    capabilities: CapabilitiesConfig | None = CapabilitiesConfig()

    @field_validator("models")
    @classmethod
    def _known_models(cls, value: list[str]) -> list[str]:
        for model in value:
            check_model_name(model)
        return value

    @model_validator(mode="after")
    def _fine_tuned_variants_need_styles(self) -> StudyConfig:
        wanted = set(self.evaluation.variants) | set(self.capabilities.variants if self.capabilities else [])
        missing = {v for v in wanted if v in STYLES} - set(self.finetune.styles)
        if missing:
            raise ValueError(f"variants {sorted(missing)} need finetune.styles to include them")
        return self


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "config"
        given = item.get("input")
        if item["type"] == "extra_forbidden":
            lines.append(f"unknown key '{where}' (not a setting of this section)")
        else:
            lines.append(f"'{where}': {item['msg']} (given: {given!r})")
    return "; ".join(lines)


def load_config(path: str | Path) -> StudyConfig:
    """Read and validate a study config; raise ``ParameterError`` naming each bad field."""
    path = Path(path)
    if not path.exists():
        raise ParameterError(
            "config", str(path), "the path of an existing YAML study config (e.g. configs/demo.yaml)"
        )
    raw = yaml.safe_load(path.read_text()) or {}
    try:
        return StudyConfig.model_validate(raw)
    except ValidationError as error:
        raise ParameterError(
            "config", str(path), f"a valid study config; problems: {_describe(error)}"
        ) from None
