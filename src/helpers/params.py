"""One typed, frozen parameter object per stage: the single definition of that stage's parameters.

The pattern is trl's ``SFTConfig``: every field carries its type, its help text and the paper's default. The
same object travels the whole way: the study config (``configs/*.yaml``) composes one section per stage, the
runner fills in each run's own fields (model, style, variant, checkpoint) and hands the object's values to
papermill unchanged, and the notebook's first code cell rebuilds the object from its parameters cell, which
validates every value before any compute. ``tests/test_params.py`` fails when a notebook's parameters cell and
its stage's object disagree by one name.

Importing this module (and every ``<stage>/params.py``) must not import torch: loading a YAML config is cheap.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from helpers.model_names import check_model_name
from helpers.validation import ParameterError, check_name
from helpers.vocabulary import Backend

_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


#: A study name, checked wherever it enters (config, notebook parameters): nothing is written outside results/.
StudyName = Annotated[str, AfterValidator(lambda value: check_name("study", value))]


def parameter_error(error: ValidationError) -> ParameterError:
    """The first problem of a validation error as a ``ParameterError`` (field, value given, what is allowed)."""
    first = error.errors()[0]
    original = first.get("ctx", {}).get("error")
    if isinstance(original, ParameterError):
        return original
    name = ".".join(str(p) for p in first["loc"] if isinstance(p, str))
    if first["type"] == "extra_forbidden":
        return ParameterError(name, first.get("input"), "no such parameter here (check its spelling)")
    return ParameterError(name, first.get("input"), first["msg"].removeprefix("Value error, "))


class StageParams(BaseModel):
    """Base of every stage's parameters: frozen, unknown names refused, every value validated on creation."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    #: The notebook (``notebooks/<stage>.ipynb``) this object parameterises.
    stage: ClassVar[str]
    #: Fields the runner sets for each run (the study's matrix: model, style, variant...), never a YAML section key.
    run_fields: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def build(cls, **values: Any) -> Self:
        """Validate ``values`` into this stage's object; a bad value raises ``ParameterError`` naming it."""
        try:
            return cls(**values)
        except ValidationError as error:
            raise parameter_error(error) from None

    def updated(self, **changes: Any) -> Self:
        """This object with ``changes`` applied, validated again as a whole (``model_copy`` would skip validation)."""
        return type(self).build(**(self.model_dump() | changes))

    @classmethod
    def from_notebook(cls, namespace: Mapping[str, Any]) -> Self:
        """Rebuild the object from a notebook's globals: exactly the names of its parameters cell."""
        missing = [name for name in cls.model_fields if name not in namespace]
        if missing:
            raise ParameterError(
                missing[0], None, f"a value in the parameters cell of notebooks/{cls.stage}.ipynb"
            )
        return cls.build(**{name: namespace[name] for name in cls.model_fields})

    def notebook_parameters(self) -> dict[str, Any]:
        """The values papermill injects: every field, as plain JSON types."""
        return self.model_dump(mode="json")


class StudyPageParams(StageParams):
    """A book page that only reads (a study's results or bundled data): its one parameter is the study."""

    run_fields: ClassVar[tuple[str, ...]] = ("study",)

    study: StudyName = Field(
        "demo", description="Name of the study whose results (or book) the page belongs to."
    )


class StudyParams(StageParams):
    """A stage that reads and writes one study's results folder."""

    run_fields: ClassVar[tuple[str, ...]] = ("study", "seed")

    study: StudyName = Field("demo", description="Name of the study: its results live in results/<study>/.")
    seed: int = Field(
        0, ge=0, description="Seed for sampling, shuffling and generation (our choice; paper: not reported)."
    )


class ModelRunParams(StudyParams):
    """A stage that runs one model on one device."""

    run_fields: ClassVar[tuple[str, ...]] = ("study", "seed", "model", "device")

    model: str = Field(
        "embedded:SmolLM2-135M-Instruct",
        description="Base model: 'embedded:SmolLM2-135M-Instruct' (offline default), a local folder or a hub id.",
    )
    device: str = Field(
        "auto", description="'auto' (CUDA when available, else CPU), 'cpu', 'cuda', 'cuda:N' or 'mps'."
    )

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str) -> str:
        return check_model_name(value)

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        if not _DEVICE.match(value):
            raise ValueError("one of 'auto', 'cpu', 'cuda', 'cuda:N', 'mps'")
        return value


class GenerationRunParams(ModelRunParams):
    """A stage that generates answers with one model: the engine and batching every generating stage shares
    (evaluation, capabilities, warmth), declared once."""

    backend: Backend = Field(
        "hf",
        description="Generation engine: 'hf' (the project's own batched decode loop over a transformers model, "
        "helpers.generation; CPU and GPU) or 'vllm' (CUDA GPUs, vllm installed; one engine serves the base "
        "model and its LoRA adapters).",
    )
    tensor_parallel_size: int = Field(
        1, gt=0, description="GPUs one vLLM engine spreads the model over (backend=vllm; paper: 2-3 H100s)."
    )
    batch_size: int = Field(16, gt=0, description="Prompts generated together.")
