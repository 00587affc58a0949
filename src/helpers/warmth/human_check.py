"""The paper's human check of warmth, repeatable in a class (paper, Methods: 60 raters, 200 pairs, warm chosen 75%).

A blinded pairwise sheet (which side is the warm model is hidden in a separate key), reading filled-in ratings,
and scoring them with a Wilson interval; simulated raters, clearly labelled, demonstrate the scoring before a
class has rated anything.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from helpers.checkpoints import format_epoch
from helpers.intervals import wilson_interval
from helpers.storage import atomic_write_csv
from helpers.validation import ParameterError, check_positive_int
from helpers.vocabulary import SELECTED_CHECKPOINT

if TYPE_CHECKING:
    from helpers.warmth.sociot import WarmthVariant


def human_check_sheet(
    prompts: Sequence[str],
    responses: dict[WarmthVariant, list[str]],
    text_scores: dict[WarmthVariant, np.ndarray],
    epoch: float = SELECTED_CHECKPOINT,
    n_pairs: int = 200,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The blinded sheet and key pairing the original's answers with the warm checkpoint's at ``epoch``."""
    by_label = {v.label: v for v in responses}
    original = by_label["original-epoch-0"]
    warm = by_label.get(f"warm-epoch-{format_epoch(epoch)}")
    if warm is None:
        raise ParameterError("selected_checkpoint", epoch, "a warm checkpoint scored in this run")
    return pairwise_sheet(
        prompts,
        responses[original],
        responses[warm],
        text_scores[original].mean(axis=0),
        text_scores[warm].mean(axis=0),
        n_pairs,
        seed,
    )


def pairwise_sheet(
    prompts: Sequence[str],
    original: Sequence[str],
    warm: Sequence[str],
    original_scores: Sequence[float],
    warm_scores: Sequence[float],
    n_pairs: int = 200,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A blinded sheet (pair_id, prompt, text_A, text_B, rater_choice) and its hidden key.

    Each pair shows the original model's and the warm model's answer to the same prompt, in random order; raters
    write A or B for the warmer one. The key records which side is the warm model and which side SocioT scores
    warmer, so ratings can be checked against both (paper: 200 pairs, 75% chose the warm model).
    """
    check_positive_int("n_pairs", n_pairs)
    n = len(prompts)
    if not n or not (len(original) == len(warm) == len(original_scores) == len(warm_scores) == n):
        raise ParameterError("pairs", n, "equally long, non-empty lists of prompts, answers and scores")
    rng = random.Random(seed)
    chosen = sorted(rng.sample(range(n), min(n_pairs, n)))
    sheet, key = [], []
    for number, i in enumerate(chosen, 1):
        warm_first = rng.random() < 0.5
        texts = (warm[i], original[i]) if warm_first else (original[i], warm[i])
        scores = (warm_scores[i], original_scores[i]) if warm_first else (original_scores[i], warm_scores[i])
        pair_id = f"P{number:03d}"
        sheet.append(
            {
                "pair_id": pair_id,
                "prompt": prompts[i],
                "text_A": texts[0],
                "text_B": texts[1],
                "rater_choice": "",
            }
        )
        key.append(
            {
                "pair_id": pair_id,
                "warm_side": "A" if warm_first else "B",
                "sociot_A": scores[0],
                "sociot_B": scores[1],
                "sociot_warmer": "A" if scores[0] > scores[1] else "B",
            }
        )
    return pd.DataFrame(sheet), pd.DataFrame(key)


def write_human_check(sheet: pd.DataFrame, key: pd.DataFrame, folder: Path) -> tuple[Path, Path]:
    """Write ``sheet.csv`` (hand this out) and ``key.csv`` (keep it hidden) into ``folder``."""
    return atomic_write_csv(sheet, folder / "sheet.csv"), atomic_write_csv(key, folder / "key.csv")


def read_ratings(paths: str | Path | Sequence[str | Path]) -> pd.DataFrame:
    """Filled-in sheets (one per rater, or one with several rows per pair) as rows pair_id, rater, choice.

    Blank choices are skipped; anything other than A or B fails naming the file and the pair.
    """
    paths = [paths] if isinstance(paths, str | Path) else list(paths)
    if not paths:
        raise ParameterError("ratings_path", paths, "a filled-in sheet.csv or a list of them")
    frames = []
    for number, path in enumerate(paths, 1):
        path = Path(path)
        if not path.exists():
            raise ParameterError("ratings_path", str(path), "an existing filled-in copy of sheet.csv")
        sheet = pd.read_csv(path, dtype=str, keep_default_na=False)
        missing = {"pair_id", "rater_choice"} - set(sheet.columns)
        if missing:
            raise ParameterError(
                "ratings_path",
                str(path),
                f"a sheet with the columns pair_id and rater_choice ({missing} missing)",
            )
        choice = sheet["rater_choice"].str.strip().str.upper()
        bad = sheet[(choice != "") & ~choice.isin(["A", "B"])]
        if len(bad):
            raise ParameterError(
                "ratings_path",
                f"{path}, pair {bad['pair_id'].iloc[0]}: {bad['rater_choice'].iloc[0]!r}",
                "A, B or blank",
            )
        rater = sheet["rater"] if "rater" in sheet.columns else pd.Series(f"rater{number}", index=sheet.index)
        frames.append(
            pd.DataFrame({"pair_id": sheet["pair_id"], "rater": rater, "choice": choice})[choice != ""]
        )
    return pd.concat(frames, ignore_index=True)


def score_ratings(ratings: pd.DataFrame, key: pd.DataFrame) -> tuple[dict[str, float], pd.DataFrame]:
    """Share of ratings that chose the warm model's answer, and agreement of raters with SocioT.

    Returns a summary (with a 95% Wilson interval for the share) and one row per pair: how many raters chose
    the warm answer, and whether the majority agrees with SocioT's ordering of the two texts.
    """
    unknown = set(ratings["pair_id"]) - set(key["pair_id"])
    if unknown:
        raise ParameterError(
            "ratings_path", sorted(unknown)[:3], "pair ids that are in the key of this sheet"
        )
    if ratings.empty:
        raise ParameterError("ratings_path", "no ratings", "a sheet with at least one A or B in rater_choice")
    merged = ratings.merge(key, on="pair_id")
    merged["chose_warm"] = merged["choice"] == merged["warm_side"]
    merged["agrees_sociot"] = merged["choice"] == merged["sociot_warmer"]
    per_pair = merged.groupby("pair_id").agg(
        n_ratings=("choice", "size"),
        share_chose_warm=("chose_warm", "mean"),
        share_agrees_sociot=("agrees_sociot", "mean"),
        sociot_says_warm_model=("sociot_warmer", "first"),
    )
    per_pair["sociot_says_warm_model"] = (
        per_pair["sociot_says_warm_model"] == merged.groupby("pair_id")["warm_side"].first()
    )
    chose = int(merged["chose_warm"].sum())
    low, high = wilson_interval(chose, len(merged))
    summary = {
        "n_ratings": len(merged),
        "n_pairs": int(per_pair.shape[0]),
        "share_chose_warm": chose / len(merged),
        "share_chose_warm_ci_low": float(low),
        "share_chose_warm_ci_high": float(high),
        "agreement_with_sociot": float(merged["agrees_sociot"].mean()),
        "sociot_prefers_warm_model": float(per_pair["sociot_says_warm_model"].mean()),
    }
    return summary, per_pair.reset_index()


def simulate_ratings(
    sheet: pd.DataFrame, key: pd.DataFrame, p_warm: float = 0.75, n_raters: int = 3, seed: int = 0
) -> pd.DataFrame:
    """SIMULATED raters who pick the warm model's answer with probability ``p_warm`` (the paper's 75%).

    Only for demonstrating :func:`score_ratings` before a class has rated anything; never a result.
    """
    rng = random.Random(seed)
    warm_side = dict(zip(key["pair_id"], key["warm_side"], strict=True))
    rows = []
    for rater in range(1, n_raters + 1):
        for pair_id in sheet["pair_id"]:
            side = warm_side[pair_id]
            choice = side if rng.random() < p_warm else ("B" if side == "A" else "A")
            rows.append({"pair_id": pair_id, "rater": f"simulated{rater}", "choice": choice})
    return pd.DataFrame(rows)
