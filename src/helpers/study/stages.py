"""The stage registry: the one place each stage's facts are written.

A stage is one notebook (``notebooks/<name>.ipynb``) with one parameter object. Everything else the study
machinery needs to know about it lives in its :class:`Stage` entry: its title in the book, the library package
its code belongs to (whose order is the direction imports may take: a stage's code reads only from stages listed
before it), the bundled data files its fingerprint covers, the result files a run of it writes, whether it is a
section of the study config, whether it needs a model, and the one parameter change a re-run box offers. The
config (``SECTIONS``/``STAGES``), the runner (titles, data, outputs), the book (page order, variations), the plan
and the Ray executor all read this table; adding a stage touches it and the stage's own files only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from helpers.analysis.params import AnalysisParams, AnswersParams, BeyondPaperParams, PaperResultsParams
from helpers.evaluation.params import CapabilitiesParams, EvaluateParams, ScorerCheckParams
from helpers.params import StageParams
from helpers.paths import model_slug
from helpers.training.params import FinetuneParams, TrainingDataParams
from helpers.warmth.params import WarmthParams

Outputs = Callable[[Mapping[str, Any]], list[str]]


def _none(_: Mapping[str, Any]) -> list[str]:
    return []


def _slug(p: Mapping[str, Any]) -> str:
    return model_slug(p["model"]) if "model" in p else ""


def _evaluation_outputs(p: Mapping[str, Any]) -> list[str]:
    tasks = p.get("tasks", [])
    folder = "/".join(filter(None, (_slug(p), p.get("variant"), p.get("results_folder"))))
    answers = [f"{folder}/{task}.csv" for task in tasks]
    screened = [f"{_slug(p)}/screening/{task}.csv" for task in tasks] if p.get("screen_pool") else []
    return answers + screened


@dataclass(frozen=True)
class Stage:
    """One stage's facts (see the module docstring); ``outputs`` maps a run's parameters to globs under
    ``results/<study>/``."""

    name: str
    params: type[StageParams]
    title: str
    package: str
    data: tuple[str, ...] = ()
    outputs: Outputs = _none
    section: bool = False
    uses_model: bool = True
    in_runs_part: bool = True
    variation: tuple[str, Any] | None = None


#: Every stage, in pipeline order; the book shows the ``in_runs_part`` ones in this order.
REGISTRY: tuple[Stage, ...] = (
    Stage(
        "training_data", TrainingDataParams, "Warm and cold training data", "training",
        data=("paper_items/rewrite_instructions.md",),
        outputs=lambda p: ["training_data/*.jsonl", "training_data/*.json"],
        section=True, uses_model=False, variation=("n_conversations", 240),
    ),
    Stage(
        "finetune", FinetuneParams, "Fine-tuning", "training",
        outputs=lambda p: [f"{_slug(p)}/finetune/{p.get('style')}/**/*"],
        section=True, variation=("learning_rate", 1e-5),
    ),
    Stage(
        "warmth", WarmthParams, "SocioT warmth", "warmth",
        outputs=lambda p: [f"{_slug(p)}/warmth/*.csv", f"{_slug(p)}/warmth/*.json"],
        section=True, variation=("n_prompts", 96),
    ),
    Stage(
        "evaluate", EvaluateParams, "Evaluation", "evaluation", data=("paper_items/*", "medqa/*"),
        outputs=_evaluation_outputs, section=True, variation=("temperature", 0),
    ),
    Stage(
        "answers", AnswersParams, "The answers, side by side", "analysis", uses_model=False,
    ),
    Stage(
        "capabilities", CapabilitiesParams, "Capabilities and safety", "evaluation",
        data=("mmlu/*", "gsm8k/*", "advbench/*", "paper_items/rewrite_instructions.md"),
        outputs=lambda p: [f"{_slug(p)}/{p.get('variant')}/capabilities*.csv"],
        section=True, variation=("n_items", 64),
    ),
    Stage(
        "beyond_paper", BeyondPaperParams, "Beyond the paper: sampling seeds and a warmth–accuracy dose–response",
        "analysis", outputs=lambda p: ["beyond/*.csv", "beyond/*.json"], uses_model=False,
    ),
    Stage(
        "analysis", AnalysisParams, "Analysis", "analysis", data=("reference/**/*", "scorer_validation/**/*"),
        outputs=lambda p: ["analysis/*.csv", "analysis/*.json"], uses_model=False,
        variation=("selected_checkpoint", 1),
    ),
    Stage(
        "paper_results", PaperResultsParams, "The paper's released results", "analysis",
        data=("reference/**/*",), uses_model=False, in_runs_part=False,
    ),
    Stage(
        "scorer_check", ScorerCheckParams, "The rule scorer against the paper's judge", "evaluation",
        data=("reference/sample_outputs/**/*", "paper_items/*", "scorer_validation/**/*"),
        uses_model=False, in_runs_part=False,
    ),
)  # fmt: skip

BY_NAME: dict[str, Stage] = {stage.name: stage for stage in REGISTRY}

#: The stages whose results the analysis reads (``beyond_paper`` only where the study goes beyond the paper).
ANALYSIS_INPUTS = ("warmth", "evaluate", "capabilities", "beyond_paper")
#: The stages whose results the beyond-the-paper page reads.
BEYOND_PAPER_INPUTS = ("warmth", "evaluate")


def package_order() -> list[str]:
    """Stage packages in the order their first stage appears: code may import only from packages before it."""
    return list(dict.fromkeys(stage.package for stage in REGISTRY))
