"""Evaluation items and benchmarks, loaded from the bundled files under ``data/`` (or the Hugging Face hub).

The paper (Ibrahim, Hafner & Rocher, Nature 2026, Methods; docs/study.md §4) evaluates open-ended answers on
four tasks: 500 TriviaQA and 500 TruthfulQA questions, all 125 MASK disinformation items and 500 MedQA
vignettes rephrased in the first person with the options hidden. Each item carries a gold answer and a wrong
answer, because the sycophancy conditions put an incorrect belief in the user's mouth (paper, Methods;
docs/study.md §5). The authors released their exact TriviaQA/TruthfulQA/Disinfo items (``data/paper_items``) but not
their MedQA sample or most of its first-person conversions, so MedQA items are rebuilt here from the public
test split with a documented rule (:func:`to_first_person`), using the authors' own conversion wherever one
was released (``data/paper_items/medqa_examples.csv``).

The capability checks (paper, Methods; docs/study.md §7) use MMLU, GSM8K and AdvBench; their loaders are at the
end of this module. Every sample is seeded, and ``item_id`` is derived from the position in the source file,
so a result row can always be traced back to its question.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from helpers.paths import DATA_DIR
from helpers.validation import ParameterError, check_choice, check_positive_int, check_seed
from helpers.vocabulary import TASKS

SOURCES = ("bundled", "hub")

# Hub datasets used when ``source="hub"``. TriviaQA and Disinfo are missing on purpose: the paper's wrong
# answers (TriviaQA) and the false statements (Disinfo, ``ground_false``) were written by the authors and exist
# only in their released item lists, and MASK itself is gated on the hub.
HUB_DATASETS = {
    "truthfulqa": ("truthfulqa/truthful_qa", "generation", "validation"),
    "medqa": ("GBaker/MedQA-USMLE-4-options", None, "test"),
}

T = TypeVar("T")


@dataclass(frozen=True)
class Item:
    """One evaluation question with the gold answer and the wrong answer used for the user-belief prompts.

    ``question`` is the text put into every prompt except MedQA ``original``, which uses ``original_question``
    (the unconverted vignette, as in the authors' prompts; MANIFEST "Prompt assembly"). For the other tasks
    the two are equal. ``extra`` keeps task-specific source fields (content_key, options, ...).
    """

    task: str
    item_id: str
    question: str
    correct_answer: str
    incorrect_answer: str
    original_question: str
    extra: dict[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class MMLUQuestion:
    """One MMLU multiple-choice question (Hendrycks et al. 2021); ``answer`` is the letter A-D."""

    subject: str
    question: str
    choices: tuple[str, str, str, str]
    answer: str


@dataclass(frozen=True)
class GSM8KProblem:
    """One GSM8K word problem; ``answer`` is the final number after ``####`` in the worked solution."""

    question: str
    answer: int


@dataclass(frozen=True)
class AdvBenchGoal:
    """One AdvBench harmful request (Zou et al. 2023); a safe model refuses it."""

    goal: str


# --------------------------------------------------------------------------------------------------------------
# Sampling and validation


def seeded_sample(rows: Sequence[T], n_items: int | None, seed: int) -> list[T]:
    """A seeded sample without replacement, in source order.

    The sample is the first ``n_items`` of one seeded permutation, so a larger ``n_items`` with the same seed
    only adds items: a pilot run on 50 questions is a subset of the full run on 500. ``n_items`` is a cap, as in
    the paper (500 per task, and all 125 of Disinfo): a task with fewer items contributes all of them.
    """
    check_seed(seed)
    if n_items is not None:
        check_positive_int("n_items", n_items)
    if n_items is None or n_items >= len(rows):
        return list(rows)
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    return [rows[i] for i in sorted(order[:n_items])]


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _read_csv(path: Path) -> pd.DataFrame:
    # keep_default_na=False: answers such as "None" or "N/A" are strings, not missing values (MANIFEST).
    return pd.read_csv(path, dtype=str, keep_default_na=False)


# --------------------------------------------------------------------------------------------------------------
# MedQA first-person conversion

_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
}
_MALE = {"man", "boy", "male", "gentleman", "father", "husband", "son", "businessman", "schoolboy"}
_FEMALE = {
    "woman", "girl", "female", "lady", "mother", "wife", "daughter", "businesswoman", "schoolgirl",
    "primigravida", "multigravida", "nulligravida", "gravida", "primigravid", "pregnant",
}  # fmt: skip
_CHILD = {"boy", "girl", "child", "infant", "newborn", "neonate", "toddler", "baby", "schoolboy", "schoolgirl"}  # fmt: skip
# Nouns that can head the patient's noun phrase ("A 21-year-old college | student | comes ..."); a stem whose
# opener has none of them (or no G<n>P<n> code) is left unconverted rather than guessed.
_HEADS = _MALE | _FEMALE | _CHILD | {
    "patient", "person", "adult", "adolescent", "teenager", "teen", "student", "nurse", "executive", "worker",
    "driver", "player", "mechanic", "fisherman", "zookeeper", "anthropologist", "immigrant", "refugee",
    "soldier", "recruit", "athlete", "veteran", "runner", "nullipara", "nulligravid", "primipara", "multipara",
}  # fmt: skip
# Words that end the noun phrase: the verbs, prepositions and conjunctions that follow it in MedQA openers.
_PHRASE_END = {
    "is", "was", "presents", "presented", "comes", "came", "arrives", "visits", "has", "had", "develops",
    "returns", "undergoes", "seeks", "reports", "complains", "with", "who", "that", "from", "at", "in", "on",
    "after", "during", "because", "being", "goes", "calls", "consults", "attends", "schedules", "describes",
    "experiences", "collapses", "dies", "receives", "gives", "delivers", "wants", "asks", "requests", "of",
    "and", "or", "his", "her", "their", "whose", "to",
}  # fmt: skip
_OPENER = re.compile(
    r"^\s*An? (?P<pre>(?:[a-z-]+,? ){0,2}?)(?P<age>\d+|[a-z]+)[- ](?P<unit>year|month|week|day)s?[- ]old"
    r"(?P<rest>[ -].*)$",
    re.DOTALL,
)
_WHICH = re.compile(r"\b[Ww]hich (?:one )?of the following\b")
# Nouns that say no more than the relation does; any other descriptor is kept as an apposition.
_BARE_NOUNS = {
    "man", "woman", "male", "female", "boy", "girl", "patient", "gentleman", "lady", "person", "child", "infant",
    "newborn", "neonate", "baby", "toddler", "teenager", "adolescent",
}  # fmt: skip


def _relation(sex: str | None, age_years: float, child_noun: bool) -> str:
    if child_noun or age_years < 18:
        return {"male": "son", "female": "daughter"}.get(sex or "", "child")
    if sex is None:
        return "friend"
    band = 0 if age_years < 25 else 1 if age_years < 60 else 2
    return (("brother", "husband", "father"), ("sister", "wife", "mother"))[sex == "female"][band]


def _sex_from_pronouns(text: str) -> str | None:
    male = re.search(r"\b(?:he|his|him)\b", text, re.IGNORECASE)
    female = re.search(r"\b(?:she|her|hers)\b", text, re.IGNORECASE)
    if male and (not female or male.start() < female.start()):
        return "male"
    return "female" if female else None


def _is_head(word: str) -> bool:
    return word.lower() in _HEADS or re.fullmatch(r"g\d+-?p\d+", word.lower()) is not None


def _split_noun_phrase(rest: str) -> tuple[str, str] | None:
    """Split "<descriptors> <noun> <rest of the stem>" into the noun phrase and the rest.

    The noun is the last person noun (``_HEADS``) among the first six words before a phrase-ending word, with
    any number right after it ("gravida 1"). ``None`` when there is no such noun: the opener is then left
    unconverted rather than guessed.
    """
    head_end: int | None = None
    position = 0
    for count, match in enumerate(re.finditer(r"[ -]([^\s,;:.]+)", rest)):
        word = match.group(1)
        if match.start() != position or count == 6 or word.lower() in _PHRASE_END:
            if count == 0 and word.lower() in _PHRASE_END:
                return "", rest  # "A 45-year-old with ..." (no noun): convert, sex from the pronouns
            break
        if _is_head(word) or (head_end == position and word.isdigit()):
            head_end = match.end()
        position = match.end()
    return None if head_end is None else (rest[1:head_end], rest[head_end:])


def to_first_person(stem: str) -> str:
    """Reword a MedQA vignette as a question about the user's relative, the way the paper's prompts do.

    The paper (Methods; docs/study.md §4) had GPT-4o rewrite each vignette in the first person ("A 21-year-old
    college student comes to..." -> "My brother, 21, comes to..."; "Which of the following is..." -> "what
    is..."). Only 19 of those conversions were released, so the others are rebuilt with this rule:

    - an opening "A(n) [up to two adjectives] <age>-<unit>-old <descriptors> <noun>" becomes "My <relation>,
      <age>,". Descriptors beyond a bare "man"/"woman"/"patient" are kept as an apposition ("My brother, 21,
      a college student, comes to"): GPT-4o dropped them, losing facts such as "G2P1" or "obese" that an
      answer can depend on, and we prefer to keep every clinical fact;
    - the relation follows sex and age: son/daughter (under 18, or a child noun), brother/sister (18-24),
      husband/wife (25-59), father/mother (60+), "friend" (adult of unknown sex) or "child". Sex comes from
      the noun ("man", "woman", "G2P1", "primigravida", ...) or, failing that, from the first he/she pronoun.
      These bands reproduce every relation in the released conversions (husband/wife included, which the
      authors used for most adults);
    - every "which of the following" becomes "what" (lower case, as the authors wrote it);
    - pronouns and "the patient" are left alone: the vignette stays in the third person about the relative,
      which is what the authors' conversions do ("My brother, 21, comes ... He has problems ...").

    What it cannot do: it keeps the verb GPT-4o often dropped ("My wife, 52, presents to" where the authors
    have "My wife, 52, to"), so it matches the released conversions exactly only where GPT-4o kept it; it
    leaves vignettes that do not open with an age (research designs, "A newborn is...", "A mother brings her
    6-year-old...") in the third person apart from the final question; it cannot rephrase freely, fix
    grammar, or notice when a stem describes a clinician rather than a patient; and "what" can read oddly
    where "which of the following" was followed by a plural noun. The function is deterministic.
    """
    text = stem.strip()
    opener = _OPENER.match(text)
    split = _split_noun_phrase(opener.group("rest")) if opener else None
    age_word = opener.group("age") if opener else ""
    age = int(age_word) if age_word.isdigit() else _NUMBER_WORDS.get(age_word.lower())
    if opener and split and age is not None:
        noun_phrase, remainder = split
        descriptor = " ".join(part for part in (opener.group("pre").strip(" ,"), noun_phrase) if part)
        words = set(re.split(r"[\s,-]+", descriptor.lower())) - {""}
        sex = (
            "male"
            if _MALE & words
            else "female"
            if _FEMALE & words or any(re.fullmatch(r"g\d+p\d+", w) for w in words)
            else _sex_from_pronouns(text)
        )
        unit = opener.group("unit")
        relation = _relation(sex, age if unit == "year" else 0, bool(_CHILD & words))
        parts = [
            f"My {relation}",
            str(age) if unit == "year" else f"{age} {unit}{'s' if age != 1 else ''} old",
        ]
        if words and not words <= _BARE_NOUNS:
            parts.append(f"{'an' if descriptor[0].lower() in 'aeiou' else 'a'} {descriptor}")
        text = ", ".join(parts) + ("" if remainder.startswith(",") else ",") + remainder
    return _WHICH.sub("what", text)


# --------------------------------------------------------------------------------------------------------------
# Task items


@cache
def _medqa_examples() -> dict[str, tuple[str, str]]:
    """The authors' first-person conversions, keyed by MedQA stem: (question, wrong_answer)."""
    frame = _read_csv(DATA_DIR / "paper_items" / "medqa_examples.csv")
    return {row.original_question: (row.question, row.wrong_answer) for row in frame.itertuples()}


def _medqa_item(row: dict[str, Any], item_id: str, index: int, seed: int) -> Item:
    stem, gold = row["question"], row["answer"]
    authors = _medqa_examples().get(stem)
    if authors:
        question, wrong, conversion = authors[0], authors[1], "authors"
    else:
        distractors = sorted(k for k, v in row["options"].items() if k != row["answer_idx"] and v != gold)
        # Seeded per item, so an item's distractor does not depend on which other items were sampled.
        letter = random.Random(f"medqa-distractor|{seed}|{index}").choice(distractors)
        question, wrong, conversion = to_first_person(stem), row["options"][letter], "rule"
    extra = {
        "options": dict(row["options"]),
        "answer_idx": row["answer_idx"],
        "meta_info": row.get("meta_info", ""),
        "conversion": conversion,
    }
    return Item("medqa", item_id, question, gold, wrong, stem, extra)


def _paper_item(task: str, item_id: str, row: dict[str, Any]) -> Item:
    if task == "disinfo":
        question = row["prompt_disinfo"]
        extra = {"belief_elicit_1": row["belief_elicit_1"], "proposition": row["proposition"]}
        return Item(task, item_id, question, row["ground_truth"], row["ground_false"], question, extra)
    question = row["question"]
    extra = {"content_key": row["content_key"]}
    return Item(task, item_id, question, row["correct_answer"], row["incorrect_answer"], question, extra)


def _bundled_rows(task: str) -> list[dict[str, Any]]:
    if task == "medqa":
        return _read_jsonl(DATA_DIR / "medqa" / "test.jsonl")
    return _read_jsonl(DATA_DIR / "paper_items" / f"{task}.jsonl")


def _hub_rows(task: str) -> list[dict[str, Any]]:
    if task not in HUB_DATASETS:
        raise ParameterError(
            "source",
            "hub",
            f"'bundled' for task {task!r}: the paper's {task} items (with the authors' wrong answers) exist only "
            "in data/paper_items; the hub offers task(s) " + ", ".join(repr(t) for t in HUB_DATASETS),
        )
    from datasets import load_dataset

    name, config, split = HUB_DATASETS[task]
    try:
        rows = list(load_dataset(name, config, split=split))
    except Exception as error:  # network, authentication or schema errors all mean the same to the user
        raise RuntimeError(f"Could not load task {task!r} from the hub dataset {name!r}: {error}") from error
    if task == "truthfulqa":
        # Not the paper's items: TruthfulQA's best answer and its first listed incorrect answer.
        return [
            {"question": r["question"], "content_key": r["question"], "correct_answer": r["best_answer"],
             "incorrect_answer": r["incorrect_answers"][0]}
            for r in rows
        ]  # fmt: skip
    return rows


def load_items(task: str, n_items: int | None = None, seed: int = 0, source: str = "bundled") -> list[Item]:
    """Load a seeded sample of one task's evaluation items (paper, Methods; docs/study.md §4).

    ``n_items=None`` gives every item: the paper's 500 TriviaQA, 500 TruthfulQA and 125 Disinfo questions, or
    all 1,273 MedQA test vignettes (the paper sampled 500 of them; that sample was not released, so use
    ``n_items=500``). ``item_id`` is ``<task>-<index in the source file>`` (``<task>-hub-<index>`` for hub
    rows), stable across samples and seeds. ``source="hub"`` downloads TruthfulQA or MedQA (4-option
    version) instead; TriviaQA and Disinfo need the authors' item lists and are bundled only.
    """
    check_choice("task", task, TASKS)
    check_choice("source", source, SOURCES)
    check_seed(seed)
    if n_items is not None:
        check_positive_int("n_items", n_items)  # before any download
    rows = _bundled_rows(task) if source == "bundled" else _hub_rows(task)
    prefix = task if source == "bundled" else f"{task}-hub"
    chosen = seeded_sample(list(enumerate(rows)), n_items, seed)
    if task == "medqa":
        return [_medqa_item(row, f"{prefix}-{i:04d}", i, seed) for i, row in chosen]
    return [_paper_item(task, f"{prefix}-{i:04d}", row) for i, row in chosen]


@cache
def _contexts_file() -> dict[str, Any]:
    return json.loads((DATA_DIR / "paper_items" / "contexts.json").read_text(encoding="utf-8"))


def load_contexts() -> dict[str, list[str]]:
    """The paper's 40 interpersonal context statements: 8 sub-conditions x 5 (paper, Methods; docs/study.md §5).

    Keys are the amendment types (``emotion:happy`` ... ``stake:low``); a fresh copy is returned each time.
    """
    return {key: list(values) for key, values in _contexts_file()["contexts"].items()}


def load_neutral_prefix() -> str:
    """The "friends" sentence that opens ``original_neutral`` and the user-belief prompts (paper, Methods)."""
    return str(_contexts_file()["neutral_prefix"])


# --------------------------------------------------------------------------------------------------------------
# Capability benchmarks (paper, Methods; docs/study.md §7)


def load_mmlu(n_items: int | None = None, seed: int = 0) -> list[MMLUQuestion]:
    """A seeded sample of the MMLU test split (14,042 questions, 57 subjects), zero-shot as in the paper."""
    frame = _read_csv(DATA_DIR / "mmlu" / "test.csv")
    rows = [
        MMLUQuestion(r.subject, r.question, (r.A, r.B, r.C, r.D), r.answer)
        for r in frame.itertuples(index=False)
    ]
    return seeded_sample(rows, n_items, seed)


def load_gsm8k(n_items: int | None = None, seed: int = 0) -> list[GSM8KProblem]:
    """A seeded sample of the GSM8K test split (1,319 problems); the gold number follows ``####``."""
    rows = [
        GSM8KProblem(r["question"], int(r["answer"].rsplit("####", 1)[1].strip().replace(",", "")))
        for r in _read_jsonl(DATA_DIR / "gsm8k" / "test.jsonl")
    ]
    return seeded_sample(rows, n_items, seed)


def load_advbench(n_items: int | None = None, seed: int = 0) -> list[AdvBenchGoal]:
    """A seeded sample of AdvBench's 520 harmful behaviours (the paper uses all 520 for the refusal rate)."""
    frame = _read_csv(DATA_DIR / "advbench" / "harmful_behaviors.csv")
    return seeded_sample([AdvBenchGoal(goal) for goal in frame["goal"]], n_items, seed)
