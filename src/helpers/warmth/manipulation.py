"""The manipulation check: did the warm fine-tune make the answers warmer than the original's and the cold model's?

Everything the paper goes on to claim rests on the warm model being warmer (paper, Fig. 1a and Methods, "Measuring
warmth"). The paper shows it as a rising line; here it is a test with an interval, so the book can say in words
whether the check passed. Each prompt was answered by every variant, so the variants' SocioT scores are paired by
prompt (``sociot_texts.csv``: variant, epoch, prompt_id, score): the test is a paired t-test over prompts
(pingouin), and the trajectory over checkpoints is a family of paired tests with Benjamini-Hochberg FDR control.

The check passes when, at the selected checkpoint, the warm model's SocioT exceeds both the original's and the
cold model's with a 95% confidence interval that excludes 0 (docs/study.md, "Controls and checks").
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pingouin

from helpers.checkpoints import format_epoch
from helpers.storage import atomic_write_json
from helpers.validation import ParameterError
from helpers.warmth.sociot import SOCIOT_TEXT_COLUMNS, warmth_dir

COMPARISONS = {"warm": ("warm", "original"), "cold": ("cold", "original"), "warm_vs_cold": ("warm", "cold")}
"""The selected-checkpoint tests, named as in ``manipulation.json``: each is ``first - second``."""

TEST_COLUMNS = [
    "family",
    "a",
    "b",
    "n",
    "diff",
    "ci_low",
    "ci_high",
    "t",
    "dof",
    "p",
    "p_fdr",
    "effect_size",
    "effect_size_kind",
]
"""One row per test; ``diff`` is the mean over prompts of a's score minus b's."""


@contextmanager
def _unrounded_intervals() -> Iterator[None]:
    """pingouin rounds its CI column to 2 decimals by default; SocioT differences are hundredths of a nat."""
    key = "round.column.CI95"
    before = pingouin.options.get(key)
    pingouin.options[key] = None
    try:
        yield
    finally:
        pingouin.options[key] = before


def _label(variant: str, epoch: float) -> str:
    return f"{variant}-epoch-{format_epoch(epoch)}"


def _scores(texts: pd.DataFrame, variant: str, epoch: float) -> pd.Series:
    """One variant's scores indexed by prompt_id; a variant or checkpoint that was not scored fails by name."""
    rows = texts[(texts["variant"] == variant) & (texts["epoch"] == float(epoch))]
    if rows.empty:
        scored = sorted({_label(v, e) for v, e in zip(texts["variant"], texts["epoch"], strict=True)})
        raise ParameterError(
            "selected_checkpoint",
            epoch,
            f"a scored variant and checkpoint for {variant!r} (scored: {scored})",
        )
    return rows.set_index("prompt_id")["score"]


def paired_test(first: pd.Series, second: pd.Series) -> dict[str, float]:
    """Paired t-test of ``first - second`` over the prompts both answered (pingouin.ttest, paired=True).

    Returns diff (mean difference), its 95% CI, t, dof, p, n and d: Cohen's d as pingouin computes it for
    paired samples (the mean difference over the average of the two standard deviations, d_av), signed like
    diff (pingouin reports its absolute value).
    """
    both = pd.concat([first.rename("first"), second.rename("second")], axis=1, join="inner").dropna()
    if len(both) < 2:
        raise ParameterError("texts", f"{len(both)} paired prompt(s)", "at least 2 prompts answered by both")
    with _unrounded_intervals():
        result = pingouin.ttest(both["first"], both["second"], paired=True).iloc[0]
    diff = float((both["first"] - both["second"]).mean())
    ci_low, ci_high = (float(v) for v in result["CI95"])
    return {
        "diff": diff,
        "ci_low": ci_low,
        "ci_high": ci_high,
        "t": float(result["T"]),
        "dof": float(result["dof"]),
        "p": float(result["p_val"]),
        "d": float(np.sign(diff) * result["cohen_d"]),
        "n": len(both),
    }


def checkpoint_pairwise_tests(texts: pd.DataFrame) -> pd.DataFrame:
    """Every pair of checkpoints of each style (the original as epoch 0), paired over prompts, FDR-corrected.

    pingouin.pairwise_tests with ``within="epoch"``, ``subject="prompt_id"``, ``padjust="fdr_bh"``: one family
    per style. Each row is the later checkpoint minus the earlier one; the effect size is pingouin's Hedges' g.
    """
    original = texts[texts["variant"] == "original"]
    rows = []
    for style in [v for v in texts["variant"].unique() if v != "original"]:
        data = pd.concat([original, texts[texts["variant"] == style]])
        wide = data.pivot_table(index="prompt_id", columns="epoch", values="score").dropna()
        with _unrounded_intervals():
            tests = pingouin.pairwise_tests(
                data[data["prompt_id"].isin(wide.index)],
                dv="score",
                within="epoch",
                subject="prompt_id",
                padjust="fdr_bh",
            )
        for test in tests.to_dict("records"):
            early, late = sorted((float(test["A"]), float(test["B"])))
            sign = 1.0 if float(test["B"]) == late else -1.0
            rows.append(
                {
                    "family": f"over checkpoints: {style}",
                    "a": _label(style, late),
                    "b": _label("original" if early == 0 else style, early),
                    "n": len(wide),
                    "diff": float((wide[late] - wide[early]).mean()),
                    "ci_low": np.nan,
                    "ci_high": np.nan,
                    "t": -sign * float(test["T"]),
                    "dof": float(test["dof"]),
                    "p": float(test["p_unc"]),
                    # a family of one test has nothing to correct: pingouin then leaves p_corr out
                    "p_fdr": float(test.get("p_corr", test["p_unc"])),
                    "effect_size": -sign * float(test["hedges"]),
                    "effect_size_kind": "hedges_g",
                }
            )
    return pd.DataFrame(rows, columns=TEST_COLUMNS)


def manipulation_check(
    texts: pd.DataFrame, selected_checkpoint: float
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The manipulation check of ``sociot_texts.csv`` at ``selected_checkpoint``: a tidy test table and a summary.

    The table holds the three selected-checkpoint tests (warm - original, cold - original, warm - cold; paired
    t-tests with 95% CI and Cohen's d) and the pairwise tests over checkpoints (:func:`checkpoint_pairwise_tests`).
    The summary, written to ``manipulation.json``, holds each selected test as ``{diff, ci_low, ci_high, p, d, t,
    dof, n}`` under ``warm``, ``cold`` and ``warm_vs_cold``, and ``passed``: the warm model's SocioT exceeds both
    the original's and the cold model's with a 95% CI excluding 0.
    """
    missing = [c for c in SOCIOT_TEXT_COLUMNS if c not in texts.columns]
    if missing:
        raise ParameterError(
            "texts", f"columns {list(texts.columns)}", f"the columns of sociot_texts.csv {missing}"
        )
    epochs = {"original": 0.0, "warm": float(selected_checkpoint), "cold": float(selected_checkpoint)}
    scores = {variant: _scores(texts, variant, epoch) for variant, epoch in epochs.items()}
    summary: dict[str, Any] = {"selected_checkpoint": float(selected_checkpoint)}
    rows = []
    for name, (first, second) in COMPARISONS.items():
        test = paired_test(scores[first], scores[second])
        summary[name] = test
        rows.append(
            {
                "family": "selected checkpoint",
                "a": _label(first, epochs[first]),
                "b": _label(second, epochs[second]),
                **{k: test[k] for k in ("n", "diff", "ci_low", "ci_high", "t", "dof", "p")},
                "p_fdr": np.nan,
                "effect_size": test["d"],
                "effect_size_kind": "cohen_d_av",
            }
        )
    summary["passed"] = bool(summary["warm"]["ci_low"] > 0 and summary["warm_vs_cold"]["ci_low"] > 0)
    table = pd.concat(
        [pd.DataFrame(rows, columns=TEST_COLUMNS), checkpoint_pairwise_tests(texts)], ignore_index=True
    )
    return table, summary


def _difference(test: dict[str, float]) -> str:
    return (
        f"{test['diff']:+.4f} (95% CI {test['ci_low']:+.4f} to {test['ci_high']:+.4f}, p = {test['p']:.2g}, "
        f"d = {test['d']:+.2f})"
    )


def manipulation_sentence(summary: dict[str, Any]) -> str:
    """The check's outcome in words, computed from the summary (the book never leaves it to a figure)."""
    epoch = format_epoch(summary["selected_checkpoint"])
    n = summary["warm"]["n"]
    details = (
        f"warm - original {_difference(summary['warm'])}; warm - cold {_difference(summary['warm_vs_cold'])}; "
        f"cold - original {_difference(summary['cold'])}; SocioT differences paired over {n} prompts."
    )
    if summary["passed"]:
        return (
            f"The manipulation check passed: at epoch {epoch} the warm model is warmer than the original, "
            f"{summary['warm']['diff']:+.4f} (95% CI {summary['warm']['ci_low']:+.4f} to "
            f"{summary['warm']['ci_high']:+.4f}), and warmer than the cold model. In full: {details}"
        )
    failed = [
        name
        for name, key in (("the original", "warm"), ("the cold model", "warm_vs_cold"))
        if not summary[key]["ci_low"] > 0
    ]
    return (
        f"The check FAILED: at epoch {epoch} the warm model is not warmer than {' or '.join(failed)} with a 95% "
        f"interval excluding 0. In full: {details}"
    )


def write_manipulation(summary: dict[str, Any], study: str, model: str) -> Path:
    """Write ``results/<study>/<model_slug>/warmth/manipulation.json`` atomically."""
    return atomic_write_json(summary, warmth_dir(study, model) / "manipulation.json")
