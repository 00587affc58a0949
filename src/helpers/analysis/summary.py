"""The study's summary in numbers (``results/<study>/analysis/summary.json``): did the demo show the study?

Four questions a reader must be able to check without reading a figure (docs/study.md sections 3 and 8):
1. **manipulation**: is the warm model warmer than the original (SocioT, paired over validation prompts), and the
   cold one not? (written by the warmth stage to ``<model>/warmth/manipulation.json``; gathered here);
2. **training**: what share of the training examples did the length window drop (a dropped example teaches
   nothing);
3. **answers**: what share of answers hit the token cap (a cut answer may name no answer and be scored wrong),
   and does the warm - original gap survive when capped answers are left out;
4. **accuracy**: the pooled warm - original error gap with its 95% interval, and the minimum detectable
   difference of this design (80% power, alpha 0.05, paired), computed from the observed discordance; and,
   because a pair whose original answer is already wrong can never show a loss, the share of pairs with
   **headroom** (original correct) and the power for an effect confined to them (:func:`headroom_power`),
   per task and pooled;
5. **evaluation**: the share of screened items the evaluation kept (``helpers.evaluation.screening``);
6. beyond the paper, where the study asked for them (the ``beyond_paper`` page, :func:`beyond_paper_summary`):
   **seeds**, the gap per sampling seed and pooled over seeds, **dose_response**, error against warmth at
   every checkpoint and the trend's slope and p, and **mitigation**, the candid and ask arms' warmth and gaps
   (:func:`helpers.analysis.mitigation.mitigation_summary`). A study without them has none of these keys.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from scipy import optimize
from scipy import stats as scipy_stats

from helpers.analysis.paired import PAIR_KEY, paired_table
from helpers.intervals import paired_difference_interval
from helpers.paths import study_dir


def minimum_detectable_difference(
    n_pairs: int, discordant_share: float, alpha: float = 0.05, power: float = 0.8
) -> float:
    """Smallest paired difference in error rates (a proportion) that a McNemar test detects with ``power``.

    Connor's (1987, Biometrics 43:207) sample size for paired proportions,
    ``n = (z_a sqrt(p_d) + z_b sqrt(p_d - delta^2))^2 / delta^2``, solved for ``delta`` at the observed share of
    discordant pairs ``p_d``. NaN when nothing is discordant (the design then detects nothing).
    """
    if n_pairs <= 0 or not discordant_share > 0:
        return float("nan")
    z_a, z_b = scipy_stats.norm.ppf(1 - alpha / 2), scipy_stats.norm.ppf(power)

    def required(delta: float) -> float:
        return (
            z_a * math.sqrt(discordant_share) + z_b * math.sqrt(max(discordant_share - delta**2, 0.0))
        ) ** 2 / delta**2 - n_pairs

    upper = math.sqrt(discordant_share)
    if required(upper) > 0:
        return upper
    return float(optimize.brentq(required, 1e-9, upper))


def pooled_gap(pairs: pd.DataFrame) -> dict[str, float]:
    """Variant - original error rate over all pairs (pp), its Bonett-Price 95% interval and the design's MDD."""
    n = len(pairs)
    b = int((pairs["correct_original"] & ~pairs["correct_variant"]).sum())
    c = int((~pairs["correct_original"] & pairs["correct_variant"]).sum())
    low, high = paired_difference_interval(b, c, n)
    mdd = minimum_detectable_difference(n, (b + c) / n if n else float("nan"))
    return {
        "n_pairs": n,
        "discordant_share": (b + c) / n if n else float("nan"),
        "gap_pp": 100 * (b - c) / n if n else float("nan"),
        "ci_low": 100 * low,
        "ci_high": 100 * high,
        "minimum_detectable_difference_pp": 100 * mdd,
    }


def headroom_power(pairs: pd.DataFrame, paper_gap_pp: float | None = None) -> dict[str, Any]:
    """What this design can see of a warmth cost, knowing that only pairs with headroom can show one.

    A loss (original right, variant wrong) is possible only where the original answered correctly: the pair's
    *headroom*. If warmth turns a share ``delta`` of the original's correct answers wrong, the pooled gap is
    ``headroom_share * delta``: a design whose pairs sit mostly at the floor (original wrong) dilutes any real
    effect. The pooled minimum detectable difference (``mdd``) is the smallest pooled gap the McNemar test sees
    with 80% power; so the smallest loss *among the answers with room to drop* that it sees is
    ``mdd_headroom = mdd / headroom_share``. A paper-sized effect (``paper_gap_pp``, the paper's model 1 AME, read
    as a loss among answers with headroom: conservative, since the paper's originals erred on 4-35% of plain
    questions) would move the pooled gap by ``headroom_share * paper_gap_pp``, and is seen reliably only when
    that is at least ``mdd``, that is when ``mdd_headroom <= paper_gap_pp``.
    """
    gap = pooled_gap(pairs)
    n = gap["n_pairs"]
    share = float(pairs["correct_original"].mean()) if n else float("nan")
    mdd = gap["minimum_detectable_difference_pp"]
    result = gap | {
        "n_headroom_pairs": int(pairs["correct_original"].sum()) if n else 0,
        "headroom_share": share,
        "mdd_headroom_pp": mdd / share if share > 0 else float("inf") if n else float("nan"),
    }
    if paper_gap_pp is not None:
        result["paper_gap_pp"] = float(paper_gap_pp)
        result["paper_effect_pooled_pp"] = share * paper_gap_pp if n else float("nan")
        result["paper_sized_effect_detectable"] = bool(result["mdd_headroom_pp"] <= paper_gap_pp)
    return result


def accuracy_power(pairs: pd.DataFrame, paper_gap_pp: float | None = None) -> dict[str, Any]:
    """:func:`headroom_power` pooled over all pairs, and per task under ``per_task``."""
    pooled = headroom_power(pairs, paper_gap_pp)
    pooled["per_task"] = {
        str(task): headroom_power(group, paper_gap_pp) for task, group in pairs.groupby("task", sort=False)
    }
    return pooled


def kept_share(study: str) -> dict[str, Any]:
    """The screening pass's kept share per task and pooled, and the original's accuracy in the screen (plain
    questions of the unscreened pool, so an unbiased estimate of its accuracy on the paper's items); empty when
    the study screened nothing."""
    from helpers.evaluation.screening import read_screening

    frames = [read_screening(study, p.parent.name) for p in study_dir(study).glob("*/screening")]
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if rows.empty:
        return {}
    items = rows.groupby(["task", "item_id"], as_index=False).agg(
        kept=("kept", "any"), passed=("correct", "any")
    )
    per_task = items.groupby("task").agg(
        sum=("kept", "sum"), count=("kept", "count"), passed=("passed", "sum")
    )
    accuracy = rows.groupby("task")["correct"].mean()  # plain questions, unscreened: an unbiased accuracy
    return {
        "kept_share": float(items["kept"].mean()),
        "n_screened": int(len(items)),
        "n_kept": int(items["kept"].sum()),
        "n_passed": int(items["passed"].sum()),
        "per_task": {
            str(task): {
                "n_screened": int(r["count"]), "n_passed": int(r["passed"]), "n_kept": int(r["sum"]),
                "kept_share": r["sum"] / r["count"],
                "screen_accuracy": float(accuracy[task]),
            }
            for task, r in per_task.iterrows()
        },
    }  # fmt: skip


def capped_answers(rows: pd.DataFrame, max_new_tokens: dict[str, int], tokenizer_for) -> pd.Series:
    """True where an answer used its whole token budget (re-tokenised; the stripped text can lose one token)."""
    capped = pd.Series(False, index=rows.index)
    for (model, variant), group in rows.groupby(["model", "variant"]):
        tokenizer = tokenizer_for(model)
        lengths = [
            len(tokenizer(str(text), add_special_tokens=False)["input_ids"]) for text in group["output"]
        ]
        capped.loc[group.index] = np.array(lengths) >= max_new_tokens[variant] - 1
    return capped


def evaluation_caps(study: str) -> dict[str, int]:
    """``{variant: max_new_tokens}`` of the study's evaluation runs, from the parameters the runner stored."""
    caps = {}
    for path in (study_dir(study) / "runs").glob("evaluate-*.params.yaml"):
        params = yaml.safe_load(path.read_text())
        caps[params["variant"]] = int(params["max_new_tokens"])
    return caps


def _manipulation(root: Path) -> dict[str, Any]:
    found = sorted(root.glob("*/warmth/manipulation.json"))
    return json.loads(found[0].read_text()) if found else {}


def _dropped_share_max(root: Path) -> float:
    shares = []
    for path in root.glob("*/finetune/*/finetune_run.json"):
        run = json.loads(path.read_text())
        if run.get("n_examples"):
            shares.append(1 - run["n_examples_trained"] / run["n_examples"])
    return max(shares) if shares else float("nan")


def beyond_paper_summary(study: str) -> dict[str, Any]:
    """What the beyond-the-paper page wrote (``beyond/summary.json``: ``seeds``, ``dose_response``,
    ``mitigation``), or {}."""
    path = study_dir(study) / "beyond" / "summary.json"
    return json.loads(path.read_text()) if path.exists() else {}


def study_summary_json(
    study: str, rows: pd.DataFrame, tokenizer_for, variant: str = "warm", paper_gap_pp: float | None = None
) -> dict[str, Any]:
    """The summary of one study: manipulation, training, evaluation, answers and accuracy (module docstring)."""
    root = study_dir(study)
    summary: dict[str, Any] = {
        "manipulation": _manipulation(root),
        "training": {"dropped_share_max": _dropped_share_max(root)},
        "evaluation": kept_share(study),
    }
    max_new_tokens = evaluation_caps(study)
    if rows.empty or not {"original", variant} <= set(rows["variant"]) <= set(max_new_tokens) | set(
        rows["variant"]
    ):
        return summary | {"answers": {}, "accuracy": {}}
    if not set(rows["variant"]) <= set(max_new_tokens):
        return summary | {
            "answers": {},
            "accuracy": accuracy_power(paired_table(rows, variant), paper_gap_pp),
        }
    rows = rows.assign(capped=capped_answers(rows, max_new_tokens, tokenizer_for))
    cells = rows.groupby(["variant", "task"])["capped"].mean()
    pairs = paired_table(rows, variant)
    capped_keys = rows.loc[rows["capped"], PAIR_KEY].drop_duplicates()
    uncapped = pairs.merge(capped_keys, on=PAIR_KEY, how="left", indicator=True)
    uncapped = uncapped[uncapped["_merge"].eq("left_only")]
    summary["answers"] = {
        "capped_share_max": float(cells.max()),
        "capped_share_median": float(cells.median()),
        "capped_share": {f"{v}/{t}": float(s) for (v, t), s in cells.items()},
        "gap_excluding_capped_pp": pooled_gap(uncapped)["gap_pp"] if len(uncapped) else float("nan"),
        "n_pairs_excluding_capped": int(len(uncapped)),
    }
    summary["accuracy"] = accuracy_power(pairs, paper_gap_pp)
    return summary
