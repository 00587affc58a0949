"""Parameters of the warmth stage: SocioT of each checkpoint's answers (paper, Fig. 1a; docs/study.md section 3)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator, model_validator

from helpers.model_names import check_model_name
from helpers.params import GenerationRunParams
from helpers.validation import ParameterError
from helpers.vocabulary import ALL_STYLES, PAPER_CHECKPOINTS, SELECTED_CHECKPOINT, SocioTMode


class WarmthParams(GenerationRunParams):
    """Answers of the original model and of every checkpoint to held-out prompts, scored with SocioT."""

    stage: ClassVar[str] = "warmth"
    run_fields: ClassVar[tuple[str, ...]] = (
        "study", "seed", "model", "device", "styles", "checkpoints", "selected_checkpoint",
    )  # fmt: skip

    styles: list[str] = Field(["warm", "cold"], description="Fine-tuned styles whose checkpoints are scored.")
    checkpoints: list[float] = Field(
        list(PAPER_CHECKPOINTS), min_length=1, description="Checkpoint epochs to score (paper: all eight)."
    )
    selected_checkpoint: float = Field(
        SELECTED_CHECKPOINT, description="The checkpoint called 'the warm model' (paper: epoch 2)."
    )
    n_prompts: int = Field(
        1500, gt=0, description="Validation prompts answered by every checkpoint (paper: 1,500)."
    )
    max_prompt_chars: int | None = Field(
        None,
        gt=0,
        description="Leave out longer prompts (paper: none; one pasted 2,000-token prompt stalls a CPU batch).",
    )
    scorer_model: str = Field(
        "gpt2", description="The SocioT scoring LM (paper: GPT-2 124M; offline: the embedded model)."
    )
    n_passes: int = Field(100, gt=0, description="Repeated scoring passes with dropout on (paper: 100).")
    sociot_mode: SocioTMode = Field(
        "reference",
        description=(
            "How SocioT is computed. 'reference' (paper): the authors' released code, mean log-probability over "
            "the padded batch of the four framed strings, frame and pad tokens included (the paper's scale); "
            "'text': log-probability of the answer's own tokens only, cleaner but on another scale."
        ),
    )
    temperature: float = Field(0.8, ge=0, description="Sampling temperature of the answers (paper: 0.8).")
    max_new_tokens: int = Field(300, gt=0, description="Answer length cap in tokens (paper: 300).")
    human_check_pairs: int = Field(
        200, gt=0, description="Pairs on the blinded human-check sheet (paper: 200)."
    )
    ratings_path: str | None = Field(
        None, description="Filled-in rating sheets to score; None shows the scoring on simulated raters."
    )

    @field_validator("styles")
    @classmethod
    def _known_styles(cls, value: list[str]) -> list[str]:
        unknown = [s for s in value if s not in ALL_STYLES]
        if unknown:
            raise ValueError(f"styles among {', '.join(map(repr, ALL_STYLES))} (unknown: {unknown})")
        return value

    @field_validator("scorer_model")
    @classmethod
    def _known_scorer(cls, value: str) -> str:
        try:
            return check_model_name(value)
        except ParameterError as error:
            raise ParameterError("scorer_model", value, error.allowed) from None

    @model_validator(mode="after")
    def _selected_is_scored(self) -> WarmthParams:
        if self.selected_checkpoint not in self.checkpoints:
            raise ParameterError(
                "selected_checkpoint", self.selected_checkpoint, f"one of checkpoints {self.checkpoints}"
            )
        return self
