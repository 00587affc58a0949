"""Reading a study's results folder into tidy frames, and the descriptive numbers the book quotes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from scipy import stats as scipy_stats

from helpers.analysis.paired import PAIR_KEY, paired_table
from helpers.evaluation.refusal import apply_refusal_rule
from helpers.paths import study_dir
from helpers.storage import read_results_csv
from helpers.vocabulary import (
    ALL_VARIANTS,
    COMPARED_VARIANTS,
    TASKS,
    TEMPLATES,
)

ROW_KINDS = {
    **dict.fromkeys(("variant", "task", "item_id", "prompt_template", "amendment_type", "evaluation"), "str"),
    "refusal": "bool",
    "response_length": "int",
}
"""Columns of an evaluation CSV the analysis relies on, checked when read (``helpers.storage.read_results_csv``)."""
SOCIOT_KINDS = {"variant": "str", "epoch": "float", "mean": "float", "sem": "float", "n": "int"}
SOCIOT_TEXT_KINDS = {"variant": "str", "epoch": "float", "score": "float"}
"""Columns of ``warmth/sociot_texts.csv``: one SocioT score per response (averaged over dropout passes)."""
CAPABILITY_KINDS = {
    "benchmark": "str",
    "n": "int",
    **dict.fromkeys(("accuracy", "ci_lower", "ci_upper"), "float"),
}


def warmth_across_texts(text_scores: pd.DataFrame) -> pd.DataFrame:
    """SocioT warmth per variant x epoch: mean and **SEM across responses**, the error bars of Figure 1a.

    Input: one row per scored response (``variant, epoch, score``; ``score`` is that response's warmth averaged
    over dropout passes, as in ``warmth/sociot_texts.csv``). The SEM is ``scipy.stats.sem`` over the responses
    (NaN for a single one): the spread of warmth between responses, which the paper's caption names. The SEM
    over dropout passes (``sociot.csv``'s ``sem``) measures only the scorer's noise and is 0 without dropout.
    Returns ``variant, epoch, mean, sem, n, sem_over`` with ``sem_over = "texts"``.
    """
    grouped = text_scores.groupby(["variant", "epoch"], sort=False)["score"]
    table = grouped.agg(
        mean="mean", sem=lambda s: float(scipy_stats.sem(s)) if len(s) > 1 else float("nan"), n="size"
    )
    return table.reset_index().assign(sem_over="texts")


def _warmth_table(warmth_dir: Path) -> pd.DataFrame:
    """The warmth of one model folder with a SEM across responses wherever the warmth stage recorded one.

    In order: the per-response scores ``sociot_texts.csv`` (:func:`warmth_across_texts`); ``sociot.csv``'s
    ``sem_texts`` column; else ``sociot.csv``'s SEM over dropout passes, marked ``sem_over = "passes"`` so the
    figure's caption can say that its error bars are not the paper's.
    """
    per_text = warmth_dir / "sociot_texts.csv"
    if per_text.exists():
        return warmth_across_texts(read_results_csv(per_text, SOCIOT_TEXT_KINDS))
    table = read_results_csv(warmth_dir / "sociot.csv", SOCIOT_KINDS)
    if "sem_texts" in table.columns:
        return table.assign(sem=table["sem_texts"], sem_over="texts").drop(columns="sem_texts")
    return table.assign(sem_over="passes")


@dataclass
class StudyResults:
    """What a study folder holds: evaluation rows, warmth and capability tables, and what is missing."""

    rows: pd.DataFrame
    warmth: pd.DataFrame
    capabilities: pd.DataFrame
    found: list[str]
    missing: list[str]


def compared_variants(rows: pd.DataFrame) -> list[str]:
    """The variants that can be compared with the original: both have evaluation rows in this study."""
    if rows.empty or not rows["variant"].eq("original").any():
        return []
    return [v for v in COMPARED_VARIANTS if rows["variant"].eq(v).any()]


def all_pairs(rows: pd.DataFrame, variants: list[str]) -> pd.DataFrame:
    """:func:`paired_table` of every compared variant, stacked (an empty frame when there is none)."""
    frames = [paired_table(rows, variant) for variant in variants]
    columns = ["variant", *PAIR_KEY, "context_group", "belief", "correct_original", "correct_variant"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


#: Folders of a study's results that belong to the study, not to a model (see results/README.md).
STUDY_FOLDERS = frozenset({"notebooks", "runs", "analysis", "book", "training_data", "figures", "beyond"})


def planned_outputs(root: Path) -> set[str]:
    """The result files the study's runs were meant to write (relative paths), from the runner's stored params.

    Only what a run was asked for is expected (of the main evaluation; not the repeated ones beyond the paper): the tasks of each evaluation run, the capabilities of the
    variants that ran them, the warmth table of each model with a warmth run. A study run without the runner
    (papermill alone) has no records, and nothing is expected.
    """
    import yaml

    from helpers.paths import model_slug

    expected: set[str] = set()
    for path in sorted((root / "runs").glob("*.params.yaml")):
        stage = path.name.split("-")[0].removesuffix(".params.yaml")
        params = yaml.safe_load(path.read_text()) or {}
        if "model" not in params:
            continue
        slug = model_slug(params["model"])
        if stage == "evaluate" and params.get("results_folder"):
            continue  # a repeated evaluation (another seed or checkpoint): the beyond-the-paper page reads it
        if stage == "evaluate":
            expected |= {f"{slug}/{params['variant']}/{task}.csv" for task in params.get("tasks", [])}
        elif stage == "capabilities":
            expected.add(f"{slug}/{params['variant']}/capabilities.csv")
        elif stage == "warmth":
            expected.add(f"{slug}/warmth/sociot.csv")
    return expected


def load_study_results(
    study: str, variants: tuple[str, ...] = ("original", *COMPARED_VARIANTS)
) -> StudyResults:
    """Read every ``<model_slug>/<variant>/<task>.csv``, ``warmth/sociot.csv`` and ``capabilities.csv``.

    A model folder is a folder of the study, other than the study's own (:data:`STUDY_FOLDERS`), that holds a
    variant or ``warmth`` folder. ``missing`` lists the files the study's runs were meant to write
    (:func:`planned_outputs`) and did not: the analysis runs on whatever the study produced. Warmth and
    capability tables get the model's folder name as ``model`` (they carry none); warmth carries a SEM across
    responses where the warmth stage recorded the per-response scores (:func:`_warmth_table`).
    """
    root = Path(study_dir(study))
    found: list[str] = []
    rows, warmth, capabilities = [], [], []
    markers = {*variants, "warmth"}
    model_dirs = sorted(
        p for p in root.glob("*")
        if p.is_dir() and p.name not in STUDY_FOLDERS and any((p / m).is_dir() for m in markers)
    )  # fmt: skip
    for model_dir in model_dirs:
        sociot = model_dir / "warmth" / "sociot.csv"
        if sociot.exists() or (model_dir / "warmth" / "sociot_texts.csv").exists():
            warmth.append(_warmth_table(model_dir / "warmth").assign(model=model_dir.name))
            found.append(str(sociot.relative_to(root)))
        for variant in ALL_VARIANTS:  # every variant's files count as found; only ``variants`` are read
            for name in (*(f"{task}.csv" for task in TASKS), "capabilities.csv"):
                path = model_dir / variant / name
                if not path.exists():
                    continue
                found.append(str(path.relative_to(root)))
                if variant not in variants:
                    continue
                if name == "capabilities.csv":
                    capabilities.append(
                        read_results_csv(path, CAPABILITY_KINDS).assign(model=model_dir.name, variant=variant)
                    )
                else:
                    rows.append(read_results_csv(path, ROW_KINDS, keep_default_na=False, na_values=[""]))
    rows = [frame for frame in rows if len(frame)]  # a task whose screen kept no item wrote an empty table
    return StudyResults(
        rows=pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(),
        warmth=pd.concat(warmth, ignore_index=True) if warmth else pd.DataFrame(),
        capabilities=pd.concat(capabilities, ignore_index=True) if capabilities else pd.DataFrame(),
        found=found,
        missing=sorted(planned_outputs(root) - set(found)),
    )


def study_summary(results: StudyResults, selected_epoch: float = 2.0) -> dict[str, float]:
    """The descriptive numbers the book's prose quotes about one study (NaN where a stage is missing).

    ``n_rows``, ``n_questions``, ``n_prompts_per_variant``, ``n_conditions`` (framings per question: template x
    context), ``original_accuracy_<task>`` (%, refusals handled as
    in the paper), ``warmth_original`` and ``warmth_<style>_selected`` (SocioT at ``selected_epoch``).
    """
    rows = apply_refusal_rule(results.rows) if len(results.rows) else results.rows
    numbers: dict[str, float] = {"n_rows": float(len(rows))}
    original = rows[rows["variant"].eq("original")] if len(rows) else rows
    numbers["n_questions"] = (
        float(original[["task", "item_id"]].drop_duplicates().shape[0]) if len(original) else 0.0
    )
    numbers["n_prompts_per_variant"] = float(len(original))
    # the paper's framings: a mitigation template (ask) is not one of them
    paper_framings = results.rows[results.rows["prompt_template"].isin(TEMPLATES)] if len(results.rows) else None
    numbers["n_conditions"] = (
        float(paper_framings[["prompt_template", "amendment_type"]].drop_duplicates().shape[0])
        if len(results.rows) else 0.0
    )  # fmt: skip
    for task in TASKS:
        scored = original[original["task"].eq(task)] if len(original) else original
        numbers[f"original_accuracy_{task}"] = (
            float(100 * (1 - scored["is_incorrect"].mean())) if len(scored) else float("nan")
        )
    warmth = results.warmth

    def warmth_at(variant: str, epoch: float) -> float:
        if not len(warmth):
            return float("nan")
        match = warmth[warmth["variant"].eq(variant) & warmth["epoch"].astype(float).eq(epoch)]
        return float(match["mean"].mean()) if len(match) else float("nan")

    numbers["warmth_original"] = warmth_at("original", 0.0)
    numbers["warmth_warm_selected"] = warmth_at("warm", selected_epoch)
    numbers["warmth_cold_selected"] = warmth_at("cold", selected_epoch)
    return numbers


def stage_minutes(study: str, exclude: tuple[str, ...] = ("analysis",)) -> pd.DataFrame:
    """Recorded wall time per stage (``count``, ``mean``, ``sum`` minutes) from the runner's records.

    Every run's state file (``results/<study>/runs/<run>.json``) holds the seconds it took; the stage is the
    run name's first part. ``exclude`` leaves out runs still in progress when this is read (the analysis
    measures its own time). An empty frame for a study run without the runner.
    """
    import json

    records = [
        {
            "stage": path.stem.split("-")[0],
            "minutes": json.loads(path.read_text()).get("seconds", float("nan")) / 60,
        }
        for path in sorted((study_dir(study) / "runs").glob("*.json"))
        if path.stem not in exclude
    ]
    if not records:
        return pd.DataFrame(columns=["count", "mean", "sum"])
    return pd.DataFrame(records).groupby("stage")["minutes"].agg(["count", "mean", "sum"])
