"""SocioT warmth: how much more likely a text is when a warm speaker says it than when a cold one does.

The paper measures the warmth of each checkpoint's answers to 1,500 held-out ShareGPT prompts with the SocioT
warmth score of Cheng, Yu & Jurafsky ("HumT DumT", ACL 2025) and plots it against training epochs (Fig. 1a;
docs/study.md, "Measuring warmth"). A text is cut to its first 300 characters and put in double quotes after a
speaker frame; its score is the log-likelihood under GPT-2 after the warm speakers (friend, lover, mentor, idol)
minus the same after the cold ones (stranger, enemy, examiner, dictator). Higher is warmer.

Two modes (the parameter ``sociot_mode``):

- ``reference`` (the paper's, the default): exactly what the authors' released HumT/DumT code computes, which is
  what puts the paper's raw scores on their scale (originals about 0.011-0.013). Each frame word makes the string
  ``My {w} said, "{text}"`` for w in friend/partner/girlfriend/boyfriend/husband/wife, otherwise
  ``The {w} said, "{text}"`` (so of the warm words only "friend" takes "My"; note the comma). The four warm
  strings of one text are tokenised, right-padded together with id 0 (``torch.nn.utils.rnn.pad_sequence``) and
  run with ``labels = input_ids``: ``-loss`` is the mean token log-probability over the whole padded batch, frame
  tokens and the unmasked pad tokens included. The cold side likewise; score = warm - cold. The model runs in
  train mode (dropout on) and the measurement is repeated ``n_passes`` times (paper: 100).
- ``text``: a cleaner alternative that lands on another scale: the mean log-probability of the quoted text's own
  tokens after the frames "My friend said", "The lover said", ... (no comma), each text scored on its own with
  padding masked, averaged over the four frames of a side. Not comparable with the paper's numbers.

In both modes a pass holds one score per text; :func:`summarise_passes` gives the mean over texts averaged over
passes and its SEM over passes, which is the scorer's dropout noise, not the sampling error of the responses; the
SEM across responses (the error bars of the paper's Fig. 1a) is ``sem_texts`` in ``sociot.csv``. The scoring LM
is a parameter: ``gpt2`` (the paper's) wherever the Hugging Face hub is reachable; offline the demo uses the
embedded SmolLM2 — not GPT-2, so its numbers show the direction of a change, not the paper's scale. SmolLM2 has
no dropout, so its repeated passes would be identical: one pass is run and its SEM over passes is 0.
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, get_args

import numpy as np
import pandas as pd
import torch
from scipy import stats
from torch.nn.utils.rnn import pad_sequence

from helpers.checkpoints import checkpoint_identity, format_epoch, require_checkpoints
from helpers.generation import GenerationSettings
from helpers.models import EMBEDDED_MODEL, check_model_name, choose_device, resolve_model_path
from helpers.paths import model_slug, study_dir
from helpers.storage import atomic_write_csv
from helpers.training.conversations import load_validation_prompts
from helpers.validation import ParameterError, check_choice, check_positive_int
from helpers.vocabulary import SELECTED_CHECKPOINT, SocioTMode

#: ``reference``: the authors' released computation (the paper's scale); ``text``: text tokens only.
SOCIOT_MODES: tuple[str, ...] = get_args(SocioTMode)

SOCIOT_WARM_WORDS = ("friend", "lover", "mentor", "idol")
"""Warm speakers of SocioT warmth (Cheng et al. 2025, as used by the paper; docs/study.md)."""

SOCIOT_COLD_WORDS = ("stranger", "enemy", "examiner", "dictator")
"""Cold speakers of SocioT warmth."""

REFERENCE_MY_WORDS = ("friend", "partner", "girlfriend", "boyfriend", "husband", "wife")
"""Speakers the reference code introduces with "My"; every other speaker gets "The"."""

REFERENCE_PAD_ID = 0
"""The reference pads with ``pad_sequence``'s default 0 and leaves those tokens in the loss."""

REFERENCE_MAX_TOKENS = 1024
"""The reference truncates each framed string to GPT-2's context of 1,024 tokens."""


def _speaker(word: str) -> str:
    """ "My friend" or "The stranger", as the reference code introduces each speaker."""
    return f"{'My' if word in REFERENCE_MY_WORDS else 'The'} {word}"


SOCIOT_WARM_FRAMES = tuple(f"{_speaker(w)} said" for w in SOCIOT_WARM_WORDS)
"""Warm frames of the ``text`` mode: "My friend said", "The lover said", "The mentor said", "The idol said"."""

SOCIOT_COLD_FRAMES = tuple(f"{_speaker(w)} said" for w in SOCIOT_COLD_WORDS)
"""Cold frames of the ``text`` mode."""

SOCIOT_MAX_CHARS = 300
"""Texts are cut to their first 300 characters before scoring."""

PAPER_SCORER = "openai-community/gpt2"
"""GPT-2 (124M), the paper's scoring LM, under its current hub id; ``gpt2`` is accepted as an alias."""

SOCIOT_COLUMNS = ["variant", "epoch", "mean", "sem", "sem_texts", "n"]
SOCIOT_TEXT_COLUMNS = ["variant", "epoch", "prompt_id", "score"]


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
    """The scored continuation of a ``text``-mode frame: a space, then the first 300 characters in double quotes."""
    return f' "{text[:SOCIOT_MAX_CHARS]}"'


def reference_string(word: str, text: str) -> str:
    """One framed string exactly as the reference code builds it: ``My friend said, "<text>"``.

    The text is cut to its first 300 characters; an empty text leaves the frame alone (``My friend said, ``),
    as the reference's ``f'"{prompt}"' if prompt else ""`` does.
    """
    text = text[:SOCIOT_MAX_CHARS]
    return f"{_speaker(word)} said, " + (f'"{text}"' if text else "")


def _mean_token_loglik(scorer: SocioTScorer, frame_ids: list[int], text_ids: list[list[int]]) -> torch.Tensor:
    """``text`` mode: mean log-probability of each text's tokens after the frame, one forward pass for the batch."""
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


def _text_mode_pass(scorer: SocioTScorer, texts: Sequence[str], batch_size: int) -> Callable[[], np.ndarray]:
    """One ``text``-mode pass: each text under each frame, ``batch_size`` texts per forward pass."""
    tokenizer = scorer.tokenizer
    text_ids = [tokenizer(quoted(t), add_special_tokens=False)["input_ids"] for t in texts]
    frames = {f: tokenizer(f)["input_ids"] for f in SOCIOT_WARM_FRAMES + SOCIOT_COLD_FRAMES}
    # Texts of similar length share a forward pass (less padding); scores go back to the texts' order.
    order = np.argsort([len(ids) for ids in text_ids], kind="stable")
    by_length = [text_ids[i] for i in order]

    def one_pass() -> np.ndarray:
        by_frame = {}
        for frame, ids in frames.items():
            chunks = [
                _mean_token_loglik(scorer, ids, by_length[i : i + batch_size])
                for i in range(0, len(by_length), batch_size)
            ]
            scores = np.empty(len(text_ids))
            scores[order] = torch.cat(chunks).cpu().numpy()
            by_frame[frame] = scores
        warm = np.mean([by_frame[f] for f in SOCIOT_WARM_FRAMES], axis=0)
        return warm - np.mean([by_frame[f] for f in SOCIOT_COLD_FRAMES], axis=0)

    return one_pass


def reference_batch(tokenizer: Any, words: Sequence[str], text: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch the reference scores for one text and one side: the framed strings right-padded with id 0.

    Returns ``input_ids`` and ``attention_mask`` (padded with 0 too), as ``pad_sequence`` builds them there.
    """
    encoded = [
        tokenizer(
            reference_string(w, text), truncation=True, max_length=REFERENCE_MAX_TOKENS, return_tensors="pt"
        )
        for w in words
    ]
    input_ids = pad_sequence(
        [e["input_ids"][0] for e in encoded], batch_first=True, padding_value=REFERENCE_PAD_ID
    )
    attention = pad_sequence([e["attention_mask"][0] for e in encoded], batch_first=True)
    return input_ids, attention


def _reference_logliks(
    scorer: SocioTScorer, batches: Sequence[tuple[torch.Tensor, torch.Tensor]]
) -> torch.Tensor:
    """``-loss`` of each text's padded batch (``labels = input_ids``), several texts in one forward pass.

    The texts' batches are stacked and padded further to a common width with the same id 0 and mask 0. A causal
    model's outputs at a position do not depend on later positions, so each text keeps exactly its own batch's
    log-probabilities; its mean is then taken over its own batch's width only, pad targets included, as the
    reference's loss does.
    """
    widths = [ids.shape[1] for ids, _ in batches]
    width = max(widths)
    device = next(scorer.model.parameters()).device
    input_ids = torch.cat(
        [
            torch.nn.functional.pad(ids, (0, width - ids.shape[1]), value=REFERENCE_PAD_ID)
            for ids, _ in batches
        ]
    ).to(device)
    attention = torch.cat(
        [torch.nn.functional.pad(mask, (0, width - mask.shape[1]), value=0) for _, mask in batches]
    ).to(device)
    logits = scorer.model(input_ids=input_ids, attention_mask=attention).logits.float()
    token_logprobs = -torch.nn.functional.cross_entropy(
        logits[:, :-1].transpose(1, 2), input_ids[:, 1:], reduction="none"
    )
    rows = [ids.shape[0] for ids, _ in batches]
    row_widths = torch.tensor(np.repeat(widths, rows), device=device).unsqueeze(1)
    in_batch = torch.arange(width - 1, device=device).unsqueeze(0) < row_widths - 1
    per_row = (token_logprobs * in_batch).sum(dim=1)
    sums = torch.stack([chunk.sum() for chunk in per_row.split(rows)])
    counts = torch.tensor([n * (w - 1) for n, w in zip(rows, widths, strict=True)], device=device)
    return sums / counts


def _reference_pass(scorer: SocioTScorer, texts: Sequence[str], batch_size: int) -> Callable[[], np.ndarray]:
    """One ``reference``-mode pass: warm batch minus cold batch per text, about ``batch_size`` strings per forward."""
    sides = {
        side: [reference_batch(scorer.tokenizer, words, t) for t in texts]
        for side, words in (("warm", SOCIOT_WARM_WORDS), ("cold", SOCIOT_COLD_WORDS))
    }
    per_forward = max(1, batch_size // len(SOCIOT_WARM_WORDS))

    def one_pass() -> np.ndarray:
        side_scores = {
            side: torch.cat(
                [
                    _reference_logliks(scorer, batches[i : i + per_forward])
                    for i in range(0, len(batches), per_forward)
                ]
            )
            .cpu()
            .numpy()
            for side, batches in sides.items()
        }
        return side_scores["warm"] - side_scores["cold"]

    return one_pass


def reference_frame_offset(scorer: SocioTScorer) -> float:
    """Warm minus cold log-probability (nats) of the frame tokens the reference scores with every answer.

    The frame, ``My friend said, "`` and so on, comes before the answer, so under a causal LM its tokens'
    log-probabilities are the same whatever the answer says; the reference computation still averages them into
    each side's mean. The mean over the four warm frames of their summed log-probability, minus the same over the
    cold frames, is this offset: spread over an answer of ``n`` tokens it adds about ``offset / (frame + n - 1)``
    to the answer's score, so with a positive offset a shorter answer scores warmer for being short. (Pad
    tokens, which GPT-2's frames of unequal length add, are left out.) Computed in eval mode.
    """
    scorer.model.eval()
    device = next(scorer.model.parameters()).device

    def frame_logprob(word: str) -> float:
        ids = torch.tensor([scorer.tokenizer(f'{_speaker(word)} said, "')["input_ids"]], device=device)
        with torch.no_grad():
            logprobs = torch.log_softmax(scorer.model(input_ids=ids).logits[0, :-1].float(), dim=-1)
        return float(logprobs.gather(1, ids[0, 1:, None]).sum())

    warm = np.mean([frame_logprob(w) for w in SOCIOT_WARM_WORDS])
    return float(warm - np.mean([frame_logprob(w) for w in SOCIOT_COLD_WORDS]))


def sociot_text_scores(
    texts: Sequence[str],
    scorer: SocioTScorer,
    n_passes: int = 1,
    batch_size: int = 16,
    seed: int = 0,
    dropout: bool = True,
    mode: SocioTMode = "reference",
) -> np.ndarray:
    """SocioT warmth of every text in every pass: an array of shape ``(passes, len(texts))``.

    ``mode`` is ``reference`` (the authors' computation, the paper's scale) or ``text`` (text tokens only); see
    the module docstring. With ``dropout`` the model runs in training mode (under ``no_grad``), seeded per pass,
    as the reference implementation does; without it, or when the scorer has no dropout, one deterministic pass
    is run. ``batch_size`` is the number of strings per forward pass.
    """
    if not texts:
        raise ParameterError("texts", [], "at least one text to score")
    check_positive_int("n_passes", n_passes)
    check_positive_int("batch_size", batch_size)
    check_choice("sociot_mode", mode, SOCIOT_MODES)
    noisy = dropout and scorer.has_dropout
    if dropout and not scorer.has_dropout and n_passes > 1:
        warnings.warn(
            f"The scorer {scorer.name!r} has no dropout: its {n_passes} passes would be identical, so one pass is "
            "run and the SEM over passes is 0.",
            stacklevel=2,
        )
    passes = n_passes if noisy else 1
    one_pass = (_reference_pass if mode == "reference" else _text_mode_pass)(scorer, texts, batch_size)
    scorer.model.train(noisy)
    scores = np.zeros((passes, len(texts)))
    try:
        with torch.no_grad():
            for p in range(passes):
                torch.manual_seed(seed + p)
                scores[p] = one_pass()
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
    mode: SocioTMode = "reference",
) -> tuple[float, float]:
    """Mean SocioT warmth of a set of texts and its SEM over the dropout passes (paper: 100 passes)."""
    scorer = scorer_model if isinstance(scorer_model, SocioTScorer) else load_scorer(scorer_model, device)
    return summarise_passes(sociot_text_scores(texts, scorer, n_passes, batch_size, seed, dropout, mode))


def summarise_passes(scores: np.ndarray) -> tuple[float, float]:
    """Mean over passes of each pass's mean over texts, and the standard error of that mean over passes."""
    per_pass = scores.mean(axis=1)
    return float(per_pass.mean()), float(stats.sem(per_pass)) if len(per_pass) > 1 else 0.0


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
    backend: str = "hf",
    tensor_parallel_size: int = 1,
) -> list[str]:
    """Answers of one variant to the validation prompts, cached under ``warmth/generations/``.

    ``backend`` is ``hf`` (the project's decode loop in ``helpers.generation``, the CPU path: the model and
    adapter loaded for this variant) or ``vllm`` (one engine per base model serves the original and every
    checkpoint as a LoRA request). Both write the same cache records, and the vLLM backend keys its answers apart
    from the ``hf`` backend's.
    """
    from helpers.backends import answer_function

    model_id = (
        model
        if variant.adapter is None
        else f"{model}+{variant.label}#{checkpoint_identity(variant.adapter)}"
    )
    cache = warmth_dir(study, model) / "generations" / f"{variant.label}.jsonl"
    answer = answer_function(
        model, variant.adapter, model_id, settings, backend, device, tensor_parallel_size
    )
    return answer(prompts, cache, variant.label)


def sociot_table(scores: dict[WarmthVariant, np.ndarray]) -> pd.DataFrame:
    """Rows variant, epoch, mean, sem, sem_texts, n for ``sociot.csv`` (the original appears once, at epoch 0).

    ``sem`` is over the dropout passes (what the reference code reports); ``sem_texts`` is over the responses,
    each response's score averaged over passes: the error bars of the paper's Fig. 1a ("SEM across responses").
    """
    rows = []
    for variant, matrix in scores.items():
        mean, sem = summarise_passes(matrix)
        per_text = matrix.mean(axis=0)
        rows.append(
            {
                "variant": variant.variant,
                "epoch": variant.epoch,
                "mean": mean,
                "sem": sem,
                "sem_texts": float(stats.sem(per_text)) if len(per_text) > 1 else float("nan"),
                "n": matrix.shape[1],
            }
        )
    return pd.DataFrame(rows, columns=SOCIOT_COLUMNS)


def sociot_texts_table(scores: dict[WarmthVariant, np.ndarray], prompt_ids: Sequence[str]) -> pd.DataFrame:
    """Rows variant, epoch, prompt_id, score: each response's SocioT warmth, averaged over passes.

    Kept so that the manipulation check can pair the variants' answers to the same prompt
    (:mod:`helpers.warmth.manipulation`).
    """
    frames = []
    for variant, matrix in scores.items():
        if matrix.shape[1] != len(prompt_ids):
            raise ParameterError(
                "prompt_ids",
                f"{len(prompt_ids)} ids",
                f"one per scored text of {variant.label} ({matrix.shape[1]})",
            )
        frames.append(
            pd.DataFrame(
                {
                    "variant": variant.variant,
                    "epoch": variant.epoch,
                    "prompt_id": list(prompt_ids),
                    "score": matrix.mean(axis=0),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)[SOCIOT_TEXT_COLUMNS]


def write_sociot(table: pd.DataFrame, study: str, model: str) -> Path:
    """Write ``results/<study>/<model_slug>/warmth/sociot.csv`` atomically."""
    return atomic_write_csv(table[SOCIOT_COLUMNS], warmth_dir(study, model) / "sociot.csv")


def write_sociot_texts(texts: pd.DataFrame, study: str, model: str) -> Path:
    """Write ``results/<study>/<model_slug>/warmth/sociot_texts.csv`` (one row per variant and prompt) atomically."""
    return atomic_write_csv(texts[SOCIOT_TEXT_COLUMNS], warmth_dir(study, model) / "sociot_texts.csv")


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
