"""The answers themselves: every evaluated prompt with the four variants' answers side by side.

Error rates say how often the warm model erred; only the answers show how. The paired design (paper, Methods;
docs/study.md) asks the same prompt of the original model, the warm and cold fine-tunes and the original model
with a warm system prompt, so the natural reading unit is one prompt with its four answers and their scores.
:func:`answers_side_by_side` builds that table from a study's evaluation rows and :func:`telling_examples`
picks, by fixed rules, the prompts that show the paper's claims (or their absence) in words.
"""

from __future__ import annotations

import html

import pandas as pd

from helpers.analysis.paired import PAIR_KEY
from helpers.evaluation.refusal import apply_refusal_rule
from helpers.vocabulary import BELIEF_TEMPLATES, VARIANTS, context_group

PROMPT_COLUMNS = [*PAIR_KEY, "question", "correct_answer", "incorrect_answer", "context_statement", "prompt"]
"""What identifies and describes a prompt: the paired key and the text every variant was asked."""

VERDICTS = ("correct", "incorrect", "refused", "unscored")
"""How each answer counted: ``refused`` answers are left out of the error rates on TriviaQA, TruthfulQA and
MedQA, and count as correct on Disinfo (paper, Methods; :func:`helpers.evaluation.refusal.apply_refusal_rule`);
``unscored`` answers have no verdict (a judge failure)."""

EXAMPLE_RULES = {
    "warm wrong where the original was right, sad user": lambda t: (
        t["original_verdict"].eq("correct")
        & t["warm_verdict"].eq("incorrect")
        & t["amendment_type"].eq("emotion:sad")
    ),
    "warm wrong where the original was right, incorrect user belief": lambda t: (
        t["original_verdict"].eq("correct") & t["warm_verdict"].eq("incorrect") & t["belief"]
    ),
    "warm wrong where the original was right, plain question": lambda t: (
        t["original_verdict"].eq("correct")
        & t["warm_verdict"].eq("incorrect")
        & t["amendment_type"].eq("unmodified")
        & ~t["belief"]
    ),
    "warm right where the original was wrong": lambda t: (
        t["original_verdict"].eq("incorrect") & t["warm_verdict"].eq("correct")
    ),
}
"""The rules that pick telling examples, in the order the page shows them. The first three are the paper's
three claims (a larger gap with sad users, with incorrect beliefs, and on plain questions); the last shows the
discordant pairs in the other direction, without which the examples would be a one-sided selection."""


def answer_verdicts(rows: pd.DataFrame) -> pd.Series:
    """Each evaluation row's verdict (one of :data:`VERDICTS`), by the paper's refusal rule."""
    scored = apply_refusal_rule(rows)
    verdict = pd.Series("unscored", index=rows.index, dtype=object)
    refused = pd.to_numeric(rows.get("refusal", 0), errors="coerce").fillna(0).astype(bool)
    verdict[rows["evaluation"].isin(["CORRECT", "INCORRECT"]) & refused] = "refused"
    verdict[scored.index] = scored["is_incorrect"].map({0: "correct", 1: "incorrect"})
    return verdict


def answers_side_by_side(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per prompt: the prompt, then ``<variant>_answer`` and ``<variant>_verdict`` for each variant.

    ``rows`` are evaluation rows of any number of variants (CONTRIBUTING.md, "Evaluation rows"); prompts are
    matched on the paired key ``(model, task, item_id, amendment_type, prompt_template)``. A variant without an
    answer to a prompt has an empty answer and verdict there. ``belief`` is True for the two templates stating an
    incorrect user belief, ``context_group`` is the paper's model-2 grouping. Rows are in the order
    task, item, context, template.
    """
    rows = rows.reset_index(drop=True)
    rows = rows.assign(verdict=answer_verdicts(rows))
    duplicated = rows.duplicated(["variant", *PAIR_KEY])
    if duplicated.any():
        first = rows.loc[duplicated, ["variant", *PAIR_KEY]].iloc[0].to_dict()
        raise ValueError(f"two evaluation rows answer the same prompt with the same variant: {first}")
    prompts = rows.drop_duplicates(PAIR_KEY)[PROMPT_COLUMNS].reset_index(drop=True)
    table = prompts
    for variant in [v for v in VARIANTS if rows["variant"].eq(v).any()]:
        answers = rows.loc[rows["variant"].eq(variant), [*PAIR_KEY, "output", "verdict"]].rename(
            columns={"output": f"{variant}_answer", "verdict": f"{variant}_verdict"}
        )
        table = table.merge(answers, on=PAIR_KEY, how="left")
    table.insert(
        table.columns.get_loc("amendment_type") + 1,
        "context_group",
        table["amendment_type"].map(context_group),
    )
    table.insert(
        table.columns.get_loc("prompt_template") + 1,
        "belief",
        table["prompt_template"].isin(BELIEF_TEMPLATES),
    )
    return table.sort_values(
        ["model", "task", "item_id", "amendment_type", "prompt_template"], ignore_index=True
    )


def telling_examples(table: pd.DataFrame, per_rule: int = 1) -> pd.DataFrame:
    """Up to ``per_rule`` prompts per rule of :data:`EXAMPLE_RULES`, with the rule's name in ``why``.

    ``table`` is :func:`answers_side_by_side`'s output and must hold the original and warm answers. Within a rule,
    prompts come in the table's order, so the same study always shows the same examples; a prompt already
    shown under an earlier rule is not repeated.
    """
    missing = {"original_verdict", "warm_verdict"} - set(table.columns)
    if missing:
        raise ValueError(
            f"telling examples compare the original and warm answers; the table lacks {sorted(missing)}"
        )
    chosen: list[pd.DataFrame] = []
    shown: set[int] = set()
    for why, rule in EXAMPLE_RULES.items():
        matches = table[rule(table) & ~table.index.isin(shown)].head(per_rule)
        shown.update(matches.index)
        chosen.append(matches.assign(why=why))
    examples = pd.concat(chosen)
    return examples[["why", *[c for c in examples.columns if c != "why"]]].reset_index(drop=True)


def reading_table(table: pd.DataFrame, max_chars: int | None = None) -> pd.DataFrame:
    """The side-by-side table as a reader searches it: short column names, each answer headed by its verdict.

    A ``model`` column appears when the study has several models. One column per variant reads ``[correct] <answer>``; ``max_chars`` (if given) shortens each answer with an
    ellipsis. The prompt column holds the full prompt the original model saw (the question with its context and
    belief); the warm system prompt of ``warm_prompt`` is the same for every prompt and is stated on the page.
    """
    variants = [v for v in VARIANTS if f"{v}_answer" in table.columns]

    def cell(answer: object, verdict: object) -> str:
        if pd.isna(verdict):
            return ""
        text = str(answer)
        if max_chars is not None and len(text) > max_chars:
            text = text[: max_chars - 1].rstrip() + "…"
        return f"[{verdict}] {text}"

    out = pd.DataFrame(
        {
            **({"model": table["model"]} if table["model"].nunique() > 1 else {}),
            "task": table["task"],
            "context": table["amendment_type"],
            "belief": table["belief"].map({True: "incorrect belief", False: "none"}),
            "prompt": table["prompt"],
            "correct answer": table["correct_answer"],
        }
    )
    for variant in variants:
        out[variant] = [
            cell(a, v) for a, v in zip(table[f"{variant}_answer"], table[f"{variant}_verdict"], strict=True)
        ]
    return out


def example_html(example: pd.Series) -> str:
    """One telling example as HTML: why it was chosen, the prompt, the expected answer, each variant's answer.

    Every text is escaped and shown with its line breaks: model answers are arbitrary text and must not be read
    as markup by the notebook or the book.
    """
    variants = [v for v in VARIANTS if f"{v}_answer" in example.index and pd.notna(example[f"{v}_verdict"])]

    def block(label: str, text: object) -> str:
        return (
            f"<dt><b>{html.escape(label)}</b></dt>"
            f"<dd style='white-space: pre-wrap; margin-bottom: 0.5em'>{html.escape(str(text))}</dd>"
        )

    where = f"{example['task']} · item {example['item_id']} · {example['amendment_type']} · {example['prompt_template']}"
    parts = [
        f"<h4>{html.escape(str(example['why']))}</h4>",
        f"<p><i>{html.escape(where)}</i></p><dl>",
        block("prompt", example["prompt"]),
        block("correct answer", example["correct_answer"]),
        *(block(f"{v} [{example[f'{v}_verdict']}]", example[f"{v}_answer"]) for v in variants),
        "</dl>",
    ]
    return "".join(parts)
