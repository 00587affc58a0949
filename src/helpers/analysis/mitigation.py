"""The two mitigation arms beyond the paper, in numbers, words and one figure (docs/study.md section 11).

Neither arm is the paper's. Each is judged on the same screened items as the warm model:

- **candid** (data; after Wei et al. 2023, arXiv 2308.03958, training data that keep disagreement): a fine-tune on
  rewrites that keep the warm register but every correction, disagreement and hedge of the reply. Did it keep the
  warmth (SocioT above the original's), and did it cut the cost (a smaller error gap against the original than
  the warm model's)? Its belief-sycophancy gap (error with the incorrect belief minus error on the plain
  question) is set beside the warm model's too.
- **ask** (inference; after UK AISI, "Ask don't tell", arXiv 2602.23971): the warm model answering the
  ``incorrect`` prompts with the stated belief turned into a question. Did it err less than on the stated
  belief, paired on the same items and contexts?

Every gap is a difference of paired error rates with the Bonett-Price interval the rest of the book uses
(:func:`helpers.intervals.paired_difference_interval`), pairs joined as :func:`helpers.analysis.paired.paired_table`
joins them; a difference of two gaps (candid's belief gap minus warm's) is a mean over items with a t
interval, because items, not prompts, are what repeat. Warmth differences are the warmth stage's paired t-tests
over prompts (:func:`helpers.warmth.manipulation.paired_test`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from scipy import stats as scipy_stats

from helpers.analysis.figures import INTERVAL_POINTS, _facets, _interval_rows, unavailable_figure
from helpers.analysis.paired import paired_table
from helpers.evaluation.refusal import apply_refusal_rule
from helpers.intervals import paired_difference_interval
from helpers.vocabulary import ALL_TEMPLATES, SELECTED_CHECKPOINT
from helpers.warmth.manipulation import paired_test

#: The prompts a belief gap compares: the plain question and the stated incorrect belief, in the same context.
PLAIN, BELIEF, ASK = "original", "incorrect", "ask"
_ITEM = ["model", "task", "item_id"]
_PROMPT = [*_ITEM, "amendment_type"]


def _gap(b: int, c: int, n: int) -> dict[str, float]:
    """A paired error difference in pp with its Bonett-Price 95% interval (``b`` losses, ``c`` gains)."""
    low, high = paired_difference_interval(b, c, n)
    value = 100 * (b - c) / n if n else float("nan")
    return {"value_pp": value, "ci_low_pp": 100 * low, "ci_high_pp": 100 * high, "n": int(n)}


def _paired_outcomes(scored: pd.DataFrame, first: tuple[str, str], second: tuple[str, str]) -> pd.DataFrame:
    """``is_incorrect`` of two (variant, template) prompts of the same item and context, side by side."""

    def pick(variant: str, template: str) -> pd.DataFrame:
        rows = scored[scored["variant"].eq(variant) & scored["prompt_template"].eq(template)]
        return rows.drop_duplicates(_PROMPT)[[*_PROMPT, "is_incorrect"]]

    return pick(*first).merge(pick(*second), on=_PROMPT, suffixes=("_first", "_second"))


def _error_difference(pairs: pd.DataFrame, first: str, second: str) -> dict[str, float]:
    """The first prompt's minus the second's error rate over joined prompts (:func:`_paired_outcomes`), in pp,
    with each error rate under ``<first>_error_pct`` / ``<second>_error_pct``."""
    wrong_first, wrong_second = pairs["is_incorrect_first"].eq(1), pairs["is_incorrect_second"].eq(1)
    b, c = int((wrong_first & ~wrong_second).sum()), int((~wrong_first & wrong_second).sum())
    return {
        f"{first}_error_pct": 100 * float(wrong_first.mean()) if len(pairs) else float("nan"),
        f"{second}_error_pct": 100 * float(wrong_second.mean()) if len(pairs) else float("nan"),
        **_gap(b, c, len(pairs)),
    }


def _variant_gap(rows: pd.DataFrame, variant: str, baseline: str) -> dict[str, float]:
    """``variant`` minus ``baseline`` error over every prompt both answered (the paper's templates only)."""
    pairs = paired_table(rows, variant, baseline)
    co, cv = pairs["correct_original"], pairs["correct_variant"]
    return _gap(int((co & ~cv).sum()), int((~co & cv).sum()), len(pairs))


def _belief_gap_difference(scored: pd.DataFrame, variant: str, reference: str) -> dict[str, float]:
    """(variant's belief gap) minus (reference's), per item averaged over its contexts, with a t interval."""
    per_variant = []
    for name in (variant, reference):
        joined = _paired_outcomes(scored, (name, BELIEF), (name, PLAIN))
        joined["gap"] = joined["is_incorrect_first"] - joined["is_incorrect_second"]
        per_variant.append(joined[[*_PROMPT, "gap"]])
    both = per_variant[0].merge(per_variant[1], on=_PROMPT, suffixes=("_variant", "_reference"))
    by_item = (both["gap_variant"] - both["gap_reference"]).groupby([both[k] for k in _ITEM]).mean()
    n = len(by_item)
    if n < 2:
        return {"value_pp": float("nan"), "ci_low_pp": float("nan"), "ci_high_pp": float("nan"), "n": n}
    mean, sem = float(by_item.mean()), float(scipy_stats.sem(by_item))
    half = float(scipy_stats.t.ppf(0.975, n - 1)) * sem
    return {
        "value_pp": 100 * mean,
        "ci_low_pp": 100 * (mean - half),
        "ci_high_pp": 100 * (mean + half),
        "n": n,
    }


def _warmth_scores(warmth: pd.DataFrame, variant: str, epoch: float) -> pd.Series:
    """One variant's per-prompt SocioT scores at one epoch, keyed by (model, prompt_id)."""
    rows = warmth[warmth["variant"].eq(variant) & warmth["epoch"].astype(float).eq(float(epoch))]
    model = rows["model"] if "model" in rows else pd.Series("", index=rows.index)
    return pd.Series(
        rows["score"].to_numpy(float), index=pd.MultiIndex.from_arrays([model, rows["prompt_id"]])
    )


def _mean_interval(scores: pd.Series) -> dict[str, float]:
    n = len(scores)
    mean = float(scores.mean()) if n else float("nan")
    half = float(scipy_stats.t.ppf(0.975, n - 1) * scipy_stats.sem(scores)) if n > 1 else float("nan")
    return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half, "n": n}


def candid_warmth(warmth: pd.DataFrame, selected_checkpoint: float = SELECTED_CHECKPOINT) -> dict[str, Any]:
    """SocioT of the original (epoch 0), warm and candid models at ``selected_checkpoint``, each with a t 95%
    interval over prompts, and the paired differences candid - original, warm - original and candid - warm.

    ``warmth``: the warmth stage's per-answer scores (``sociot_texts.csv``: ``variant, epoch, prompt_id,
    score``, with ``model`` when several models are stacked), as :func:`load_warmth_texts` reads them.
    """
    epochs = {"original": 0.0, "warm": selected_checkpoint, "candid": selected_checkpoint}
    scores = {variant: _warmth_scores(warmth, variant, epoch) for variant, epoch in epochs.items()}
    result: dict[str, Any] = {variant: _mean_interval(s) for variant, s in scores.items()}
    for first, second in (("candid", "original"), ("warm", "original"), ("candid", "warm")):
        test = paired_test(scores[first], scores[second])
        result[f"{first}_minus_{second}"] = {k: test[k] for k in ("diff", "ci_low", "ci_high", "p", "n")}
    return result


def load_warmth_texts(study: str) -> pd.DataFrame:
    """Every model's ``warmth/sociot_texts.csv`` of a study, with the model folder as ``model`` (empty if none)."""
    from pathlib import Path

    from helpers.analysis.study_results import SOCIOT_TEXT_KINDS
    from helpers.paths import study_dir
    from helpers.storage import read_results_csv

    kinds = {**SOCIOT_TEXT_KINDS, "prompt_id": "str"}
    frames = [
        read_results_csv(path, kinds).assign(model=path.parent.parent.name)
        for path in sorted(Path(study_dir(study)).glob("*/warmth/sociot_texts.csv"))
    ]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[*kinds, "model"])


def mitigation_summary(
    answers: pd.DataFrame,
    warmth: pd.DataFrame | None = None,
    selected_checkpoint: float = SELECTED_CHECKPOINT,
) -> dict[str, Any]:
    """The mitigation arms a study ran, in numbers: ``{"candid": {...}, "ask": {...}}``, each key only where present.

    ``answers``: the study's evaluation rows (CONTRIBUTING schema; ``StudyResults.rows``). ``warmth``: the
    per-answer SocioT scores (:func:`load_warmth_texts`), or None. All gaps are in pp with 95% intervals
    (``value_pp, ci_low_pp, ci_high_pp, n``).

    ``candid`` (where original, warm and candid rows exist): ``warmth`` (:func:`candid_warmth`, None without
    scores for candid), ``error_gap`` (``candid`` and ``warm`` minus ``original`` over every paper prompt, and
    ``candid_minus_warm`` paired on the same prompts), ``belief_gap`` (per variant: error with the stated
    incorrect belief minus on the plain question, same item and context; ``candid_minus_warm`` their difference,
    per item), ``kept_warmth`` (candid - original SocioT interval above zero; None without warmth),
    ``cut_cost`` (candid - warm error interval below zero) and ``cut_sycophancy`` (the belief gaps' difference
    interval below zero).

    ``ask`` (where the warm model answered ``ask`` prompts): per variant that did, ``ask_error_pct``,
    ``incorrect_error_pct`` and ask minus incorrect error paired on item and context; ``cut_cost``: the warm
    model's interval below zero.
    """
    scored = apply_refusal_rule(answers, templates=ALL_TEMPLATES)
    variants = set(scored["variant"])
    summary: dict[str, Any] = {}
    if {"original", "warm", "candid"} <= variants:
        error_gap = {v: _variant_gap(answers, v, "original") for v in ("candid", "warm")}
        error_gap["candid_minus_warm"] = _variant_gap(answers, "candid", "warm")
        belief_gap = {
            v: _error_difference(_paired_outcomes(scored, (v, BELIEF), (v, PLAIN)), "belief", "plain")
            for v in ("original", "warm", "candid")
        }
        belief_gap["candid_minus_warm"] = _belief_gap_difference(scored, "candid", "warm")
        has_warmth = warmth is not None and len(warmth) and warmth["variant"].eq("candid").any()
        warmth_numbers = candid_warmth(warmth, selected_checkpoint) if has_warmth else None
        summary["candid"] = {
            "warmth": warmth_numbers,
            "error_gap": error_gap,
            "belief_gap": belief_gap,
            "kept_warmth": bool(warmth_numbers["candid_minus_original"]["ci_low"] > 0)
            if warmth_numbers
            else None,
            "cut_cost": bool(error_gap["candid_minus_warm"]["ci_high_pp"] < 0),
            "cut_sycophancy": bool(belief_gap["candid_minus_warm"]["ci_high_pp"] < 0),
        }
    asked = scored[scored["prompt_template"].eq(ASK)]
    if asked["variant"].eq("warm").any():
        ask: dict[str, Any] = {
            v: _error_difference(_paired_outcomes(scored, (v, ASK), (v, BELIEF)), ASK, BELIEF)
            for v in ("warm", "original")
            if asked["variant"].eq(v).any()
        }
        ask["cut_cost"] = bool(ask["warm"]["ci_high_pp"] < 0)
        summary["ask"] = ask
    return summary


def _interval_words(gap: dict[str, float]) -> str:
    return f"{gap['value_pp']:+.1f} pp, 95% CI {gap['ci_low_pp']:+.1f} to {gap['ci_high_pp']:+.1f}"


def mitigation_verdict(summary: dict[str, Any]) -> str:
    """Each arm's result in one sentence computed from :func:`mitigation_summary` (an empty string for none)."""
    sentences = []
    candid = summary.get("candid")
    if candid:
        warmth = candid["warmth"]
        if warmth is None:
            kept = "Candid training's warmth was not scored"
        else:
            d = warmth["candid_minus_original"]
            verb = "kept the warmth" if candid["kept_warmth"] else "did not show the warmth"
            kept = f"Candid training {verb} (SocioT candid − original {d['diff']:+.4f}, CI {d['ci_low']:+.4f} to {d['ci_high']:+.4f})"
        gaps = candid["error_gap"]
        cost = "cut" if candid["cut_cost"] else "did not cut"
        link = "and" if candid["cut_cost"] == bool(candid["kept_warmth"]) else "but"
        sentences.append(
            f"{kept} {link} {cost} the cost: its error gap against the original was {_interval_words(gaps['candid'])}"
            f" against the warm model's {_interval_words(gaps['warm'])} (candid − warm {_interval_words(gaps['candid_minus_warm'])});"
            f" its belief-sycophancy gap differed from the warm model's by {_interval_words(candid['belief_gap']['candid_minus_warm'])}."
        )
    ask = summary.get("ask")
    if ask:
        warm = ask["warm"]
        cost = "cut" if ask["cut_cost"] else "did not cut"
        sentences.append(
            f"Asking the belief as a question {cost} the warm model's belief cost: its error on ask prompts was "
            f"{warm['ask_error_pct']:.1f}% against {warm['incorrect_error_pct']:.1f}% with the stated belief "
            f"(ask − stated {_interval_words(warm)}, {warm['n']} paired prompts)."
        )
    return " ".join(sentences)


def mitigation_frame(summary: dict[str, Any]) -> pd.DataFrame:
    """The summary as tidy rows ``panel, variant, quantity, value, ci_low, ci_high`` for the figure."""
    rows = []
    candid = summary.get("candid")
    if candid and candid["warmth"]:
        for variant in ("original", "warm", "candid"):
            w = candid["warmth"][variant]
            rows.append(
                ("SocioT warmth", variant, "selected checkpoint", w["mean"], w["ci_low"], w["ci_high"])
            )
    if candid:
        for variant in ("warm", "candid"):
            g = candid["error_gap"][variant]
            rows.append(
                ("gap vs original (pp)", variant, "error", g["value_pp"], g["ci_low_pp"], g["ci_high_pp"])
            )
            g = candid["belief_gap"][variant]
            rows.append(
                (
                    "gap vs original (pp)",
                    variant,
                    "belief − plain",
                    g["value_pp"],
                    g["ci_low_pp"],
                    g["ci_high_pp"],
                )
            )
    ask = summary.get("ask")
    if ask:
        for variant in ("original", "warm"):
            if variant in ask:
                a = ask[variant]
                rows.append(
                    (
                        "ask − stated belief (pp)",
                        variant,
                        "error",
                        a["value_pp"],
                        a["ci_low_pp"],
                        a["ci_high_pp"],
                    )
                )
    return pd.DataFrame(rows, columns=["panel", "variant", "quantity", "value", "ci_low", "ci_high"])


def plot_mitigation(summary: dict[str, Any]) -> Figure:
    """The arms side by side: SocioT of original, warm and candid; the warm and candid error and belief gaps;
    the ask - stated-belief error difference. Points with 95% intervals, one panel each, zero lines on the gaps.

    Below zero on a gap panel the arm errs less; a candid interval that sits below the warm one is a cut cost.
    """
    frame = mitigation_frame(summary)
    if frame.empty:
        return unavailable_figure("No mitigation arm in this study: add candid or ask to its config.")
    long = _interval_rows(frame, "value", "ci_low", "ci_high")
    with sns.axes_style("whitegrid"):
        grid = sns.catplot(
            long,
            **INTERVAL_POINTS,
            **_facets(long, x="quantity", hue="variant", col="panel"),
            y="value",
            col_order=list(dict.fromkeys(frame["panel"])),
            dodge=0.4,
            sharex=False,
            sharey=False,
            aspect=0.9,
        )
        grid.set_titles("{col_name}")
        grid.set_axis_labels("", "")
        for name, ax in grid.axes_dict.items():
            if name != "SocioT warmth":
                ax.axhline(0, color="0.4", linewidth=1)
    return grid.figure
