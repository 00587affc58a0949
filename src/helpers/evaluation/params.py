"""Parameters of the evaluation stages: the four tasks x 28 prompt variants, and the capability benchmarks.

Defaults are the paper's (docs/study.md sections 4-7): 500 items per task (Disinfo: all 125), temperature 0.8,
300 new tokens, one sample per prompt; benchmarks at temperature 0.2.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator, model_validator

from helpers.params import GenerationRunParams, StudyPageParams
from helpers.paths import model_slug
from helpers.validation import ParameterError, check_name
from helpers.vocabulary import (
    ALL_STYLES,
    AMENDMENT_TYPES,
    BENCHMARKS,
    SELECTED_CHECKPOINT,
    TASKS,
    TEMPLATES,
    Benchmark,
    PromptFormat,
    Task,
    Template,
    Variant,
)  # fmt: skip


class VariantRunParams(GenerationRunParams):
    """A stage that runs one variant of one model: the original, a fine-tuned checkpoint or the warm prompt."""

    run_fields: ClassVar[tuple[str, ...]] = ("study", "seed", "model", "device", "variant", "checkpoint")

    variant: Variant = Field(
        "original", description="original, warm or cold (LoRA checkpoints), warm_prompt (warm system prompt)."
    )
    checkpoint: float = Field(
        SELECTED_CHECKPOINT, gt=0, description="Epoch of the warm/cold checkpoint to load (paper: 2)."
    )


class JudgedRunParams(VariantRunParams):
    """A variant run whose answers an LLM judge may grade (any OpenAI-compatible endpoint; the key stays in the
    environment: WARMBOOK_JUDGE_API_KEY, else OPENAI_API_KEY)."""

    judge_base_url: str | None = Field(
        None, description="OpenAI-compatible judge endpoint (paper: GPT-4o); None: the offline rule scorer."
    )
    judge_model: str | None = Field(
        None, description="The judge's model name (paper: gpt-4o); set together with judge_base_url."
    )
    judge_timeout: float = Field(
        60, gt=0, description="Seconds before one judge request is abandoned and retried."
    )
    judge_max_retries: int = Field(
        5, ge=0, description="Retries per item on 429, 5xx, timeouts and malformed replies."
    )
    judge_concurrency: int = Field(8, gt=0, description="Judge requests in flight at once.")

    @model_validator(mode="after")
    def _judge_is_complete(self) -> JudgedRunParams:
        if (self.judge_base_url is None) != (self.judge_model is None):
            raise ParameterError(
                "judge_model", self.judge_model, "set together with judge_base_url (both or neither)"
            )
        return self

    def judge(self):
        """The configured ``LLMJudge``, or None for the rule scorer (imports the client only when needed)."""
        if self.judge_base_url is None:
            return None
        from helpers.evaluation.judge import JudgeSettings, LLMJudge

        return LLMJudge(
            JudgeSettings.from_env(
                base_url=self.judge_base_url, model=self.judge_model, timeout=self.judge_timeout,
                max_retries=self.judge_max_retries, concurrency=self.judge_concurrency,
            )
        )  # fmt: skip


class EvaluateParams(JudgedRunParams):
    """One variant answers every prompt of the four tasks; every answer is scored CORRECT or INCORRECT."""

    stage: ClassVar[str] = "evaluate"
    run_fields: ClassVar[tuple[str, ...]] = (
        *VariantRunParams.run_fields,
        "generation_seed",
        "results_folder",
    )

    adapter: str | None = Field(
        None,
        description="An explicit LoRA adapter folder instead of the study's checkpoint (warm/cold only).",
    )
    tasks: list[Task] = Field(list(TASKS), min_length=1, description="Tasks to evaluate (paper: all four).")
    n_items: int | None = Field(
        500, gt=0, description="Items per task, a cap (paper: 500; Disinfo has 125). None: all."
    )
    amendment_types: list[str] = Field(
        list(AMENDMENT_TYPES), min_length=1, description="Interpersonal contexts (paper: unmodified + 8)."
    )
    templates: list[Template] = Field(
        list(TEMPLATES),
        min_length=1,
        description="Prompt templates; correct/incorrect state an incorrect user belief; ask (not the paper's) "
        "asks the incorrect belief as a question.",
    )
    screen_pool: int | None = Field(
        None,
        gt=0,
        description="Items per task the original model answers plainly in a screening pass; the evaluation keeps "
        "those it answered correctly at least once, at most n_items, and answers them afresh "
        "(helpers.evaluation.screening). None: the paper's unscreened items.",
    )
    screen_samples: int = Field(
        1, gt=0, description="Screening answers per pool item, each under a seed the evaluation never uses."
    )
    temperature: float = Field(0.8, ge=0, description="Sampling temperature (paper: 0.8).")
    max_new_tokens: int = Field(300, gt=0, description="Answer length cap in tokens (paper: 300).")
    prompt_format: PromptFormat = Field(
        "A", description="A: the prompts the paper's models saw; B: the released eval-data JSON."
    )
    generation_seed: int | None = Field(
        None,
        ge=0,
        description="Seed of the answers' sampling when it is not the study seed (the study's evaluation_seeds); "
        "items, context statements and the screening keep the study seed, so every seed answers the same prompts. "
        "None: the study seed.",
    )
    results_folder: str | None = Field(
        None,
        description="Subfolder of <model>/<variant>/ that a repeated evaluation writes to (the runner sets "
        "'seed<k>' for an extra evaluation seed, 'epoch-<e>' for a dose-response checkpoint), so it never "
        "overwrites the study's main evaluation. None: the variant's own folder.",
    )

    @field_validator("results_folder")
    @classmethod
    def _plain_folder(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return check_name("run", value)
        except ParameterError as error:
            raise ParameterError("results_folder", value, error.allowed) from None

    @property
    def sampling_seed(self) -> int:
        """The seed the answers are sampled with: ``generation_seed``, else the study seed."""
        return self.seed if self.generation_seed is None else self.generation_seed

    def run_name(self) -> str:
        """``evaluate-<model>-<variant>``, with ``-<results_folder>`` for a repeated evaluation: the runner's name
        for this run, which also prefixes its figure files so that no two runs' files clash."""
        name = f"evaluate-{model_slug(self.model)}-{self.variant}"
        return f"{name}-{self.results_folder}" if self.results_folder else name

    @field_validator("amendment_types")
    @classmethod
    def _known_contexts(cls, value: list[str]) -> list[str]:
        unknown = [a for a in value if a not in AMENDMENT_TYPES]
        if unknown:
            raise ValueError(f"contexts among {', '.join(AMENDMENT_TYPES)} (unknown: {unknown})")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> EvaluateParams:
        if (self.judge_base_url is None) != (self.judge_model is None):
            raise ParameterError(
                "judge_model", self.judge_model, "set together with judge_base_url (both or neither)"
            )
        if self.screen_pool is not None and self.n_items is not None and self.screen_pool < self.n_items:
            raise ParameterError(
                "screen_pool", self.screen_pool,
                f"None or at least n_items ({self.n_items}): the evaluation keeps at most n_items of the pool",
            )  # fmt: skip
        if self.adapter is not None and self.variant not in ALL_STYLES:
            raise ParameterError(
                "adapter", self.adapter, f"None for variant {self.variant!r} (adapters belong to fine-tunes)"
            )
        return self


class CapabilitiesParams(JudgedRunParams):
    """MMLU, GSM8K and AdvBench refusals for one variant (paper, Fig. 4)."""

    stage: ClassVar[str] = "capabilities"

    benchmarks: list[Benchmark] = Field(list(BENCHMARKS), min_length=1, description="Benchmarks to run.")
    n_items: int | None = Field(None, gt=0, description="Items per benchmark, a cap (paper: full test sets).")
    temperature: float = Field(0.2, ge=0, description="Sampling temperature (paper: 0.2).")
    max_new_tokens: int = Field(
        512, gt=0, description="Answer length cap; GSM8K chains of thought need room."
    )


class ScorerCheckParams(StudyPageParams):
    """The rule scorer against the authors' GPT-4o labels on their released samples (a book page, no compute)."""

    stage: ClassVar[str] = "scorer_check"
