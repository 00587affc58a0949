"""How far the rule scorer agrees with the paper's GPT-4o judge, on the authors' labelled sample outputs.

The authors released, per model, 20 scored outputs per task and variant (``sample_data/<model>/<variant>/
<task>_<variant>_outputs.csv``; bundled for Qwen-2.5-32B under ``data/reference/sample_outputs/qwen_32b``,
data/MANIFEST.md). Each row carries the GPT-4o verdict in ``evaluation``. :func:`labelled_samples` turns such a
folder into evaluation rows with the answers and the prompt the scorer needs; :func:`scorer_agreement` rescores
them with ``score_rule`` and reports, per task, the share of agreeing verdicts, the majority-class baseline (the
share of the commonest GPT-4o label: what "always say that label" would score) and Cohen's kappa, which is 0
for a scorer no better than chance and 1 for full agreement. Agreement alone flatters a scorer when one label
dominates (Disinfo is 95% CORRECT), which is why the baseline and kappa stand next to it.

:func:`sample_half` fixes a split of the samples into two halves by question, so that thresholds can be chosen
on one half and checked on the other (``tests/test_scorer_check.py``).

Those samples are the answers the rules were written against, so agreement on them is in-sample. The second,
out-of-sample set is drawn from the demo's own SmolLM2-135M answers by :func:`draw_validation_sample` and
labelled blind to the rule scorer (``data/scorer_validation/smollm2_demo``, its ``GUIDE.md`` says how and by
whom; :func:`validation_rows` loads it). :func:`agreement_by_set` measures the scorer on both sets, and
:func:`interpretable_tasks` names the tasks where it beats the majority baseline out of sample: the only tasks
whose rule-scored demo numbers the analysis can read (docs/design.md, "Rule scorer, validated out of sample").
"""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from statsmodels.stats.inter_rater import cohens_kappa

from helpers.evaluation.items import Item, load_items
from helpers.evaluation.prompts import build_prompt
from helpers.evaluation.scoring import score_answers
from helpers.paths import DATA_DIR, REPO_ROOT
from helpers.validation import ParameterError, check_positive_int
from helpers.vocabulary import CORRECT, INCORRECT, TASKS

SAMPLE_DIR = DATA_DIR / "reference" / "sample_outputs"
VALIDATION_DIR = DATA_DIR / "scorer_validation" / "smollm2_demo"
#: The demo's answer table: one row per prompt pair, one answer column per variant (``notebooks/answers.ipynb``).
DEMO_ANSWERS = REPO_ROOT / "snapshots" / "demo" / "figures" / "answers.csv"
DEMO_VARIANTS = ("original", "warm", "cold", "warm_prompt")
#: Columns of the blind labelling sheet: no verdict of the rule scorer, so the labels cannot lean on it.
VALIDATION_COLUMNS = [
    "label_id", "task", "item_id", "variant", "prompt_template", "amendment_type", "question",
    "correct_answer", "incorrect_answer", "options", "prompt", "answer",
]  # fmt: skip
VARIANTS = ("original", "warm")
AGREEMENT_COLUMNS = ["task", "n", "agreement", "baseline", "kappa", "beats_baseline"]
#: The two labelled sets the page compares: the one the rules were written on, and the one labelled after them.
LABELLED_SETS = {
    "qwen32b_gpt4o": "Qwen-2.5-32B answers, the authors' GPT-4o labels (in sample: the rules were written on them)",
    "smollm2_demo": "SmolLM2-135M demo answers, blind labels (out of sample)",
}
OUT_OF_SAMPLE = "smollm2_demo"
#: Per task: the column naming the question, the template column and the answer columns of the original file.
_FIELDS = {
    "trivia": ("content_key", "prompt_template", ("correct_answer", "incorrect_answer")),
    "truthfulqa": ("content_key", "prompt_template", ("correct_answer", "incorrect_answer")),
    "disinfo": ("prompt_disinfo", "prompt_template", ("ground_truth", "ground_false")),
    "medqa": ("original_question", "prompt_type", ("answer", "wrong_answer")),
}


def _read(path: Path) -> pd.DataFrame:
    # keep_default_na=False: TruthfulQA answers such as "None" and "N/A" are literal strings (data/MANIFEST.md).
    return pd.read_csv(path, keep_default_na=False, na_values=[])


def _answers(task: str, original: pd.DataFrame) -> pd.DataFrame:
    """One row per question with ``question, correct_answer, incorrect_answer, original_question[, options]``.

    TriviaQA / TruthfulQA answers come from the bundled items, because the sample CSVs lost the literal answer
    "None" to an empty cell (the items match the samples on every other answer, data/MANIFEST.md). Disinfo
    pairs come from the original file first (MASK repeats three questions with different propositions), then
    the items; MedQA answers, options and the first-person question come from the original file.
    """
    key = _FIELDS[task][0]
    if task in ("trivia", "truthfulqa"):
        items = load_items(task)
        return pd.DataFrame(
            {
                key: [item.extra["content_key"] for item in items],
                "question": [item.question for item in items],
                "correct_answer": [item.correct_answer for item in items],
                "incorrect_answer": [item.incorrect_answer for item in items],
                "original_question": [item.original_question for item in items],
            }
        ).drop_duplicates(key)
    if task == "disinfo":
        items = load_items(task)
        bundled = pd.DataFrame(
            {
                key: [item.question for item in items],
                "ground_truth": [item.correct_answer for item in items],
                "ground_false": [item.incorrect_answer for item in items],
            }
        )
        pairs = pd.concat([original[[key, "ground_truth", "ground_false"]], bundled]).drop_duplicates(key)
        return pairs.assign(question=pairs[key], original_question=pairs[key]).rename(
            columns={"ground_truth": "correct_answer", "ground_false": "incorrect_answer"}
        )
    answers = original.drop_duplicates(key)[[key, "question", "answer", "wrong_answer", "options"]]
    return answers.assign(
        original_question=answers[key],
        options=answers["options"].map(lambda text: json.dumps(ast.literal_eval(text))),
    ).rename(columns={"answer": "correct_answer", "wrong_answer": "incorrect_answer"})


def _rebuilt_prompt(task: str, row: pd.Series, template: str) -> str:
    """The prompt of a row the original file lacks, without its context statement (unknown for warm rows).

    Everything the scorer reads in a prompt is there: the question and the user's stated belief.
    """
    item = Item(
        task,
        "sample",
        row["question"],
        row["correct_answer"],
        row["incorrect_answer"],
        row["original_question"],
    )
    return build_prompt(item, template, "unmodified", "")


def labelled_samples(folders: Sequence[Path] | None = None) -> pd.DataFrame:
    """The authors' GPT-4o-scored sample outputs of every model folder, as rows ``score_answers`` can score.

    ``folders`` are model folders in the authors' ``sample_data/`` layout (``<folder>/<variant>/<task>_<variant>_
    outputs.csv``; default: every folder under ``data/reference/sample_outputs``). Columns: ``model`` (the folder
    name), ``variant``, ``task``, ``item_key`` (the question the split is made on), ``question``,
    ``correct_answer``, ``incorrect_answer``, ``options`` (MedQA), ``prompt_template``, ``amendment_type``,
    ``prompt``, ``output`` and ``evaluation`` (GPT-4o's verdict).

    Warm files keep only the question, template, context and output. The authors' eval files hold one prompt per
    (question, template, context) (data/MANIFEST.md), so a warm row takes the prompt of the original row with the
    same three; the few without one get the prompt rebuilt without its context statement.
    """
    folders = sorted(p for p in SAMPLE_DIR.iterdir() if p.is_dir()) if folders is None else list(folders)
    if not folders:
        raise ParameterError(
            "folders", folders, "at least one model folder in the authors' sample_data layout"
        )
    frames = []
    for folder in map(Path, folders):
        for task, (key, template, _) in _FIELDS.items():
            paths = {v: folder / v / f"{task}_{v}_outputs.csv" for v in VARIANTS}
            missing = [str(path) for path in paths.values() if not path.is_file()]
            if missing:
                raise ParameterError("folders", str(folder), f"a folder holding {missing[0]}")
            original = _read(paths["original"])
            answers = _answers(task, original)
            prompts = original[[key, template, "amendment_type", "prompt"]]
            for variant, path in paths.items():
                raw = _read(path)[[key, template, "amendment_type", "output", "evaluation"]]
                rows = raw.merge(answers, on=key, how="left").merge(
                    prompts, on=[key, template, "amendment_type"], how="left"
                )
                if rows["correct_answer"].isna().any():
                    unknown = rows.loc[rows["correct_answer"].isna(), key].iloc[0]
                    raise ParameterError(
                        "folders", str(folder), f"samples whose questions are known; {unknown!r} is not"
                    )
                rows["prompt"] = [
                    prompt if isinstance(prompt, str) else _rebuilt_prompt(task, row, row[template])
                    for prompt, (_, row) in zip(rows["prompt"], rows.iterrows(), strict=True)
                ]
                frames.append(
                    rows.rename(columns={key: "item_key", template: "prompt_template"}).assign(
                        model=folder.name,
                        variant=variant,
                        task=task,
                        evaluation=rows["evaluation"].str.strip(),
                    )
                )
    columns = [
        "model", "variant", "task", "item_key", "question", "correct_answer", "incorrect_answer", "options",
        "prompt_template", "amendment_type", "prompt", "output", "evaluation",
    ]  # fmt: skip
    return pd.concat(frames, ignore_index=True).reindex(columns=columns)


def sample_half(keys: Sequence[str]) -> np.ndarray:
    """0 or 1 for each question: the parity of the first byte of the SHA-256 of its text.

    Fixed before any agreement was computed; splitting by question keeps a question's original and warm rows
    (and its templates) in the same half, so the held-out half holds questions the thresholds never saw.
    """
    return np.array([hashlib.sha256(str(key).encode()).digest()[0] % 2 for key in keys])


def validation_rows(folder: Path = VALIDATION_DIR) -> pd.DataFrame:
    """The blind-labelled validation answers as evaluation rows :func:`scorer_agreement` can score.

    Joins ``answers.csv`` and ``labels.csv`` of ``folder`` on ``label_id``; the labeller's verdict becomes
    ``evaluation`` (as GPT-4o's does in :func:`labelled_samples`), the answer ``output``, and ``refusal`` a bool.
    Every answer must carry exactly one label, so a half-labelled set cannot be measured by mistake.
    """
    answers, labels = _read(Path(folder) / "answers.csv"), _read(Path(folder) / "labels.csv")
    if sorted(answers["label_id"]) != sorted(labels["label_id"]) or labels["label_id"].duplicated().any():
        raise ParameterError("folder", str(folder), "answers.csv and labels.csv with one label per answer")
    rows = answers.merge(labels, on="label_id", validate="one_to_one")
    return rows.rename(columns={"answer": "output", "label": "evaluation"}).assign(
        refusal=rows["refusal"].astype(str).str.lower() == "true"
    )


def draw_validation_sample(answers: pd.DataFrame, per_task: int = 60, seed: int = 0) -> pd.DataFrame:
    """A seeded sample of ``per_task`` answers per task from the demo's wide answer table, for blind labelling.

    Why: the rules were written against the authors' Qwen-32B samples, so agreement there is in-sample; a set
    labelled afterwards, on another model's answers, says whether they generalise. ``answers`` is the table of
    ``notebooks/answers.ipynb`` (one row per prompt pair, ``<variant>_answer`` columns; :data:`DEMO_ANSWERS`).
    The sample is stratified by variant, then prompt template, then amendment type (:func:`_stratified`), so
    every variant and template is equally represented. Rows come out shuffled within each task (the labeller does not read one variant in a
    block) with ``label_id`` ``<task>-<nnn>`` and the columns :data:`VALIDATION_COLUMNS`; the ``*_verdict``
    columns are left out, so the labels stay blind to the rule scorer. MedQA rows carry their options (JSON)
    from the bundled items, which the scorer reads when an answer names an option by letter.
    """
    check_positive_int("per_task", per_task)
    rng = np.random.default_rng(seed)
    keys = ["task", "item_id", "prompt_template", "amendment_type", "question", "correct_answer",
            "incorrect_answer", "prompt"]  # fmt: skip
    long = pd.concat(
        [answers[keys].assign(variant=v, answer=answers[f"{v}_answer"]) for v in DEMO_VARIANTS],
        ignore_index=True,
    )
    options = {item.item_id: json.dumps(item.extra["options"]) for item in load_items("medqa")}
    frames = []
    for task in [t for t in TASKS if t in set(long["task"])]:
        drawn = _stratified(long[long["task"] == task], ["variant", "prompt_template", "amendment_type"],
                            per_task, rng)  # fmt: skip
        drawn = drawn.sample(frac=1, random_state=int(rng.integers(2**31)))
        frames.append(
            drawn.assign(
                label_id=[f"{task}-{i:03d}" for i in range(len(drawn))],
                options=drawn["item_id"].map(options).fillna("") if task == "medqa" else "",
            )
        )
    return pd.concat(frames, ignore_index=True)[VALIDATION_COLUMNS]


def _stratified(rows: pd.DataFrame, levels: Sequence[str], n: int, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` rows split as evenly as possible over the values of ``levels[0]``, then within each over ``levels[1]``...

    A remainder goes, one row each, to a seeded choice of the values; the rows of the last level are drawn
    without replacement, seeded.
    """
    if not levels:
        return rows.sample(n=n, random_state=int(rng.integers(2**31)))
    values = sorted(rows[levels[0]].unique())
    sizes = np.full(len(values), n // len(values))
    sizes[rng.choice(len(values), n % len(values), replace=False)] += 1
    return pd.concat(
        [
            _stratified(rows[rows[levels[0]] == value], levels[1:], int(size), rng)
            for value, size in zip(values, sizes, strict=True)
        ]
    )


def cohen_kappa(reference: Sequence[str], scores: Sequence[str]) -> float:
    """Cohen's kappa of two CORRECT/INCORRECT label lists (statsmodels), NaN when it is undefined.

    Kappa = (p_o - p_e) / (1 - p_e) is undefined (0/0) when both raters give a single, identical label to every
    row, as on a Disinfo half where GPT-4o said CORRECT throughout.
    """
    labels = [CORRECT, INCORRECT]
    table = pd.crosstab(pd.Categorical(reference, labels), pd.Categorical(scores, labels), dropna=False)
    expected = (table.sum(axis=0) * table.sum(axis=1)).sum() / table.to_numpy().sum() ** 2
    return (
        float("nan")
        if np.isclose(expected, 1.0)
        else float(cohens_kappa(table.to_numpy(), return_results=False))
    )


def scorer_agreement(rows: pd.DataFrame) -> pd.DataFrame:
    """Per task: ``n``, ``agreement`` with the reference labels, ``baseline``, ``kappa`` and ``beats_baseline``.

    ``rows`` are evaluation rows whose ``evaluation`` holds the reference verdict (the authors' GPT-4o labels,
    as from :func:`labelled_samples`) with ``task, question, correct_answer, incorrect_answer, output`` and,
    for the echo rule, ``prompt``. The rows are rescored with the rule scorer (``score_answers`` without a
    judge). ``baseline`` is the share of the commonest reference label in the task; ``kappa`` is Cohen's kappa
    (:func:`cohen_kappa`, NaN when undefined). ``beats_baseline`` is ``agreement > baseline``: a scorer that
    says the commonest label every time ties the baseline and does not beat it, and where every reference label
    is the same (baseline 1) nothing can beat it, because such a set cannot show that the scorer tells the two
    labels apart. Tasks come in the order of ``helpers.vocabulary.TASKS``.
    """
    if rows.empty:
        raise ParameterError("rows", "an empty table", "labelled evaluation rows")
    labels = set(rows["evaluation"])
    if not labels <= {CORRECT, INCORRECT}:
        raise ParameterError(
            "rows['evaluation']", sorted(labels - {CORRECT, INCORRECT}), f"{CORRECT} or {INCORRECT}"
        )
    rescored = score_answers(rows.drop(columns=["evaluation"]))["evaluation"].to_numpy()
    reference = rows["evaluation"].to_numpy()
    result = []
    for task in [t for t in TASKS if t in set(rows["task"])]:
        mask = (rows["task"] == task).to_numpy()
        ref, rule = reference[mask], rescored[mask]
        agreement = float((ref == rule).mean())
        baseline = float(pd.Series(ref).value_counts(normalize=True).max())
        result.append(
            {
                "task": task,
                "n": int(mask.sum()),
                "agreement": agreement,
                "baseline": baseline,
                "kappa": cohen_kappa(ref, rule),
                "beats_baseline": bool(agreement > baseline and not np.isclose(agreement, baseline)),
            }
        )
    return pd.DataFrame(result, columns=AGREEMENT_COLUMNS)


def agreement_by_set(sets: Mapping[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """:func:`scorer_agreement` of each labelled set, stacked, with the set's name in a first column ``set``.

    ``sets`` maps a name to labelled rows (default: :data:`LABELLED_SETS`' two sets, the authors' Qwen-32B
    samples from :func:`labelled_samples` and the blind-labelled demo answers from :func:`validation_rows`).
    """
    if sets is None:
        sets = {"qwen32b_gpt4o": labelled_samples(), "smollm2_demo": validation_rows()}
    return pd.concat(
        [scorer_agreement(rows).assign(set=name) for name, rows in sets.items()], ignore_index=True
    ).reindex(columns=["set", *AGREEMENT_COLUMNS])


def interpretable_tasks(agreement: pd.DataFrame | None = None) -> list[str]:
    """The tasks whose rule-scored numbers can be read: the scorer beats the majority baseline out of sample.

    Why: in-sample agreement shows only that the rules fit the answers they were written on (docs/design.md,
    "Rule scorer, validated out of sample"); a task where, on answers labelled after the rules, the scorer does
    no better than always saying the commonest label gives accuracies that say nothing about the model. The
    analysis names the other tasks as not interpretable. ``agreement`` is :func:`scorer_agreement` of the
    out-of-sample set, or :func:`agreement_by_set`'s table (its :data:`OUT_OF_SAMPLE` rows are used); default:
    computed from :func:`validation_rows`. Tasks come in the order of ``helpers.vocabulary.TASKS``.
    """
    table = scorer_agreement(validation_rows()) if agreement is None else agreement
    if "set" in table.columns:
        table = table[table["set"] == OUT_OF_SAMPLE]
    beats = set(table.loc[table["beats_baseline"].astype(bool), "task"])
    return [task for task in TASKS if task in beats]


def _join(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def scorer_verdict(agreement: pd.DataFrame) -> str:
    """The page's verdict in a sentence or two, computed from :func:`scorer_agreement` of the out-of-sample set.

    It names the tasks where the scorer beats the majority baseline, the tasks where it does not (their demo
    numbers are not interpretable), and among those the ones whose labels are all the same, where no scorer
    could beat the baseline.
    """
    table = agreement[agreement["set"] == OUT_OF_SAMPLE] if "set" in agreement.columns else agreement
    good = interpretable_tasks(table)
    bad = [task for task in table["task"] if task not in good]
    constant = [task for task in bad if np.isclose(float(table.set_index("task").loc[task, "baseline"]), 1.0)]
    if not bad:
        return f"Out of sample the rule scorer beats the majority baseline on every task ({_join(good)})."
    sentence = (
        f"Out of sample the rule scorer beats the majority baseline on {_join(good)}; "
        if good
        else "Out of sample the rule scorer beats the majority baseline on no task; "
    )
    sentence += f"on {_join(bad)} it does not, so the demo's numbers for {'it' if len(bad) == 1 else 'them'} "
    sentence += "are not interpretable."
    if constant:
        sentence += (
            f" On {_join(constant)} every label is the same, so no scorer can beat the baseline there: the set"
            " cannot show whether the scorer tells the two labels apart."
        )
    return sentence
