"""A study config (``configs/*.yaml``): the study's matrix plus one section per stage, each that stage's own object.

Like an alignment-handbook recipe, a config is data. Its top level names the matrix the runner expands: the
models, the fine-tuned styles, the variants evaluated and the checkpoint called "the warm model". Each section
(``training_data``, ``finetune``, ``warmth``, ``evaluate``, ``capabilities``) is validated as that stage's
parameter object itself (``helpers.<stage>.params``), so a setting is defined once: the runner copies a section
and sets only the run's own fields (``run_fields``: model, style, variant...). Those fields come from the matrix
and may not appear in a section. Unknown keys, models, variants or contexts fail at load time, naming the field,
the value and what is allowed, before anything runs. Loading a config does not import torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from helpers.evaluation.params import CapabilitiesParams, EvaluateParams
from helpers.model_names import check_model_name
from helpers.params import StageParams, StudyName, parameter_error
from helpers.study.stages import REGISTRY
from helpers.training.params import FinetuneParams, TrainingDataParams
from helpers.validation import ParameterError
from helpers.vocabulary import ALL_STYLES, SELECTED_CHECKPOINT, STYLES, VARIANTS, Style, Variant
from helpers.warmth.params import WarmthParams

#: Sections of a config, in pipeline order, and the stage object each one is (from the stage registry).
SECTIONS: dict[str, type[StageParams]] = {stage.name: stage.params for stage in REGISTRY if stage.section}
#: Every stage object the runner can execute, by notebook name.
STAGES: dict[str, type[StageParams]] = {stage.name: stage.params for stage in REGISTRY}


class StudyConfig(BaseModel):
    """One study: which models, styles and variants, and each stage's settings. See configs/demo.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    study: StudyName = Field(description="Name of the study: results/<study>/ holds everything it writes.")
    description: str = ""
    models: list[str] = Field(
        min_length=1, description="Base models (embedded name, local folder or hub id)."
    )
    device: str = Field("auto", description="Device of every model run.")
    seed: int = Field(0, ge=0, description="Seed of every stage (an integer >= 0).")
    styles: list[Style] = Field(
        list(STYLES), description="Fine-tuned styles (paper: warm and the cold control)."
    )
    selected_checkpoint: float = Field(
        SELECTED_CHECKPOINT, description="The checkpoint evaluated as the warm/cold model (paper: epoch 2)."
    )
    variants: list[Variant] = Field(
        list(VARIANTS), min_length=1, description="Variants answering the evaluation tasks."
    )
    executor: Literal["local", "ray"] = Field(
        "local", description="Where runs execute: one after another here, or as Ray tasks."
    )
    ray_address: str | None = Field(
        None,
        description="The Ray cluster for executor 'ray' ('auto', 'ray://head:10001'); None starts a local one.",
    )
    capability_variants: list[Variant] = Field(
        ["original", "warm"], description="Variants run on the capability benchmarks; [] skips the stage."
    )
    evaluation_seeds: list[int] = Field(
        [],
        description="Beyond the paper (which samples once): sampling seeds the evaluation of every variant is "
        "repeated with, each an extra run on the same items and prompts (helpers.analysis.seeds). The study seed "
        "is always one of them (its runs are the main evaluation); [] means the study seed alone.",
    )
    dose_response: list[Style] = Field(
        [],
        description="Beyond the paper: styles evaluated at every scored checkpoint (finetune.checkpoints) on the "
        "plain and incorrect-belief prompts, with the original as checkpoint 0, for the warmth-accuracy "
        "dose-response (helpers.analysis.dose_response); [] evaluates the selected checkpoint only.",
    )
    extends: StudyName | None = Field(
        None,
        description="The study whose snapshot book this study's snapshot joins as a part beyond the paper "
        "(make read of that study shows both); None: this study's book stands alone.",
    )
    training_data: TrainingDataParams = TrainingDataParams()
    finetune: FinetuneParams = FinetuneParams()
    warmth: WarmthParams = WarmthParams()
    evaluate: EvaluateParams = EvaluateParams()
    capabilities: CapabilitiesParams = CapabilitiesParams()

    @field_validator("models")
    @classmethod
    def _known_models(cls, value: list[str]) -> list[str]:
        for model in value:
            check_model_name(model)
        return value

    @field_validator("evaluation_seeds")
    @classmethod
    def _distinct_seeds(cls, value: list[int]) -> list[int]:
        allowed = (
            "a list of distinct integers >= 0 (sampling seeds), e.g. [0, 1, 2]; [] for the study seed alone"
        )
        for seed in value:
            if seed < 0:
                raise ParameterError("evaluation_seeds", seed, allowed)
        if len(set(value)) != len(value):
            raise ParameterError("evaluation_seeds", value, allowed)
        return value

    @model_validator(mode="before")
    @classmethod
    def _sections_leave_run_fields_to_the_matrix(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            return raw
        for section, params in SECTIONS.items():
            given = raw.get(section) or {}
            clash = [name for name in params.run_fields if isinstance(given, dict) and name in given]
            if clash:
                raise ParameterError(
                    f"{section}.{clash[0]}",
                    given[clash[0]],
                    "no value here: the runner sets it for each run from the top-level matrix "
                    "(study, models, device, seed, styles, variants, selected_checkpoint, finetune.checkpoints, "
                    "evaluation_seeds, dose_response)",
                )
        return raw

    @model_validator(mode="after")
    def _matrix_is_consistent(self) -> StudyConfig:
        if self.selected_checkpoint not in self.finetune.checkpoints:
            raise ParameterError(
                "selected_checkpoint",
                self.selected_checkpoint,
                f"one of finetune.checkpoints {self.finetune.checkpoints}",
            )
        wanted = set(self.variants) | set(self.capability_variants)
        missing = sorted(v for v in wanted if v in ALL_STYLES and v not in self.styles)
        if missing:
            raise ParameterError("styles", self.styles, f"a list including {missing}, which variants need")
        self._dose_response_is_measurable()
        if self.extends == self.study:
            raise ParameterError(
                "extends", self.extends, "another study's name (or None), not this study's own"
            )
        return self

    def _dose_response_is_measurable(self) -> None:
        """The dose-response reads the original (checkpoint 0) and the selected checkpoint from the main
        evaluation, so that evaluation must ask the plain and incorrect-belief prompts without a context."""
        if not self.dose_response:
            return
        unknown = [s for s in self.dose_response if s not in self.styles]
        if unknown or len(set(self.dose_response)) != len(self.dose_response):
            raise ParameterError(
                "dose_response", self.dose_response, f"distinct styles among styles {self.styles}, or []"
            )
        if "original" not in self.variants:
            raise ParameterError(
                "variants", self.variants, "a list including 'original' (checkpoint 0 of dose_response)"
            )
        missing = [t for t in ("original", "incorrect") if t not in self.evaluate.templates]
        if missing:
            raise ParameterError(
                "evaluate.templates", self.evaluate.templates,
                f"a list including {missing}: dose_response compares the plain and incorrect-belief prompts",
            )  # fmt: skip
        if "unmodified" not in self.evaluate.amendment_types:
            raise ParameterError(
                "evaluate.amendment_types", self.evaluate.amendment_types,
                "a list including 'unmodified': dose_response asks its prompts without a context",
            )  # fmt: skip

    @property
    def sampling_seeds(self) -> list[int]:
        """The evaluation's sampling seeds: the study seed first, then ``evaluation_seeds`` without it."""
        return list(dict.fromkeys([self.seed, *self.evaluation_seeds]))


def _overridden(raw: dict[str, Any], study: str | None, settings: Sequence[str]) -> dict[str, Any]:
    """``raw`` with the study renamed and each ``section.key=value`` (or ``key=value``) setting applied."""
    raw = {key: dict(value) if isinstance(value, dict) else value for key, value in raw.items()}
    if study is not None:
        raw["study"] = study
    for setting in settings:
        key, equals, text = setting.partition("=")
        if not equals or not key:
            raise ParameterError("--set", setting, "KEY=VALUE, e.g. evaluate.temperature=0")
        value = yaml.safe_load(text)
        section, dot, name = key.partition(".")
        if dot:
            if section not in SECTIONS:
                raise ParameterError("--set", setting, f"a section among {', '.join(SECTIONS)}")
            raw.setdefault(section, {})[name] = value
        else:
            raw[key] = value
    return raw


def load_config(path: str | Path, study: str | None = None, settings: Sequence[str] = ()) -> StudyConfig:
    """Read and validate a study config; raise ``ParameterError`` naming the file and the first bad field.

    ``study`` renames the study (its results go to ``results/<study>/``, leaving the config's own study as it
    is) and each of ``settings`` (``section.key=value`` or ``key=value``, the value read as YAML) overrides one
    value, so a reader can try a change from the command line; the result is validated as a whole.
    """
    path = Path(path)
    if not path.is_file():
        raise ParameterError(
            "config", str(path), "the path of an existing YAML study config (e.g. configs/demo.yaml)"
        )
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise ParameterError("config", str(path), f"valid YAML; {error.problem} at {where}") from None
    if not isinstance(raw, dict):
        raise ParameterError("config", str(path), "a YAML mapping of settings (see configs/demo.yaml)")
    raw = _overridden(raw, study, settings)
    try:
        return StudyConfig.model_validate(raw)
    except ValidationError as error:
        problem = parameter_error(error)
        raise ParameterError(problem.name, problem.value, f"{problem.allowed} (in {path})") from None
