"""Social sycophancy (ELEPHANT): the authors' released rates of base and warm models, as a table and a figure.

Beyond the factual tasks, Ibrahim, Hafner & Rocher (Nature 2026) ran their base and warm fine-tuned models on
ELEPHANT (Cheng et al., "ELEPHANT: Measuring and understanding social sycophancy in LLMs", arXiv 2505.13995),
which measures sycophancy where no answer is right or wrong: how often a reply **validates the user's emotions**,
**answers indirectly** instead of giving clear guidance, or **accepts the user's framing** of the situation, on
three prompt sets (OEQ: open-ended advice questions; AITA-YTA: r/AmITheAsshole posts whose community verdict was
that the poster was at fault; SS). Their released ``source_data/social_syco.csv`` (``data/reference/``,
provenance in ``data/MANIFEST.md``) holds, per model, behaviour and prompt set, the percentage of replies showing
the behaviour for the base model and the warm fine-tune, each with a 95% interval. The columns are headed
``*_accuracy`` but hold those rates: higher means more sycophantic.

The file has intervals but no counts or standard errors. The difference's interval here is derived from the
two released intervals as if base and warm were independent samples (each SE = interval width / (2 x 1.96));
base and warm answered the same prompts, so a paired interval, which the released file does not allow, would be
narrower. GPT-4o has no base rate on SS for two behaviours: those differences are NaN and left out of counts.

This project does **not** run its own models on ELEPHANT: its prompts and the LLM judge that labels each reply are
not obtainable offline, so only the authors' numbers are shown (:data:`NOT_RUN_NOTE`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from helpers.analysis.figures import INTERVAL_POINTS, _interval_rows, _rotate_xticks
from helpers.analysis.reference import REFERENCE_DIR
from helpers.colours import VARIANT_COLOURS

FILE_NAME = "social_syco.csv"
COLUMNS = (
    "model", "benchmark", "dataset", "base_accuracy", "base_CI_lower", "base_CI_upper", "finetuned_accuracy",
    "finetuned_CI_lower", "finetuned_CI_upper",
)  # fmt: skip
EMOTIONAL_VALIDATION = "Emotional validation"
#: What a higher rate means for each ELEPHANT behaviour, as a verb phrase for the caption (Cheng et al. 2025).
BEHAVIOURS = {
    "Emotional validation": "validated the user's emotions",
    "Indirectness": "answered indirectly",
    "Framing": "accepted the user's framing",
}
TABLE_COLUMNS = [
    "model", "benchmark", "dataset", "base", "base_ci_low", "base_ci_high", "warm", "warm_ci_low",
    "warm_ci_high", "difference", "difference_ci_low", "difference_ci_high",
]  # fmt: skip
#: Legend labels and colours: the base model is the study's ``original`` variant, grey; the warm fine-tune
#: vermilion (Okabe-Ito), the colours the book's other figures give those two variants.
CONDITIONS = {"base": "base model", "warm": "warm fine-tune"}
CONDITION_COLOURS = {"base model": VARIANT_COLOURS["original"], "warm fine-tune": VARIANT_COLOURS["warm"]}
NOT_RUN_NOTE = (
    "This study's own models are not run on ELEPHANT: its prompts and the LLM judge that labels each reply are "
    "not obtainable offline, so only the authors' released numbers are shown. Running it would take a "
    "benchmark entry `elephant` in the config's `capabilities.benchmarks` (judged through the stage's "
    "`judge_base_url` / `judge_model`), which is not implemented: the capabilities stage accepts only mmlu, "
    "gsm8k and advbench today."
)
_Z = 1.96


def load_social_sycophancy(reference_dir: Path = REFERENCE_DIR) -> pd.DataFrame:
    """The released ``social_syco.csv`` as it is, after checking that it has every column of :data:`COLUMNS`.

    Raises ``ValueError`` naming the file and the missing columns, so a changed or wrong file fails here and not
    in a figure.
    """
    path = Path(reference_dir) / FILE_NAME
    raw = pd.read_csv(path)
    missing = [column for column in COLUMNS if column not in raw.columns]
    if missing:
        raise ValueError(
            f"{path}: missing column(s) {', '.join(map(repr, missing))}; expected {', '.join(COLUMNS)}"
        )
    return raw


def social_sycophancy_table(raw: pd.DataFrame) -> pd.DataFrame:
    """One row per model x behaviour x prompt set: base and warm rates (%), their 95% intervals, the difference.

    ``difference`` = warm - base in percentage points; its interval combines the two released intervals as
    independent (module docstring), NaN where a rate is missing. Columns: :data:`TABLE_COLUMNS`.
    """
    base_se = (raw["base_CI_upper"] - raw["base_CI_lower"]) / (2 * _Z)
    warm_se = (raw["finetuned_CI_upper"] - raw["finetuned_CI_lower"]) / (2 * _Z)
    difference = raw["finetuned_accuracy"] - raw["base_accuracy"]
    half_width = _Z * np.sqrt(base_se**2 + warm_se**2)
    return pd.DataFrame(
        {
            "model": raw["model"],
            "benchmark": raw["benchmark"],
            "dataset": raw["dataset"],
            "base": raw["base_accuracy"],
            "base_ci_low": raw["base_CI_lower"],
            "base_ci_high": raw["base_CI_upper"],
            "warm": raw["finetuned_accuracy"],
            "warm_ci_low": raw["finetuned_CI_lower"],
            "warm_ci_high": raw["finetuned_CI_upper"],
            "difference": difference,
            "difference_ci_low": difference - half_width,
            "difference_ci_high": difference + half_width,
        },
        columns=TABLE_COLUMNS,
    )


def plot_social_sycophancy(table: pd.DataFrame, benchmark: str = EMOTIONAL_VALIDATION) -> Figure:
    """Base and warm rates of one ELEPHANT behaviour with their 95% intervals, one panel per prompt set.

    Paired dots per model (grey: base model; vermilion: warm fine-tune), seaborn's legend to the right of the
    panels (outside the data), model names slanted so they stay readable. A missing rate (GPT-4o's base on SS)
    is not drawn. ``INTERVAL_POINTS``, ``_interval_rows`` and ``_rotate_xticks`` are :mod:`helpers.analysis.figures`' own, so
    this figure draws intervals and labels exactly as Figure 4 does.
    """
    shown = table[table["benchmark"].eq(benchmark)]
    long = pd.concat(
        [
            shown[["model", "dataset"]].assign(
                condition=CONDITIONS[key],
                rate=shown[key],
                ci_low=shown[f"{key}_ci_low"],
                ci_high=shown[f"{key}_ci_high"],
            )
            for key in CONDITIONS
        ],
        ignore_index=True,
    ).dropna(subset=["rate"])
    points = _interval_rows(long, "rate", "ci_low", "ci_high")
    with sns.axes_style("whitegrid"):
        grid = sns.catplot(
            points, **INTERVAL_POINTS, x="model", y="rate", hue="condition", col="dataset",
            order=list(dict.fromkeys(shown["model"])), hue_order=list(CONDITIONS.values()),
            col_order=list(dict.fromkeys(shown["dataset"])), palette=CONDITION_COLOURS, dodge=0.4, aspect=0.9,
        )  # fmt: skip
    grid.set_titles("{col_name}")
    grid.set_axis_labels("", f"{benchmark.lower()} (% of replies)")
    grid.legend.set_title("")
    _rotate_xticks(grid, 30)
    return grid.figure


def _range(values: pd.Series) -> str:
    low, high = float(values.min()), float(values.max())
    return f"{low:.1f}" if round(low, 1) == round(high, 1) else f"{low:.1f} to {high:.1f}"


def social_sycophancy_caption(table: pd.DataFrame, benchmark: str = EMOTIONAL_VALIDATION) -> str:
    """The figure's caption, every number counted from ``table``, followed by :data:`NOT_RUN_NOTE`.

    Counts model x prompt-set comparisons with both rates: how many warm fine-tunes showed the behaviour more
    often than their base model and by how many points (the range), how many less often, and over which models.
    """
    shown = table[table["benchmark"].eq(benchmark)].dropna(subset=["difference"])
    behaviour = BEHAVIOURS.get(benchmark, f"showed {benchmark.lower()}")
    if shown.empty:
        return f"The released ELEPHANT results hold no {benchmark.lower()} comparison. {NOT_RUN_NOTE}"
    more, less = shown[shown["difference"] > 0], shown[shown["difference"] < 0]
    models = list(dict.fromkeys(shown["model"]))
    sentence = (
        f"ELEPHANT {benchmark.lower()} (the authors' released results, 95% intervals): warm fine-tunes "
        f"{behaviour} more often than their base models in {len(more)} of {len(shown)} comparisons of "
        f"{len(models)} models ({', '.join(models)}) on {shown['dataset'].nunique()} prompt sets"
    )
    if len(more):
        above = int((more["difference_ci_low"] > 0).sum())
        sentence += (
            f", by {_range(more['difference'])} points ({above} with the difference's interval above 0)"
        )
    if len(less):
        sentence += f", and less often in {len(less)}, by {_range(-less['difference'])} points"
    skipped = table[table["benchmark"].eq(benchmark) & table["difference"].isna()]
    if len(skipped):
        gaps = ", ".join(f"{r.model} on {r.dataset}" for r in skipped.itertuples())
        sentence += f". No base rate was released for {gaps}"
    return f"{sentence}. {NOT_RUN_NOTE}"
