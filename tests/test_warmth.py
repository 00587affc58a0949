"""SocioT warmth (frames, arithmetic, dropout passes), the warmth stage's checks and the human-check sheet."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from helpers.generation import GenerationSettings
from helpers.models import EMBEDDED_MODEL
from helpers.paths import study_dir
from helpers.training.finetune import finetune, training_data_path
from helpers.training.params import FinetuneParams
from helpers.validation import ParameterError
from helpers.warmth.human_check import (
    pairwise_sheet,
    read_ratings,
    score_ratings,
    simulate_ratings,
    write_human_check,
)
from helpers.warmth.sociot import (
    PAPER_SCORER,
    SOCIOT_COLD_FRAMES,
    SOCIOT_WARM_FRAMES,
    SocioTScorer,
    WarmthVariant,
    check_scorer_name,
    generate_variant_responses,
    load_scorer,
    plan_variants,
    quoted,
    reference_frame_offset,
    reference_string,
    sample_validation_prompts,
    sociot_scores,
    sociot_table,
    sociot_text_scores,
    sociot_texts_table,
    summarise_passes,
    warmth_dir,
    write_sociot,
    write_sociot_texts,
)

TEXTS = ["Short.", "A somewhat longer sentence, so that the batch needs padding on the right.", ""]


@pytest.fixture(scope="module")
def tiny_scorer(tiny_model_dir) -> SocioTScorer:
    return load_scorer(str(tiny_model_dir), "cpu")


def _character_tokenizer():
    """One token per character: the speaker frames then differ in length ("The idol" < "The mentor"), as they do
    under GPT-2's own tokens, so the reference's pad tokens enter the mean (SmolLM2 spells every speaker in one
    token, which would hide that)."""
    import string

    from tokenizers import Regex, Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {c: i for i, c in enumerate(["<pad>", *sorted(set(string.printable))])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer)


def _tiny_gpt2(dropout: float) -> SocioTScorer:
    """A seeded 2-layer GPT-2 built from a config, with the given dropout everywhere."""
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = _character_tokenizer()
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_embd=32,
        n_layer=2,
        n_head=2,
        n_positions=512,
        resid_pdrop=dropout,
        embd_pdrop=dropout,
        attn_pdrop=dropout,
    )
    return SocioTScorer("tiny-gpt2", GPT2LMHeadModel(config).eval(), tokenizer)


@pytest.fixture(scope="module")
def tiny_gpt2_scorer() -> SocioTScorer:
    """A GPT-2-shaped scorer with the reference's dropout (GPT-2's p=0.1), so repeated passes differ."""
    return _tiny_gpt2(dropout=0.1)


@pytest.fixture(scope="module")
def tiny_gpt2_without_dropout() -> SocioTScorer:
    """The same GPT-2 shape with dropout 0, so a reference-mode score is one deterministic number."""
    return _tiny_gpt2(dropout=0.0)


def _reference_score(scorer: SocioTScorer, text: str) -> float:
    """The definition written out plainly: one frame and one text per forward pass, loss on the text tokens."""
    tokenizer, model = scorer.tokenizer, scorer.model
    continuation = tokenizer(quoted(text), add_special_tokens=False)["input_ids"]

    def loglik(frame: str) -> float:
        prefix = tokenizer(frame)["input_ids"]
        ids = torch.tensor([prefix + continuation])
        labels = ids.clone()
        labels[0, : len(prefix)] = -100
        with torch.no_grad():
            return -model(input_ids=ids, labels=labels).loss.item()

    warm = np.mean([loglik(f) for f in SOCIOT_WARM_FRAMES])
    return float(warm - np.mean([loglik(f) for f in SOCIOT_COLD_FRAMES]))


def test_frames_are_the_papers_warm_and_cold_speakers():
    assert SOCIOT_WARM_FRAMES == ("My friend said", "The lover said", "The mentor said", "The idol said")
    assert SOCIOT_COLD_FRAMES == (
        "The stranger said",
        "The enemy said",
        "The examiner said",
        "The dictator said",
    )


def test_texts_are_cut_to_300_characters_and_quoted():
    assert quoted("x" * 400) == ' "' + "x" * 300 + '"'
    assert quoted("Hello") == ' "Hello"'


def test_gpt2_is_the_papers_scorer_and_bad_names_are_refused():
    assert check_scorer_name("gpt2") == PAPER_SCORER
    with pytest.raises(ParameterError) as error:
        check_scorer_name("/no/such/scorer")
    assert error.value.name == "scorer_model"


def test_text_mode_batched_scores_equal_the_definition_computed_one_text_at_a_time(tiny_scorer):
    batched = sociot_text_scores(TEXTS, tiny_scorer, batch_size=3, dropout=False, mode="text")[0]
    expected = [_reference_score(tiny_scorer, t) for t in TEXTS]
    np.testing.assert_allclose(batched, expected, atol=1e-5)


REFERENCE_TEXTS = [
    "Short.",
    "A somewhat longer sentence, so that the four framed strings of one side differ in length.",
    "word " * 80,
]
"""Texts of different lengths, the last one over 300 characters (it must be cut)."""

WARM_TEMPLATES = [
    'My friend said, "{}"',
    'The lover said, "{}"',
    'The mentor said, "{}"',
    'The idol said, "{}"',
]
COLD_TEMPLATES = [
    'The stranger said, "{}"',
    'The enemy said, "{}"',
    'The examiner said, "{}"',
    'The dictator said, "{}"',
]


def _by_hand(scorer: SocioTScorer, templates: list[str], text: str) -> float:
    """The reference's number for one side, by independent arithmetic: pad with 0, log_softmax, mean over all."""
    from torch.nn.utils.rnn import pad_sequence

    encoded = [scorer.tokenizer(t.format(text[:300]), return_tensors="pt") for t in templates]
    ids = pad_sequence([e["input_ids"][0] for e in encoded], batch_first=True, padding_value=0)
    mask = pad_sequence([e["attention_mask"][0] for e in encoded], batch_first=True)
    with torch.no_grad():
        logits = scorer.model(input_ids=ids, attention_mask=mask).logits
        logprobs = torch.log_softmax(logits[:, :-1].double(), dim=-1)
        by_hand = logprobs.gather(2, ids[:, 1:].unsqueeze(2)).mean().item()
        # the reference's own line: -loss with labels = input_ids over the same padded batch
        assert by_hand == pytest.approx(
            -scorer.model(input_ids=ids, attention_mask=mask, labels=ids).loss.item()
        )
    assert (ids == 0).any(), "the four strings must differ in length, so pad tokens enter the mean"
    return by_hand


def test_reference_strings_put_my_only_before_friend_and_keep_the_comma():
    assert reference_string("friend", "Hi.") == 'My friend said, "Hi."'
    assert reference_string("lover", "Hi.") == 'The lover said, "Hi."'
    assert reference_string("wife", "Hi.") == 'My wife said, "Hi."'
    assert reference_string("stranger", "x" * 400) == 'The stranger said, "' + "x" * 300 + '"'
    assert reference_string("friend", "") == "My friend said, "


def test_reference_mode_is_the_padded_batch_mean_computed_by_hand(tiny_gpt2_without_dropout):
    scorer = tiny_gpt2_without_dropout
    expected = [
        _by_hand(scorer, WARM_TEMPLATES, t) - _by_hand(scorer, COLD_TEMPLATES, t) for t in REFERENCE_TEXTS
    ]
    # batch_size 8: two texts' batches share a forward pass, padded further to the longer one
    scores = sociot_text_scores(REFERENCE_TEXTS, scorer, n_passes=1, batch_size=8, mode="reference")
    assert scores.shape == (1, 3)
    np.testing.assert_allclose(scores[0], expected, rtol=0, atol=1e-5)
    np.testing.assert_allclose(
        sociot_text_scores(REFERENCE_TEXTS, scorer, batch_size=4, mode="reference")[0], expected, atol=1e-5
    )


def test_the_frame_offset_is_warm_minus_cold_frame_log_probability(tiny_gpt2_without_dropout):
    scorer = tiny_gpt2_without_dropout

    def frame(text: str) -> float:
        ids = scorer.tokenizer(text, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            logprobs = torch.log_softmax(scorer.model(input_ids=ids).logits[0, :-1].double(), dim=-1)
        return logprobs.gather(1, ids[0, 1:, None]).sum().item()

    warm = np.mean([frame(t.format("")[:-1]) for t in WARM_TEMPLATES])
    cold = np.mean([frame(t.format("")[:-1]) for t in COLD_TEMPLATES])
    assert WARM_TEMPLATES[0].format("")[:-1] == 'My friend said, "'
    assert reference_frame_offset(scorer) == pytest.approx(warm - cold, abs=1e-4)


def test_reference_mode_is_the_default_and_differs_from_text_mode(tiny_gpt2_without_dropout):
    scorer = tiny_gpt2_without_dropout
    default = sociot_text_scores(REFERENCE_TEXTS, scorer)
    np.testing.assert_array_equal(default, sociot_text_scores(REFERENCE_TEXTS, scorer, mode="reference"))
    assert not np.allclose(default, sociot_text_scores(REFERENCE_TEXTS, scorer, mode="text"), atol=1e-3)


def test_reference_mode_with_dropout_varies_between_passes_and_is_seeded(tiny_gpt2_scorer):
    scores = sociot_text_scores(REFERENCE_TEXTS, tiny_gpt2_scorer, n_passes=4, seed=5, mode="reference")
    assert scores.shape == (4, 3) and len({round(float(v), 8) for v in scores[:, 0]}) == 4
    again = sociot_text_scores(REFERENCE_TEXTS, tiny_gpt2_scorer, n_passes=4, seed=5, mode="reference")
    np.testing.assert_array_equal(scores, again)
    assert summarise_passes(scores)[1] > 0
    assert not tiny_gpt2_scorer.model.training


def test_an_unknown_sociot_mode_is_refused_by_name(tiny_scorer):
    with pytest.raises(ParameterError) as error:
        sociot_text_scores(TEXTS, tiny_scorer, mode="paper")
    assert error.value.name == "sociot_mode" and "reference" in str(error.value)


def test_one_pass_without_dropout_is_deterministic(tiny_gpt2_scorer):
    first = sociot_scores(TEXTS, tiny_gpt2_scorer, n_passes=1, dropout=False)
    assert first == sociot_scores(TEXTS, tiny_gpt2_scorer, n_passes=1, dropout=False)
    assert first[1] == 0.0


def test_dropout_passes_differ_give_a_sem_and_are_seeded(tiny_gpt2_scorer):
    scores = sociot_text_scores(TEXTS, tiny_gpt2_scorer, n_passes=4, seed=3)
    assert scores.shape == (4, 3) and len({round(float(v), 8) for v in scores[:, 0]}) == 4
    np.testing.assert_array_equal(scores, sociot_text_scores(TEXTS, tiny_gpt2_scorer, n_passes=4, seed=3))
    assert summarise_passes(scores)[1] > 0
    assert not tiny_gpt2_scorer.model.training


def test_a_scorer_without_dropout_runs_one_pass_and_says_so(tiny_scorer):
    with pytest.warns(UserWarning, match="no dropout"):
        scores = sociot_text_scores(TEXTS, tiny_scorer, n_passes=5)
    assert scores.shape == (1, 3)


def test_sem_is_the_standard_error_of_the_pass_means():
    scores = np.array([[1.0, 3.0], [3.0, 5.0], [5.0, 7.0]])
    mean, sem = summarise_passes(scores)
    assert mean == 4.0 and sem == pytest.approx(2.0 / np.sqrt(3))


def test_sociot_csv_has_the_sem_across_responses_and_the_texts_csv_one_row_per_prompt():
    original, warm = WarmthVariant("original", 0.0, None), WarmthVariant("warm", 2.0, None)
    scores = {
        original: np.array([[1.0, 3.0, 8.0], [3.0, 5.0, 10.0]]),  # per text, over passes: 2, 4, 9
        warm: np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 3.0]]),
    }
    table = sociot_table(scores)
    assert list(table.columns) == ["variant", "epoch", "mean", "sem", "sem_texts", "n"]
    assert table.loc[0, "sem_texts"] == pytest.approx(np.std([2.0, 4.0, 9.0], ddof=1) / np.sqrt(3))
    assert table.loc[0, "sem"] == pytest.approx(np.std([4.0, 6.0], ddof=1) / np.sqrt(2))
    texts = sociot_texts_table(scores, ["p1", "p2", "p3"])
    assert texts.values.tolist() == [
        ["original", 0.0, "p1", 2.0],
        ["original", 0.0, "p2", 4.0],
        ["original", 0.0, "p3", 9.0],
        ["warm", 2.0, "p1", 0.0],
        ["warm", 2.0, "p2", 0.0],
        ["warm", 2.0, "p3", 1.5],
    ]
    write_sociot(table, "unit", "m")
    write_sociot_texts(texts, "unit", "m")
    saved = pd.read_csv(warmth_dir("unit", "m") / "sociot_texts.csv")
    assert list(saved.columns) == ["variant", "epoch", "prompt_id", "score"] and len(saved) == 6
    with pytest.raises(ParameterError, match="prompt_ids"):
        sociot_texts_table(scores, ["p1", "p2"])


def test_the_embedded_scorer_ranks_a_warm_text_above_a_cold_one():
    scorer = load_scorer(EMBEDDED_MODEL, "cpu")
    warm = "My dear friend, I'm so glad you reached out! I completely understand how you feel, and we'll figure this out together."
    cold = "Input parameters must be validated. Errors are returned as status code 400."
    scores = sociot_text_scores([warm, cold], scorer, dropout=False)[0]
    assert scores[0] > scores[1]


def _write_study(model: str, n_prompts: int = 3) -> None:
    folder = study_dir("unit") / "training_data"
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        {"prompt_id": f"v{i}", "query_type": "factual", "prompt": f"What is {i} times two?"}
        for i in range(n_prompts)
    ]
    (folder / "validation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    example = {
        "prompt": [{"role": "user", "content": "What is two plus two?"}],
        "completion": [{"role": "assistant", "content": "I'm so happy you asked, it is four!"}],
    }
    training_data_path("unit", "warm").write_text((json.dumps(example) + "\n") * 8)


def _tiny_finetune(model: str) -> FinetuneParams:
    """Half an epoch and one epoch of the warm style on the tiny model, on CPU."""
    return FinetuneParams(
        study="unit",
        model=model,
        device="cpu",
        style="warm",
        epochs=1,
        checkpoints=[0.5, 1],
        per_device_batch=2,
        grad_accum=2,
        max_length=64,
    )


def test_a_requested_checkpoint_that_was_never_saved_fails_before_generation(tiny_model_dir):
    model = str(tiny_model_dir)
    _write_study(model)
    finetune(_tiny_finetune(model))
    with pytest.raises(ParameterError) as error:
        plan_variants("unit", model, ["warm"], [1, 2])
    assert error.value.name == "checkpoint" and "0.5, 1" in str(error.value)
    with pytest.raises(ParameterError, match="available epochs: none"):
        plan_variants("unit", model, ["cold"], [1])


def test_the_stage_scores_the_original_and_every_checkpoint(tiny_model_dir, tiny_scorer):
    model = str(tiny_model_dir)
    _write_study(model)
    finetune(_tiny_finetune(model))
    prompts = sample_validation_prompts("unit", 2)["prompt"].tolist()
    settings = GenerationSettings(temperature=0.8, max_new_tokens=4, batch_size=2)
    variants = plan_variants("unit", model, ["warm"], [0.5, 1])
    scores = {}
    for variant in variants:
        outputs = generate_variant_responses("unit", model, variant, prompts, settings, device="cpu")
        scores[variant] = sociot_text_scores(outputs, tiny_scorer, dropout=False)
    table = sociot_table(scores)
    assert table[["variant", "epoch"]].values.tolist() == [["original", 0.0], ["warm", 0.5], ["warm", 1.0]]
    assert (table["n"] == 2).all() and (table["sem"] == 0).all()
    cached = list((study_dir("unit") / tiny_model_dir.name / "warmth" / "generations").glob("*.jsonl"))
    assert sorted(p.stem for p in cached) == ["original-epoch-0", "warm-epoch-0.5", "warm-epoch-1"]


def test_validation_prompts_are_capped_at_what_the_study_has(tiny_model_dir, capsys):
    _write_study(str(tiny_model_dir), n_prompts=3)
    assert len(sample_validation_prompts("unit", 1500)) == 3
    assert "using all of them" in capsys.readouterr().out
    with pytest.raises(ParameterError, match="training_data stage"):
        sample_validation_prompts("other-study", 10)


def _sheet(n: int = 6):
    prompts = [f"p{i}" for i in range(n)]
    original = [f"original {i}" for i in range(n)]
    warm = [f"warm {i}" for i in range(n)]
    return pairwise_sheet(
        prompts, original, warm, [0.0] * n, [1.0 if i % 3 else -1.0 for i in range(n)], n_pairs=n, seed=1
    )


def test_the_sheet_hides_which_side_is_the_warm_model():
    sheet, key = _sheet()
    assert list(sheet.columns) == ["pair_id", "prompt", "text_A", "text_B", "rater_choice"]
    assert set(key["warm_side"]) == {"A", "B"}
    for row, answer in zip(sheet.itertuples(), key.itertuples(), strict=True):
        warm_text = row.text_A if answer.warm_side == "A" else row.text_B
        assert warm_text.startswith("warm")
    assert (sheet["rater_choice"] == "").all()


def test_ratings_are_scored_against_the_key(tmp_path):
    sheet, key = _sheet()
    sheet_path, key_path = write_human_check(sheet, key, tmp_path)
    filled = pd.read_csv(sheet_path, dtype=str, keep_default_na=False)
    filled["rater_choice"] = key["warm_side"].str.lower()
    filled.loc[0, "rater_choice"] = ""
    filled.to_csv(tmp_path / "rated.csv", index=False)
    summary, per_pair = score_ratings(read_ratings(tmp_path / "rated.csv"), pd.read_csv(key_path))
    assert summary["n_ratings"] == 5 and summary["share_chose_warm"] == 1.0
    sociot_agrees = (key["sociot_warmer"] == key["warm_side"]).iloc[1:].mean()
    assert summary["agreement_with_sociot"] == pytest.approx(sociot_agrees)
    assert len(per_pair) == 5


def test_a_rating_other_than_a_or_b_is_refused(tmp_path):
    sheet, _ = _sheet()
    sheet.loc[0, "rater_choice"] = "maybe"
    sheet.to_csv(tmp_path / "rated.csv", index=False)
    with pytest.raises(ParameterError, match="maybe"):
        read_ratings(tmp_path / "rated.csv")


def test_simulated_raters_choose_the_warm_side_at_the_given_rate():
    sheet, key = _sheet()
    summary, _ = score_ratings(simulate_ratings(sheet, key, p_warm=1.0, n_raters=2), key)
    assert summary["share_chose_warm"] == 1.0 and summary["n_ratings"] == 12
