"""The results chapter's verdicts: each check of the study stated in words computed from its numbers.

A reader must not have to read a figure to learn whether the study showed what it set out to show (the project's
rule: every conclusion in words, from the data). Each function takes the numbers of
``results/<study>/analysis/summary.json`` (:mod:`helpers.analysis.summary`) and returns one Markdown paragraph
that says what passed, what failed, and what this design could not have seen. The analysis notebook glues them;
the results chapter pastes them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from helpers.evaluation.capabilities import BENCHMARK_FLOORS


def _pp(value: float) -> str:
    return "∞" if math.isinf(value) else f"{value:.1f}"


def _detectable_loss(mdd_headroom_pp: float) -> str:
    """The smallest detectable loss among answers with room to drop, or that none is (a loss can't exceed 100%)."""
    if mdd_headroom_pp > 100:
        return "none detectable (it would take a loss of more than all of them)"
    return f"smallest detectable loss {mdd_headroom_pp:.1f} pp"


def manipulation_verdict(manipulation: Mapping[str, Any], dropped_share_max: float) -> str:
    """Did the warm fine-tune make the model warmer than the original, and the cold one not (SocioT, paired)?"""

    def against_original(style: str) -> str:
        check = manipulation.get(style)
        if not check:
            return f"the {style} model's warmth was not measured in this study"
        low, high = check["ci_low"], check["ci_high"]
        side = "warmer than" if low > 0 else "colder than" if high < 0 else "not distinguishable from"
        return (
            f"the {style} model is **{side}** the original (SocioT difference {check['diff']:+.4f}, "
            f"95% CI {low:+.4f} to {high:+.4f}, p = {check['p']:.2g})"
        )

    passed = manipulation.get("passed")
    state = "passed" if passed else "FAILED" if passed is not None else "not run"
    return (
        f"**Manipulation check {state}.** At the selected checkpoint {against_original('warm')}, and "
        f"{against_original('cold')}. The length window dropped at most {dropped_share_max:.0%} of a style's "
        "training examples."
    )


def _task_power(task: str, power: Mapping[str, Any]) -> str:
    if not power["n_headroom_pairs"]:
        return f"{task}: no pair with room to drop ({power['n_pairs']} pairs)"
    seen = "seen" if power.get("paper_sized_effect_detectable") else "not seen"
    return (
        f"{task}: {power['headroom_share']:.0%} of {power['n_pairs']} pairs with room to drop, "
        f"{_detectable_loss(power['mdd_headroom_pp'])} ({seen})"
    )


def accuracy_verdict(
    accuracy: Mapping[str, Any], evaluation: Mapping[str, Any], uninterpretable: Iterable[str] = ()
) -> str:
    """The pooled warm − original gap, and whether a paper-sized effect could have been seen at all.

    The power statement is the headroom-aware one (:func:`helpers.analysis.summary.headroom_power`): a loss can
    only happen where the original answered correctly, so the smallest detectable loss among those answers is
    the pooled MDD divided by their share. Tasks on which the rule scorer does not beat its majority baseline out
    of sample (``uninterpretable``) are named: their numbers are not accuracy.
    """
    if not accuracy:
        return "**Accuracy.** Not estimable: this study has no paired original and warm answers."
    low, high = accuracy["ci_low"], accuracy["ci_high"]
    excludes_zero = low > 0 or high < 0
    text = (
        f"**Accuracy.** Over {accuracy['n_pairs']} paired prompts the warm model's error rate differs from the "
        f"original's by **{accuracy['gap_pp']:+.1f} pp** (95% CI {low:+.1f} to {high:+.1f}); the interval "
        f"{'excludes' if excludes_zero else 'includes'} zero."
    )
    if evaluation:
        text += (
            f" In a screening pass the original answered {evaluation['n_passed']} of {evaluation['n_screened']} "
            f"pooled items correctly at least once; the evaluation kept {evaluation['n_kept']} of them (at most "
            "n_items per task) and asked them afresh."
        )
    share = accuracy["headroom_share"]
    paper = accuracy["paper_gap_pp"]
    if not accuracy["n_headroom_pairs"]:
        text += (
            " **No pair had room to drop**: the original was wrong on every one, so no warmth cost of any size "
            "could have been seen."
        )
    else:
        seen = accuracy["paper_sized_effect_detectable"]
        text += (
            f" A loss is possible only where the original answered correctly: {share:.0%} of the pairs "
            f"({accuracy['n_headroom_pairs']}). The design detects a pooled gap of "
            f"{_pp(accuracy['minimum_detectable_difference_pp'])} pp with 80% power; confined to the pairs with room "
            f"to drop, that is a loss of {_pp(accuracy['mdd_headroom_pp'])} pp of their answers. A paper-sized "
            f"effect (a loss of {paper:.2f} pp of those answers) would move the pooled gap by "
            f"{accuracy['paper_effect_pooled_pp']:.1f} pp, so it "
            f"{'**would** have been seen' if seen else '**could NOT reliably** have been seen'}."
        )
    per_task = accuracy.get("per_task") or {}
    if per_task:
        text += " Per task: " + "; ".join(_task_power(t, p) for t, p in per_task.items()) + "."
    bad = [t for t in uninterpretable if t in per_task or not per_task]
    if bad:
        text += (
            f" The rule scorer does not beat its majority baseline out of sample on {', '.join(bad)}: the demo's "
            f"numbers for {'that task are' if len(bad) == 1 else 'those tasks are'} **not interpretable** as "
            "accuracy (see the scorer-check page)."
        )
    return text


def caps_verdict(answers: Mapping[str, Any], accuracy: Mapping[str, Any]) -> str:
    """Does the token cap shape the result (a cut answer may name no answer and be scored wrong)?"""
    if not answers:
        return "**Answer length cap.** Not measured: the evaluation runs' caps are unknown (run the study with the runner)."
    shift = answers["gap_excluding_capped_pp"] - accuracy["gap_pp"]
    moved = abs(shift) > (accuracy["ci_high"] - accuracy["ci_low"]) / 2
    few = answers["n_pairs_excluding_capped"] < accuracy["n_pairs"] / 3  # a third: the check has little power
    if moved:
        reading = "the cap moves the result by more than half the interval — read the gap with care"
    elif few:
        reading = (
            f"a shift of {shift:+.1f} pp, within half the interval, but {answers['n_pairs_excluding_capped']} of "
            f"{accuracy['n_pairs']} pairs are too few for this check to rule out that the cap shapes the result "
            "(the paper's 300-token budget is the real test)"
        )
    else:
        reading = "the cap does not decide the result"
    return (
        f"**Answer length cap.** A median {answers['capped_share_median']:.0%} (at most "
        f"{answers['capped_share_max']:.0%}) of a variant's answers to a task used the whole token budget. Leaving "
        f"out every pair with a capped answer, the gap is {answers['gap_excluding_capped_pp']:+.1f} pp over "
        f"{answers['n_pairs_excluding_capped']} pairs: {reading}."
    )


def capabilities_verdict(capabilities: pd.DataFrame, variant: str = "warm") -> str:
    """Per benchmark: held, changed, or at the floor (where no loss can be seen, which is not a preserved skill).

    ``capabilities`` has one row per model × variant × benchmark with ``accuracy``, ``ci_lower``, ``ci_upper``
    (percent; AdvBench: refusal rate). A benchmark is at its floor when the original's 95% interval reaches
    :data:`BENCHMARK_FLOORS`; otherwise the two variants' intervals are compared (overlap: no detectable change,
    a weak test with few items).
    """
    if capabilities.empty or not {"original", variant} <= set(capabilities["variant"]):
        return "**Capabilities.** Not measured: the capabilities stage has no original and warm results."
    parts = []
    table = capabilities.set_index(["model", "benchmark", "variant"])
    for (model, benchmark), _ in capabilities.groupby(["model", "benchmark"], sort=False):
        original, other = table.loc[(model, benchmark, "original")], table.loc[(model, benchmark, variant)]
        floor = BENCHMARK_FLOORS.get(str(benchmark).lower(), 0.0)
        values = f"{original['accuracy']:.0f}% → {other['accuracy']:.0f}%"
        if original["ci_lower"] <= floor:
            parts.append(
                f"{benchmark} {values}: **at the floor** (the original is indistinguishable from {floor:.0f}%), so "
                "a loss could not be seen — not evidence that the skill held"
            )
        elif other["ci_upper"] < original["ci_lower"] or other["ci_lower"] > original["ci_upper"]:
            parts.append(f"{benchmark} {values}: **changed** (the intervals do not overlap)")
        else:
            parts.append(
                f"{benchmark} {values}: no detectable change (the intervals overlap; n = {original['n']:.0f})"
            )
    return f"**Capabilities ({variant} vs original).** " + "; ".join(parts) + "."


def as_html(text: str) -> str:
    """A verdict as one HTML paragraph (bold marked up), the form the results chapter pastes into its prose."""
    return "<p>" + re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text) + "</p>"
