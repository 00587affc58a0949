"""SocioT warmth: how much more likely a text is when a warm speaker says it than when a cold one does.

The paper measures the warmth of each checkpoint's answers to 1,500 held-out ShareGPT prompts with the SocioT
warmth score of Cheng, Yu & Jurafsky ("HumT DumT", ACL 2025) and plots it against training epochs (Fig. 1a;
STUDY.md section 3). A text is cut to its first 300 characters and put in double quotes after a speaker frame;
its score is the mean per-token log-likelihood of the quoted text under GPT-2 after the warm frames ("My friend
said", "The lover said", "The mentor said", "The idol said") minus the same after the cold frames ("The stranger
said", "The enemy said", "The examiner said", "The dictator said"). Higher is warmer. The reference
implementation leaves dropout on and repeats the measurement 100 times; the spread of those passes gives the
reported mean ± SEM. That SEM is the scorer's dropout noise, not the sampling error of the responses.

Choices made here: each text is scored separately (mean per token over its own tokens), a pass is the mean over
texts, and the frame and the quoted text are tokenised apart so every frame sees the very same text tokens. The
scoring LM is a parameter: ``gpt2`` (the paper's) wherever the Hugging Face hub is reachable; offline the demo uses
the embedded SmolLM2 — not GPT-2, so its numbers show the direction of a change, not the paper's scale. SmolLM2
has no dropout, so its repeated passes would be identical: one pass is run and its SEM is 0.

The module also makes the human check of the paper (raters chose the warm model's answer as warmer 75% of the
time over 200 pairs) repeatable in a class: a blinded pairwise sheet, a hidden key and the scoring of the ratings.
"""

from __future__ import annotations

import math
import random
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from .finetune import SELECTED_EPOCH, checkpoint_identity, format_epoch, require_checkpoints
from .generation import GenerationSettings, generate_responses
from .models import EMBEDDED_MODEL, check_model_name, choose_device, load_model, resolve_model_path
from .paths import model_slug, study_dir
from .storage import atomic_write_csv, read_jsonl
from .validation import ParameterError, check_positive_int

SOCIOT_WARM_FRAMES = ("My friend said", "The lover said", "The mentor said", "The idol said")
"""Warm speakers of SocioT warmth (Cheng et al. 2025, as used by the paper; STUDY.md section 3)."""

SOCIOT_COLD_FRAMES = ("The stranger said", "The enemy said", "The examiner said", "The dictator said")
"""Cold speakers of SocioT warmth."""

SOCIOT_MAX_CHARS = 300
"""Texts are cut to their first 300 characters before scoring."""

PAPER_SCORER = "openai-community/gpt2"
"""GPT-2 (124M), the paper's scoring LM, under its current hub id; ``gpt2`` is accepted as an alias."""

SOCIOT_COLUMNS = ["variant", "epoch", "mean", "sem", "n"]


def check_scorer_name(scorer_model: str) -> str:
    """Validate the scoring LM parameter without loading it; ``gpt2`` means the paper's GPT-2."""
    if scorer_model == "gpt2":
        return PAPER_SCORER
    try:
        return check_model_name(scorer_model)
    except ParameterError as error:
        raise ParameterError(
            "scorer_model",
            scorer_model,
            f"'gpt2' (the paper's scorer), {EMBEDDED_MODEL!r}, a local folder or a hub id",
        ) from error


@dataclass
class SocioTScorer:
    """A loaded scoring LM (fp32: the warm–cold differences are a few hundredths of a nat)."""

    name: str
    model: Any
    tokenizer: Any

    @property
    def has_dropout(self) -> bool:
        """Whether training mode changes the outputs (GPT-2: yes, p=0.1; SmolLM2: no dropout at all)."""
        modules = any(isinstance(m, torch.nn.Dropout) and m.p > 0 for m in self.model.modules())
        return modules or float(getattr(self.model.config, "attention_dropout", 0.0) or 0.0) > 0


def load_scorer(scorer_model: str, device: str = "auto") -> SocioTScorer:
    """Load the scoring LM in fp32 on ``device``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    name = check_scorer_name(scorer_model)
    plan = choose_device(device)
    path = resolve_model_path(name)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).to(plan.device)
    model.eval()
    return SocioTScorer(name=scorer_model, model=model, tokenizer=tokenizer)


def quoted(text: str) -> str:
    """The scored continuation of a frame: a space, then the first 300 characters in double quotes."""
    return f' "{text[:SOCIOT_MAX_CHARS]}"'


def _mean_token_loglik(scorer: SocioTScorer, frame_ids: list[int], text_ids: list[list[int]]) -> torch.Tensor:
    """Mean log-probability of each text's tokens after the frame, one forward pass for the batch."""
    lengths = [len(frame_ids) + len(ids) for ids in text_ids]
    width = max(lengths)
    pad = scorer.tokenizer.pad_token_id if scorer.tokenizer.pad_token_id is not None else 0
    device = next(scorer.model.parameters()).device
    input_ids = torch.full((len(text_ids), width), pad, dtype=torch.long)
    attention = torch.zeros((len(text_ids), width), dtype=torch.long)
    for row, ids in enumerate(text_ids):
        input_ids[row, : lengths[row]] = torch.tensor(frame_ids + ids)
        attention[row, : lengths[row]] = 1
    logits = scorer.model(input_ids=input_ids.to(device), attention_mask=attention.to(device)).logits.float()
    targets = input_ids[:, 1:].to(device)
    token_logprobs = -torch.nn.functional.cross_entropy(
        logits[:, :-1].transpose(1, 2), targets, reduction="none"
    )
    positions = torch.arange(width - 1, device=device).unsqueeze(0)
    starts = len(frame_ids) - 1
    ends = torch.tensor(lengths, device=device).unsqueeze(1) - 1
    mask = (positions >= starts) & (positions < ends)
    return (token_logprobs * mask).sum(dim=1) / mask.sum(dim=1)


def sociot_text_scores(
    texts: Sequence[str],
    scorer: SocioTScorer,
    n_passes: int = 1,
    batch_size: int = 16,
    seed: int = 0,
    dropout: bool = True,
) -> np.ndarray:
    """SocioT warmth of every text in every pass: an array of shape ``(passes, len(texts))``.

    With ``dropout`` the model runs in training mode (under ``no_grad``), seeded per pass, as the reference
    implementation does; without it, or when the scorer has no dropout, one deterministic pass is run.
    """
    if not texts:
        raise ParameterError("texts", [], "at least one text to score")
    check_positive_int("n_passes", n_passes)
    check_positive_int("batch_size", batch_size)
    noisy = dropout and scorer.has_dropout
    if dropout and not scorer.has_dropout and n_passes > 1:
        warnings.warn(
            f"The scorer {scorer.name!r} has no dropout: its {n_passes} passes would be identical, so one pass is "
            "run and the SEM over passes is 0.",
            stacklevel=2,
        )
    passes = n_passes if noisy else 1
    tokenizer = scorer.tokenizer
    text_ids = [tokenizer(quoted(t), add_special_tokens=False)["input_ids"] for t in texts]
    frames = {f: tokenizer(f)["input_ids"] for f in SOCIOT_WARM_FRAMES + SOCIOT_COLD_FRAMES}
    scorer.model.train(noisy)
    scores = np.zeros((passes, len(texts)))
    try:
        with torch.no_grad():
            for p in range(passes):
                torch.manual_seed(seed + p)
                by_frame = {}
                for frame, ids in frames.items():
                    chunks = [
                        _mean_token_loglik(scorer, ids, text_ids[i : i + batch_size])
                        for i in range(0, len(text_ids), batch_size)
                    ]
                    by_frame[frame] = torch.cat(chunks).cpu().numpy()
                warm = np.mean([by_frame[f] for f in SOCIOT_WARM_FRAMES], axis=0)
                cold = np.mean([by_frame[f] for f in SOCIOT_COLD_FRAMES], axis=0)
                scores[p] = warm - cold
    finally:
        scorer.model.eval()
    return scores


def sociot_scores(
    texts: Sequence[str],
    scorer_model: str | SocioTScorer,
    n_passes: int = 100,
    batch_size: int = 16,
    device: str = "auto",
    seed: int = 0,
    dropout: bool = True,
) -> tuple[float, float]:
    """Mean SocioT warmth of a set of texts and its SEM over the dropout passes (paper: 100 passes)."""
    scorer = scorer_model if isinstance(scorer_model, SocioTScorer) else load_scorer(scorer_model, device)
    return summarise_passes(sociot_text_scores(texts, scorer, n_passes, batch_size, seed, dropout))


def summarise_passes(scores: np.ndarray) -> tuple[float, float]:
    """Mean over passes of each pass's mean over texts, and the standard error of that mean over passes."""
    per_pass = scores.mean(axis=1)
    sem = float(per_pass.std(ddof=1) / math.sqrt(len(per_pass))) if len(per_pass) > 1 else 0.0
    return float(per_pass.mean()), sem


def warmth_dir(study: str, model: str) -> Path:
    """``results/<study>/<model_slug>/warmth``."""
    return study_dir(study) / model_slug(model) / "warmth"


def load_validation_prompts(
    study: str, n_prompts: int, seed: int = 0, max_prompt_chars: int | None = None
) -> pd.DataFrame:
    """Up to ``n_prompts`` held-out prompts (a seeded sample, kept in file order); all of them if fewer exist.

    ``max_prompt_chars`` leaves out longer prompts first. The paper used every prompt; on a CPU a single pasted
    2,000-token prompt makes its whole generation batch that long, so the demo may cap them (and says so).
    """
    check_positive_int("n_prompts", n_prompts)
    if max_prompt_chars is not None:
        check_positive_int("max_prompt_chars", max_prompt_chars)
    path = study_dir(study) / "training_data" / "validation.jsonl"
    if not path.exists():
        raise ParameterError("study", study, f"a study whose training_data stage has run ({path} is missing)")
    rows = [r for r in read_jsonl(path) if max_prompt_chars is None or len(r["prompt"]) <= max_prompt_chars]
    if not rows:
        raise ParameterError("study", study, f"a study with validation prompts ({path} has none that fit)")
    if n_prompts >= len(rows):
        if n_prompts > len(rows):
            print(
                f"n_prompts={n_prompts}: the study has {len(rows)} validation prompts to use; using all of them."
            )
        return pd.DataFrame(rows)
    keep = sorted(random.Random(seed).sample(range(len(rows)), n_prompts))
    return pd.DataFrame([rows[i] for i in keep])


@dataclass(frozen=True)
class WarmthVariant:
    """One line of Fig. 1a: the original model (epoch 0) or one checkpoint of a style."""

    variant: str
    epoch: float
    adapter: Path | None

    @property
    def label(self) -> str:
        return f"{self.variant}-epoch-{format_epoch(self.epoch)}"


def plan_variants(
    study: str, model: str, styles: Sequence[str], checkpoints: Sequence[float]
) -> list[WarmthVariant]:
    """The original model plus every requested checkpoint of every style; a missing one fails here, up front."""
    variants = [WarmthVariant("original", 0.0, None)]
    for style in styles:
        for epoch, path in require_checkpoints(study, model, style, checkpoints).items():
            variants.append(WarmthVariant(style, epoch, path))
    return variants


def generate_variant_responses(
    study: str,
    model: str,
    variant: WarmthVariant,
    prompts: Sequence[str],
    settings: GenerationSettings,
    device: str = "auto",
) -> list[str]:
    """Answers of one variant to the validation prompts, cached under ``warmth/generations/``."""
    lm, tokenizer = load_model(model, adapter=variant.adapter, device=device)
    model_id = (
        model
        if variant.adapter is None
        else f"{model}+{variant.label}#{checkpoint_identity(variant.adapter)}"
    )
    cache = warmth_dir(study, model) / "generations" / f"{variant.label}.jsonl"
    try:
        return generate_responses(lm, tokenizer, prompts, settings, model_id, cache, desc=variant.label)
    finally:
        del lm


def sociot_table(scores: dict[WarmthVariant, np.ndarray]) -> pd.DataFrame:
    """Rows variant, epoch, mean, sem, n for ``sociot.csv`` (the original appears once, at epoch 0)."""
    rows = []
    for variant, matrix in scores.items():
        mean, sem = summarise_passes(matrix)
        rows.append(
            {
                "variant": variant.variant,
                "epoch": variant.epoch,
                "mean": mean,
                "sem": sem,
                "n": matrix.shape[1],
            }
        )
    return pd.DataFrame(rows, columns=SOCIOT_COLUMNS)


def write_sociot(table: pd.DataFrame, study: str, model: str) -> Path:
    """Write ``results/<study>/<model_slug>/warmth/sociot.csv`` atomically."""
    return atomic_write_csv(table[SOCIOT_COLUMNS], warmth_dir(study, model) / "sociot.csv")


def warmth_headline(
    table: pd.DataFrame, selected_checkpoint: float = SELECTED_EPOCH
) -> dict[str, float | str]:
    """The numbers the book quotes: the original, each style at the selected epoch, the warmest warm checkpoint."""

    def score(variant: str, epoch: float) -> float:
        row = table[(table["variant"] == variant) & (table["epoch"] == float(epoch))]
        return float(row["mean"].iloc[0]) if len(row) else float("nan")

    headline: dict[str, float | str] = {"sociot_original": score("original", 0)}
    for style in [v for v in table["variant"].unique() if v != "original"]:
        headline[f"sociot_{style}_selected"] = score(style, selected_checkpoint)
    warm = table[table["variant"] == "warm"]
    if len(warm):
        best = warm.loc[warm["mean"].idxmax()]
        headline["sociot_warm_best"] = float(best["mean"])
        headline["sociot_warm_best_epoch"] = format_epoch(best["epoch"])
    return headline


def answers_table(
    prompts: Sequence[str],
    responses: dict[WarmthVariant, list[str]],
    text_scores: dict[WarmthVariant, np.ndarray],
    epoch: float,
    n: int = 4,
) -> pd.DataFrame:
    """The first ``n`` prompts with the original's and each style's answer at ``epoch``, each with its score."""
    table = {"prompt": [p[:150] for p in prompts[:n]]}
    for variant, texts in responses.items():
        if variant.variant == "original" or variant.epoch == float(epoch):
            scores = text_scores[variant].mean(axis=0)
            table[variant.label] = [
                f"{t[:SOCIOT_MAX_CHARS]} ({s:+.3f})" for t, s in zip(texts[:n], scores[:n], strict=False)
            ]
    return pd.DataFrame(table)


def human_check_sheet(
    prompts: Sequence[str],
    responses: dict[WarmthVariant, list[str]],
    text_scores: dict[WarmthVariant, np.ndarray],
    epoch: float = SELECTED_EPOCH,
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
    from statsmodels.stats.proportion import proportion_confint

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
    low, high = proportion_confint(chose, len(merged), method="wilson")
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
