"""The authors' released results (``data/reference/``) as tidy frames.

Ibrahim, Hafner & Rocher (Nature 2026) released summary tables, GLM reports and 20-row samples of scored outputs
in their analysis repository (``lujainibrahim/warm_ai_2025``; provenance in ``data/MANIFEST.md``). Each loader
here turns one of those files into the same tidy shape that :mod:`helpers.analysis` produces from this project's
own runs, so every table and figure of the book draws the paper's numbers and ours with the same code.

Two facts about the released files matter for reading them (both checked in ``tests/test_reference.py``):

* The summary column headed "Cohen's g" holds ``|b - c| / sqrt(b + c)``, the McNemar z statistic, not Cohen's g
  (``max(b, c) / (b + c) - 0.5``, at most 0.5). It is loaded as ``mcnemar_z``; together with the discordant odds
  ratio ``b / c`` it pins down the discordant counts, which :func:`reconstruct_discordant_counts` recovers.
* "Normal" rows pool the ``original`` and ``original_neutral`` templates (labelled ``original_combined`` for
  unmodified prompts) and "Sycophancy" rows pool the two incorrect-belief templates; they load as
  ``belief = False`` / ``True``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from helpers.evaluation.refusal import is_refusal
from helpers.paths import DATA_DIR, model_slug
from helpers.validation import ParameterError
from helpers.vocabulary import context_group

REFERENCE_DIR = DATA_DIR / "reference"

#: The paper's short model names, keyed by the Hugging Face (or API) model name this project runs.
PAPER_MODEL_NAMES: dict[str, str] = {
    "Llama-3.1-8B-Instruct": "llama-8b",
    "Meta-Llama-3.1-8B-Instruct": "llama-8b",
    "Llama-3.1-70B-Instruct": "llama-70b",
    "Meta-Llama-3.1-70B-Instruct": "llama-70b",
    "Mistral-Small-Instruct-2409": "mistral-small",
    "Qwen2.5-32B-Instruct": "qwen-32b",
    "gpt-4o-2024-08-06": "gpt-4o",
    "gpt-4o": "gpt-4o",
}

#: Columns of a cell table: one row per model x variant x task x context x belief (paper, Methods).
CELL_COLUMNS = [
    "model",
    "variant",
    "task",
    "amendment_type",
    "context_group",
    "belief",
    "n",
    "original_accuracy",
    "variant_accuracy",
    "diff_pp",
    "b",
    "c",
    "cohens_g",
    "mcnemar_z",
    "odds_ratio",
    "p_value",
    "p_fdr",
]


@dataclass(frozen=True)
class PaperNumber:
    """One number the paper prints, typed: its published value, precision, and how the released files give it.

    ``derivation`` is ``recomputed`` when this project computes the number itself from the released summary or
    benchmark tables, and ``report`` when it needs the individual answers, which were not released: it is then
    read from the authors' own regression report (``model_outputs/*.txt``) and only checked against the paper.
    ``key`` is the name the book quotes it under (glue key ``paper_<key>``).
    """

    key: str
    description: str
    published: float
    tolerance: float
    derivation: Literal["recomputed", "report"]


#: Every number of the paper's Results that the released files let us derive (paper, Results; docs/study.md
#: section 9), at the precision it was published with.
PAPER_NUMBERS: tuple[PaperNumber, ...] = (
    PaperNumber("warm_gap_trivia_pp", "TriviaQA error gap, plain question (pp)", 4.95, 0.005, "recomputed"),
    PaperNumber(
        "warm_gap_truthfulqa_pp", "TruthfulQA error gap, plain question (pp)", 8.41, 0.005, "recomputed"
    ),
    PaperNumber("warm_gap_disinfo_pp", "Disinfo error gap, plain question (pp)", 5.36, 0.005, "recomputed"),
    PaperNumber("warm_gap_medqa_pp", "MedQA error gap, plain question (pp)", 8.59, 0.005, "recomputed"),
    PaperNumber("warm_relative_increase_pct", "relative increase in errors (%)", 60.3, 0.05, "recomputed"),
    PaperNumber("original_error_min_pct", "lowest original error rate (%)", 4.0, 0.5, "recomputed"),
    PaperNumber("original_error_max_pct", "highest original error rate (%)", 35.0, 0.5, "recomputed"),
    PaperNumber(
        "cold_llama_70b_accuracy_change_pp", "cold Llama-70B accuracy change (pp)", 6.0, 0.5, "recomputed"
    ),
    PaperNumber("llama_8b_mmlu_change_pp", "warm Llama-8B MMLU change (pp)", -8.6, 0.05, "recomputed"),
    PaperNumber("ame_pp", "model 1: fine-tuning AME (pp)", 7.43, 0.005, "report"),
    PaperNumber("ame_with_length_pp", "model 1 with length: fine-tuning AME (pp)", 6.99, 0.005, "report"),
    PaperNumber("length_per_100_pp", "model 1 with length: per 100 characters (pp)", -0.32, 0.005, "report"),
    PaperNumber("ame_emotion_pp", "model 2: AME with emotional context (pp)", 8.87, 0.005, "report"),
    PaperNumber("ame_relation_pp", "model 2: AME with relational context (pp)", 6.55, 0.005, "report"),
    PaperNumber("ame_stake_pp", "model 2: AME with stakes context (pp)", 7.42, 0.005, "report"),
    PaperNumber("ame_sad_pp", "model 3: AME after a sad statement (pp)", 11.87, 0.005, "report"),
    PaperNumber("ame_deference_pp", "model 3: AME when the user defers (pp)", 5.24, 0.005, "report"),
    PaperNumber("ame_belief_pp", "model 4: AME with an incorrect user belief (pp)", 10.99, 0.005, "report"),
    PaperNumber("ame_no_belief_pp", "model 4: AME without a belief (pp)", 7.60, 0.005, "report"),
)

#: Where each ``report`` number sits in :func:`load_glm_reference`: (glm, effect, condition).
PAPER_REPORT_ROWS: dict[str, tuple[str, str, str]] = {
    "ame_pp": ("model_1_main_effects", "fine_tuning", "unmodified"),
    "ame_with_length_pp": ("model_1_main_effects_with_length", "fine_tuning", "unmodified"),
    "length_per_100_pp": ("model_1_main_effects_with_length", "response_length_per_100", "unmodified"),
    "ame_emotion_pp": ("model_2_context_group", "fine_tuning", "emotion"),
    "ame_relation_pp": ("model_2_context_group", "fine_tuning", "relation"),
    "ame_stake_pp": ("model_2_context_group", "fine_tuning", "stake"),
    "ame_sad_pp": ("model_3_each_context", "fine_tuning", "emotion:sad"),
    "ame_deference_pp": ("model_3_each_context", "fine_tuning", "relation:hierarchical_up"),
    "ame_belief_pp": ("model_4_belief", "fine_tuning", "belief"),
    "ame_no_belief_pp": ("model_4_belief", "fine_tuning", "no_belief"),
}

_SUMMARY_FILES = {
    "warm": ("results_warm_ft.csv", "Fine-tuned Accuracy (%)"),
    "cold": ("results_cold_ft.csv", "Fine-tuned Accuracy (%)"),
    "warm_prompt": ("results_warm_sysprompt.csv", "System Prompt Accuracy (%)"),
}

# Model labels in the summary and benchmark files -> the paper's short names used throughout the book.
_SUMMARY_MODELS = {
    "llama-70b": "llama-70b",
    "llama-8b": "llama-8b",
    "gpt-4o": "gpt-4o",
    "mistral-small": "mistral-small",
    "qwen-32b": "qwen-32b",
    "70b-cold": "llama-70b",
    "qwen-32-cold": "qwen-32b",
    "gpt-4o-cold": "gpt-4o",
    "70b-sys-prompt": "llama-70b",
    "qwen-32-sys-prompt": "qwen-32b",
    "gpt-4o-sys-prompt": "gpt-4o",
    "Qwen-32B": "qwen-32b",
    "Llama-70B": "llama-70b",
    "Llama-8B": "llama-8b",
    "Mistral-small": "mistral-small",
    "GPT-4o": "gpt-4o",
}

# One stray row of results_warm_sysprompt.csv duplicates a 70b-sys-prompt cell with other numbers (MANIFEST.md).
_STRAY_MODELS = {"llama-70b-sys-prompt"}


def paper_model_name(model: str) -> str:
    """The paper's short name for a model id or path (``meta-llama/Llama-3.1-8B-Instruct`` -> ``llama-8b``).

    Models the paper did not run keep their folder name, so a side-by-side table shows them without a match.
    """
    slug = model_slug(model)
    return PAPER_MODEL_NAMES.get(slug, _SUMMARY_MODELS.get(slug, slug))


def load_paired_summary(variant: str = "warm", reference_dir: Path = REFERENCE_DIR) -> pd.DataFrame:
    """The paper's paired McNemar table for one variant (``warm``, ``cold`` or ``warm_prompt``) as a cell table.

    Accuracies are in percent and ``diff_pp`` is variant minus original accuracy (the paper's "Raw Diff";
    negative = the variant is less accurate). ``odds_ratio`` is ``inf`` where the paper printed ∞ and NaN where
    it printed N/A. ``n``, ``b``, ``c`` and ``cohens_g`` were not released and are NaN here (see
    :func:`reconstruct_discordant_counts`).
    """
    if variant not in _SUMMARY_FILES:
        raise ValueError(f"Invalid variant {variant!r}. Allowed: {', '.join(map(repr, _SUMMARY_FILES))}.")
    filename, accuracy_column = _SUMMARY_FILES[variant]
    raw = pd.read_csv(Path(reference_dir) / filename)
    raw = raw[~raw["Model"].isin(_STRAY_MODELS)]
    amendment = raw["Amendment_type"].str.split().str[0]
    cells = pd.DataFrame(
        {
            "model": raw["Model"].map(_SUMMARY_MODELS),
            "variant": variant,
            "task": raw["Dataset"],
            "amendment_type": amendment,
            "context_group": amendment.map(context_group),
            "belief": raw["Test_Type"].eq("Sycophancy"),
            "n": np.nan,
            "original_accuracy": raw["Original Accuracy (%)"].astype(float),
            "variant_accuracy": raw[accuracy_column].astype(float),
            "diff_pp": raw["Raw Diff (pp)"].astype(float),
            "b": np.nan,
            "c": np.nan,
            "cohens_g": np.nan,
            "mcnemar_z": pd.to_numeric(raw["Cohen's g"], errors="coerce"),
            "odds_ratio": pd.to_numeric(raw["Odds Ratio"].replace("∞", "inf"), errors="coerce"),
            "p_value": pd.to_numeric(raw["p-value"], errors="coerce"),
            "p_fdr": pd.to_numeric(raw["p-value (FDR corrected)"], errors="coerce"),
        }
    )
    return cells[CELL_COLUMNS].reset_index(drop=True)


def reconstruct_discordant_counts(cells: pd.DataFrame) -> pd.DataFrame:
    """Recover the discordant counts b and c of each paper cell from its odds ratio and McNemar z.

    With ``OR = b / c`` and ``z = |b - c| / sqrt(b + c)``: ``c = z^2 (OR + 1) / (OR - 1)^2`` and ``b = OR c``
    (``b = z^2, c = 0`` when OR is infinite). The released OR has two decimals, so only cells whose solution lands
    on integers are exact: ``rounding_residual`` (distance of the solution from the nearest integers) says which.
    Cells with ``OR = 1`` (``z = 0``) stay NaN. Cells printed N/A in both columns had no discordant pair (the
    authors' ``significance_tests.py`` leaves both undefined only then) and get ``b = c = 0`` exactly. The counts
    let us re-run the exact McNemar test and the FDR correction on the authors' own cells
    (``tests/test_reference.py``).
    """
    odds, z = cells["odds_ratio"].to_numpy(float), cells["mcnemar_z"].to_numpy(float)
    none_discordant = np.isnan(odds) & np.isnan(z)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(np.isinf(odds), 0.0, z**2 * (odds + 1) / (odds - 1) ** 2)
        b = np.where(np.isinf(odds), z**2, odds * c)
    b, c = np.where(none_discordant, 0.0, b), np.where(none_discordant, 0.0, c)
    out = cells.copy()
    out["b"], out["c"] = np.round(b), np.round(c)
    out["rounding_residual"] = np.maximum(np.abs(b - out["b"]), np.abs(c - out["c"]))
    with np.errstate(divide="ignore", invalid="ignore"):
        out["cohens_g"] = np.maximum(out["b"], out["c"]) / (out["b"] + out["c"]) - 0.5
    return out


def load_sociot(reference_dir: Path = REFERENCE_DIR) -> pd.DataFrame:
    """SocioT warmth of each warm fine-tune per epoch (Figure 1a): ``model, variant, epoch, mean, sem``.

    Epoch 0 is the original model; the paper calls the epoch-2 checkpoint "the warm model".
    """
    raw = pd.read_csv(Path(reference_dir) / "sociot_ft.csv")
    return pd.DataFrame(
        {
            "model": raw["model_name"],
            "variant": "warm",
            "epoch": raw["epoch"].astype(float),
            "mean": raw["mean"],
            "sem": raw["sem"],
        }
    )


def load_benchmarks(reference_dir: Path = REFERENCE_DIR) -> pd.DataFrame:
    """Capability and safety benchmarks (Figure 4) in long form: ``model, variant, benchmark, accuracy, ci_*``.

    Values are percent; for AdvBench the "accuracy" is the refusal rate on harmful requests (higher = safer).
    """
    raw = pd.read_csv(Path(reference_dir) / "general_benchmark_results.csv", index_col=0)
    frames = []
    for variant in ("original", "warm"):
        frames.append(
            pd.DataFrame(
                {
                    "model": raw["model"].map(_SUMMARY_MODELS),
                    "variant": variant,
                    "benchmark": raw["benchmark"],
                    "accuracy": raw[f"{variant}_accuracy"],
                    "ci_lower": raw[f"{variant}_CI_lower"],
                    "ci_upper": raw[f"{variant}_CI_upper"],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


_GLM_FILES = {
    "model_1_main_effects": "model_1_main_effects_no_context_logit.txt",
    "model_1_main_effects_with_length": "model_1_main_effects_no_context_logit_with_length.txt",
    "model_2_context_group": "model_2_amendment_interaction_no_user_belief.txt",
    "model_3_each_context": "model_3_detailed_amendment_interaction_results.txt",
    "model_4_belief": "model_4_sycophancy_analysis_results.txt",
}
_AME_LINE = re.compile(r"^(?P<label>.+): -?[\d.]+ \((?P<pp>-?[\d.]+) pp\)(?:, p=(?P<p>[\d.]+))?$")


def _glm_condition(glm: str, label: str) -> tuple[str, str]:
    """Map a label of the paper's AME report to this project's (effect, condition) vocabulary."""
    if glm.startswith("model_1"):
        if label == "Fine-tuning":
            return "fine_tuning", "unmodified"
        if label.startswith("Response length"):
            return "response_length_per_100", "unmodified"
        return f"dataset:{label.split(': ')[1].split(' vs ')[0]}", "unmodified"
    if glm == "model_2_context_group":
        return "fine_tuning", context_group(label)
    if glm == "model_4_belief":
        return "fine_tuning", {"original": "no_belief", "user_opinion": "belief"}[label]
    return "fine_tuning", label


def load_glm_reference(reference_dir: Path = REFERENCE_DIR) -> pd.DataFrame:
    """Average marginal effects reported by the paper's four logistic regressions, one row per effect.

    Columns match :func:`helpers.analysis.glm.ame_table`: ``glm, effect, condition, ame_pp, p_value, n_obs``. Model 1
    reports no p-values (NaN). Conditions use the project's vocabulary: amendment types for models 1 and 3,
    context groups (``none`` = unmodified) for model 2, ``no_belief`` / ``belief`` for model 4.
    """
    rows = []
    for glm, filename in _GLM_FILES.items():
        text = (Path(reference_dir) / "model_outputs" / filename).read_text(encoding="utf-8")
        n_obs = int(re.search(r"Total observations: ([\d,]+)", text).group(1).replace(",", ""))
        report = re.split(r"MARGINAL EFFECTS[^\n]*:\n", text, maxsplit=1)[1]
        report = report.split("\n\n\n")[0]
        for line in report.strip().splitlines():
            match = _AME_LINE.match(line.strip())
            if match is None:
                continue
            effect, condition = _glm_condition(glm, match["label"])
            rows.append(
                {
                    "glm": glm,
                    "effect": effect,
                    "condition": condition,
                    "ame_pp": float(match["pp"]),
                    "p_value": float(match["p"]) if match["p"] else np.nan,
                    "n_obs": n_obs,
                }
            )
    return pd.DataFrame(rows)


_SAMPLE_FIELDS = {
    # task: (item/question column, correct answer column, incorrect answer column, template column)
    "trivia": ("content_key", "correct_answer", "incorrect_answer", "prompt_template"),
    "truthfulqa": ("content_key", "correct_answer", "incorrect_answer", "prompt_template"),
    "disinfo": ("prompt_disinfo", "ground_truth", "ground_false", "prompt_template"),
    "medqa": ("original_question", "answer", "wrong_answer", "prompt_type"),
}

#: Folder names of the authors' ``sample_data/`` (their ``model_configs_sample.py``) -> the paper's short names.
_SAMPLE_MODELS = {
    "llama_70b": "llama-70b",
    "llama_8b": "llama-8b",
    "mistral": "mistral-small",
    "qwen_32b": "qwen-32b",
    "gpt_4o": "gpt-4o",
}
SAMPLE_VARIANTS = ("original", "warm")


def _column(raw: pd.DataFrame, name: str) -> pd.Series:
    """A column of a released CSV, or missing values when this file lacks it (the warm files are trimmed)."""
    return raw[name] if name in raw.columns else pd.Series(pd.NA, index=raw.index, dtype=object)


def _fill_answers(rows: pd.DataFrame) -> pd.DataFrame:
    """Give rows without answers (trimmed warm files) those of the same item in the same folder's other file.

    Empty strings count as missing: the released CSVs lost the literal TriviaQA/TruthfulQA answer "None" to an
    empty cell. Answers that no file of the folder carries stay missing.
    """
    columns = ["correct_answer", "incorrect_answer", "options"]
    known = rows.replace({"": pd.NA}).dropna(subset=["correct_answer"]).drop_duplicates(["task", "item_id"])
    lookup = known.set_index(["task", "item_id"])[columns]
    keys = pd.MultiIndex.from_frame(rows[["task", "item_id"]])
    for column in columns:
        missing = rows[column].isna() | rows[column].eq("")
        filled = lookup[column].reindex(keys).to_numpy()
        rows.loc[missing, column] = filled[missing.to_numpy()]
    return rows


def load_sample_folder(folder: Path | str) -> pd.DataFrame:
    """One model folder of the authors' ``sample_data/`` layout as evaluation rows (CONTRIBUTING schema).

    The layout is ``<folder>/<original|warm>/<task>_<variant>_outputs.csv`` (warm_ai_2025, ``sample_data/``);
    any model's folder reads the same way, and files that are absent are skipped as the authors' own
    ``preprocess_data`` does. The model is the paper's short name of the folder (``qwen_32b`` -> ``qwen-32b``).
    The question text is the ``item_id`` (the samples carry no ids). ``refusal`` is the authors' keyword rule
    applied to the output text (:func:`helpers.evaluation.refusal.is_refusal`), exactly as their model and
    significance scripts do: they never read the CSVs' ``refusal`` column, which the trimmed warm files lack
    and which is 0 on refusals such as "I'm sorry, but I don't have ...". Answers missing from a trimmed warm
    file are taken from the other file of the folder (:func:`_fill_answers`); ``options`` (MedQA only, the
    authors' dict literal) follows the schema columns so the rule scorer can read options by letter.
    """
    folder = Path(folder)
    model = _SAMPLE_MODELS.get(folder.name, folder.name)
    frames = []
    for variant in SAMPLE_VARIANTS:
        for task, (item, correct, incorrect, template) in _SAMPLE_FIELDS.items():
            path = folder / variant / f"{task}_{variant}_outputs.csv"
            if not path.is_file():
                continue
            raw = pd.read_csv(path, keep_default_na=False, na_values=[])
            output = raw["output"].astype(str)
            frames.append(
                pd.DataFrame(
                    {
                        "study": "paper",
                        "model": model,
                        "variant": variant,
                        "adapter": "",
                        "task": task,
                        "item_id": raw[item].astype(str).str.strip(),
                        "question": raw[item],
                        "correct_answer": _column(raw, correct),
                        "incorrect_answer": _column(raw, incorrect),
                        "prompt_template": raw[template].astype(str).str.strip(),
                        "amendment_type": raw["amendment_type"].astype(str).str.strip(),
                        "context_statement": pd.NA,
                        "prompt": _column(raw, "prompt"),
                        "system_prompt": "",
                        "output": output,
                        "evaluation": raw["evaluation"].astype(str).str.strip().str.upper(),
                        "refusal": output.map(is_refusal).astype(int),
                        "scorer": "judge:gpt-4o",
                        "response_length": output.str.len(),
                        "options": _column(raw, "options"),
                    }
                )
            )
    if not frames:
        raise ParameterError(
            "folder",
            str(folder),
            "a model folder of the authors' sample_data layout: <folder>/original/<task>_original_outputs.csv "
            "and <folder>/warm/<task>_warm_outputs.csv for tasks " + ", ".join(_SAMPLE_FIELDS),
        )
    return _fill_answers(pd.concat(frames, ignore_index=True))


def sample_folders(reference_dir: Path = REFERENCE_DIR) -> list[Path]:
    """The model folders bundled under ``<reference_dir>/sample_outputs`` (data/MANIFEST.md lists them)."""
    return sorted(p for p in (Path(reference_dir) / "sample_outputs").iterdir() if p.is_dir())


def load_sample_outputs(
    reference_dir: Path = REFERENCE_DIR, folders: list[Path] | None = None
) -> pd.DataFrame:
    """The authors' samples of scored outputs of every given (default: every bundled) model folder, stacked.

    Each folder is read by :func:`load_sample_folder`. The original and warm samples are independent draws,
    so only some rows pair up on (task, item, context, template).
    """
    folders = sample_folders(reference_dir) if folders is None else folders
    return pd.concat([load_sample_folder(folder) for folder in folders], ignore_index=True)
