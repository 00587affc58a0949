"""Parameters of the analysis stages: this study's statistics, and the figures from the authors' released data."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, field_validator

from helpers.params import StudyPageParams, StudyParams
from helpers.vocabulary import SELECTED_CHECKPOINT


class AnalysisParams(StudyParams):
    """Paired tests, logistic regressions and the paper's figures on one study's results."""

    stage: ClassVar[str] = "analysis"
    run_fields: ClassVar[tuple[str, ...]] = ("study", "seed", "selected_checkpoint")

    selected_checkpoint: float = Field(
        SELECTED_CHECKPOINT, gt=0, description="The fine-tuning epoch used as 'the warm model' (paper: 2)."
    )


class BeyondPaperParams(StudyParams):
    """Beyond the paper: the gap over sampling seeds and the warmth-accuracy dose-response of one study."""

    stage: ClassVar[str] = "beyond_paper"
    run_fields: ClassVar[tuple[str, ...]] = ("study", "seed", "selected_checkpoint")

    selected_checkpoint: float = Field(
        SELECTED_CHECKPOINT, gt=0,
        description="The checkpoint of the main evaluation, a point of the dose-response (paper: epoch 2).",
    )  # fmt: skip


class PaperResultsParams(StudyPageParams):
    """The paper's figures and headline numbers, redrawn and re-derived from the authors' released files."""

    stage: ClassVar[str] = "paper_results"

    reference_dir: str = Field(
        "", description="Folder of the authors' released files; '' = the copy in data/reference."
    )

    @field_validator("reference_dir")
    @classmethod
    def _has_the_files(cls, value: str) -> str:
        if value and not (Path(value) / "results_warm_ft.csv").is_file():
            raise ValueError(
                "a folder with the authors' files (results_warm_ft.csv, ...), or '' for the bundled copy"
            )
        return value


class AnswersParams(StudyPageParams):
    """Every evaluated prompt with each variant's answer side by side, searchable (a book page, no compute)."""

    stage: ClassVar[str] = "answers"
