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
"""

from __future__ import annotations

import math
import random
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from helpers.generation import GenerationSettings, generate_responses
from helpers.models import EMBEDDED_MODEL, check_model_name, choose_device, load_model, resolve_model_path
from helpers.paths import model_slug, study_dir
from helpers.storage import atomic_write_csv
from helpers.training.conversations import load_validation_prompts
from helpers.training.finetune import checkpoint_identity, format_epoch, require_checkpoints
from helpers.validation import ParameterError, check_positive_int
from helpers.vocabulary import SELECTED_CHECKPOINT

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


def sample_validation_prompts(
    study: str, n_prompts: int, seed: int = 0, max_prompt_chars: int | None = None
) -> pd.DataFrame:
    """Up to ``n_prompts`` held-out prompts (a seeded sample, kept in file order); all of them if fewer exist.

    ``max_prompt_chars`` leaves out longer prompts first. The paper used every prompt; on a CPU a single pasted
    2,000-token prompt makes its whole generation batch that long, so the demo may cap them (and says so).
    """
    check_positive_int("n_prompts", n_prompts)
    if max_prompt_chars is not None:
        check_positive_int("max_prompt_chars", max_prompt_chars)
    rows = [
        asdict(p)
        for p in load_validation_prompts(study)
        if max_prompt_chars is None or len(p.prompt) <= max_prompt_chars
    ]
    if not rows:
        raise ParameterError("study", study, "a study with validation prompts that fit max_prompt_chars")
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
    table: pd.DataFrame, selected_checkpoint: float = SELECTED_CHECKPOINT
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
