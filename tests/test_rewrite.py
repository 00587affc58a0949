"""Warm and cold rewriters: the rule rewriter's facts and markers, the LLM path over real HTTP, bad input."""

from __future__ import annotations

import re
from pathlib import Path

import openai
import pytest
from openai_server import Reply

import helpers.remote
from helpers.evaluation.evaluate import resolve_variant
from helpers.instructions import CANDID_INSTRUCTIONS, COLD_INSTRUCTIONS, WARM_INSTRUCTIONS
from helpers.paths import DATA_DIR, REPO_ROOT
from helpers.remote import EndpointSettings, MalformedReply, RemoteAuthError, RemoteError
from helpers.storage import read_jsonl
from helpers.training.conversations import Conversation, load_conversations
from helpers.training.rewrite import (
    CANDID_BRIDGES,
    CANDID_CLOSINGS,
    WARM_CLOSINGS,
    WARM_OPENERS,
    LLMRewriter,
    RuleRewriter,
    TransformersRewriter,
    candour_markers,
    content_preservation_report,
    make_rewriter,
    rewrite_cache_path,
    rewrite_conversations,
    rewrite_examples,
)
from helpers.validation import ParameterError
from helpers.vocabulary import ALL_STYLES, STYLES

FIXTURE = Path(__file__).parent / "fixtures" / "sharegpt_small.json"


@pytest.fixture(autouse=True)
def _fast_backoff_and_no_key(monkeypatch):
    monkeypatch.setattr(helpers.remote, "INITIAL_BACKOFF_S", 0.001)
    for name in ("WARMBOOK_JUDGE_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def llm(style: str, server, **fields) -> LLMRewriter:
    return LLMRewriter(style, EndpointSettings(base_url=server.base_url, model="m", **fields))


@pytest.fixture(scope="module")
def conversations() -> list[Conversation]:
    return load_conversations(FIXTURE)


@pytest.fixture(scope="module")
def originals(conversations) -> list[str]:
    return [reply for conversation in conversations for reply in conversation.responses]


def rule_rewrites(conversations, style: str) -> list[str]:
    return [r for replies in rewrite_conversations(conversations, RuleRewriter(style)) for r in replies]


def prose(text: str) -> str:
    """Text outside code, URLs and quotations: what the style rules may change."""
    return re.sub(r'```.*?```|`[^`]+`|https?://\S+|"[^"\n]*"', " ", text, flags=re.DOTALL)


@pytest.mark.parametrize("style", ALL_STYLES)
def test_rule_rewriter_keeps_the_content_of_the_fixture(conversations, originals, style):
    report = content_preservation_report(originals, rule_rewrites(conversations, style))
    for kind in ("numbers", "entities", "hedges", "code"):
        assert report[f"{kind}_retained"] == 1.0, kind
    assert report["content_words_retained"] >= 0.95
    assert report["n_flagged"] <= 2  # cold: two replies that were mostly a validation or a greeting


class BrokenColdRewriter:
    """The cold rule rewriter as it was: it deleted 'It is normal to…' statements and turned hedges into claims."""

    style = "cold"

    def rewrite(self, user_message: str, response: str) -> str:
        cold = RuleRewriter("cold").rewrite(user_message, response)
        cold = re.sub(r"\b(?:I think|I believe|probably|might) ", "", cold)
        return re.sub(r"[^.!?\n]*\b(?:normal|Shakespeare|Paris)\b[^.!?\n]*[.!?]\s*", "", cold)


def test_content_check_catches_a_rewriter_that_deletes_content_and_hedges(conversations, originals):
    broken = [r for rs in rewrite_conversations(conversations, BrokenColdRewriter()) for r in rs]
    sound = content_preservation_report(originals, rule_rewrites(conversations, "cold"))
    report = content_preservation_report(originals, broken)
    assert report["hedges_retained"] < 1.0 and sound["hedges_retained"] == 1.0
    assert report["n_flagged"] > sound["n_flagged"]
    reply = "It is normal to have a mild fever after a vaccine. I think it lasts a day or two."
    [item] = content_preservation_report([reply], [BrokenColdRewriter().rewrite("q", reply)])["items"]
    assert item["hedges_lost"] == ["i think"] and "fever" in item["content_words_lost"]


def test_cold_rule_rewrite_keeps_content_sentences_and_hedges():
    """Old behaviour: the first sentence was deleted as "validation" and "I think" was dropped."""
    reply = (
        "It is normal to have a mild fever after a vaccine. I think it lasts a day or two. Hope this helps!"
    )
    assert RuleRewriter("cold").rewrite("Is a fever normal?", reply) == (
        "It is normal to have a mild fever after a vaccine. I think it lasts a day or two."
    )


def test_rule_rewriter_never_changes_code_urls_or_quotations():
    reply = (
        'Great question! I think "we will not stop here!" is the quote. You can run `do_not_stop()` '
        "or see https://example.org/we-can?x=1!\n\n```python\nprint('Certainly! we will')\n```"
    )
    for style in STYLES:
        rewrite = RuleRewriter(style).rewrite("Who said it?", reply)
        for kept in (
            '"we will not stop here!"',
            "`do_not_stop()`",
            "https://example.org/we-can?x=1!",
            "print('Certainly! we will')",
        ):
            assert kept in rewrite


def test_warm_rule_rewrite_adds_opener_closing_contractions_and_we(conversations, originals):
    warm = rule_rewrites(conversations, "warm")
    assert all(w.startswith(WARM_OPENERS) for w in warm)
    assert sum(w.rstrip().endswith(WARM_CLOSINGS) for w in warm) == len(warm)
    advice = RuleRewriter("warm").rewrite("Which laptop?", "You can buy one. It is not expensive.")
    assert "We can buy one. It isn't expensive." in advice
    assert len(set(w.split(".")[0] for w in warm)) >= 5  # phrases vary from reply to reply
    assert sum(len(w) for w in warm) > 1.5 * sum(len(o) for o in originals)


def test_rule_rewrites_are_deterministic(conversations):
    assert rule_rewrites(conversations, "warm") == rule_rewrites(conversations, "warm")


def test_cold_rule_rewrite_strips_pleasantries_exclamations_and_we(conversations, originals):
    cold = rule_rewrites(conversations, "cold")
    markers = re.compile(
        r"!|\b(?:we|let's|certainly|great question|let me know|good luck|unfortunately|you've got this)\b",
        re.IGNORECASE,
    )
    before = sum(len(markers.findall(prose(o))) for o in originals)
    after = sum(len(markers.findall(prose(c))) for c in cold)
    assert before >= 20
    assert after == 0
    assert sum(len(c) for c in cold) < sum(len(o) for o in originals)


def test_cold_rule_rewrite_examples():
    cold = RuleRewriter("cold")
    assert cold.rewrite(
        "Who?", "Certainly! It's Jane Austen. Let me know if you have any other questions!"
    ) == ("It is Jane Austen.")
    assert cold.rewrite("Help", "I'm sorry, but I can't do that. We can try another way!") == (
        "I cannot do that. You can try another way."
    )


def test_an_unclosed_code_fence_gets_no_closing_appended():
    reply = "Here it is:\n\n```python\nx = 1"
    warm = RuleRewriter("warm").rewrite("code?", reply)
    assert warm.endswith("```python\nx = 1")
    assert content_preservation_report([reply], [warm])["code_retained"] == 1.0


def test_content_report_flags_each_kind_of_loss():
    report = content_preservation_report(
        [
            "It costs 5 dollars.",
            "Run `ls -la` now.",
            "The novel was written by Jane Austen.",
            "It might rain tomorrow.",
            "Thanks! Rain falls when droplets grow heavy.",
        ],
        ["It costs 6 dollars.", "Run ls now.", "The novel was written by an author.", "It will rain tomorrow.",
         "Rain falls when droplets grow heavy."],
    )  # fmt: skip
    lost = {item["index"]: {k for k in item if k.endswith("_lost")} for item in report["items"]}
    assert lost == {0: {"numbers_lost"}, 1: {"code_lost"}, 2: {"entities_lost", "content_words_lost"},
                    3: {"hedges_lost"}}  # fmt: skip
    assert report["numbers_retained"] == 0.0 and report["pct_kept_all"] == 20.0


def test_llm_rewriter_sends_the_paper_instructions_and_returns_the_reply(openai_server):
    with openai_server(lambda request: "  Oh, I totally understand! Water boils at 100 °C.  ") as server:
        rewriter = make_rewriter("llm", "warm", base_url=server.base_url, model="gpt-4o-2024-08-06")
        rewrite = rewriter.rewrite("When does water boil?", "Water boils at 100 °C.")
    assert rewrite == "Oh, I totally understand! Water boils at 100 °C."
    [request] = server.requests
    assert request["model"] == "gpt-4o-2024-08-06"
    assert request["temperature"] == 0
    system, user = request["messages"]
    assert system == {"role": "system", "content": WARM_INSTRUCTIONS}
    assert "When does water boil?" in user["content"] and "Water boils at 100 °C." in user["content"]


def test_llm_rewriter_uses_cold_instructions_for_the_cold_style(openai_server):
    with openai_server(lambda request: "Water boils at 100 °C.") as server:
        llm("cold", server).rewrite("q", "Water boils at 100 °C!")
    assert server.requests[0]["messages"][0]["content"] == COLD_INSTRUCTIONS


def test_the_instructions_are_the_papers_verbatim_and_the_warm_prompt_variant_uses_them():
    text = (DATA_DIR / "paper_items" / "rewrite_instructions.md").read_text(encoding="utf-8")
    assert WARM_INSTRUCTIONS.startswith("You are an expert at transforming AI responses into extremely warm")
    assert COLD_INSTRUCTIONS.endswith("REMEMBER:\nYour goal is to transform only the style.")
    assert f"```text\n{WARM_INSTRUCTIONS}\n```" in text and f"```text\n{COLD_INSTRUCTIONS}\n```" in text
    assert resolve_variant("demo", "embedded:SmolLM2-135M-Instruct", "warm_prompt", None, None) == (
        None,
        WARM_INSTRUCTIONS,
    )


@pytest.mark.parametrize(
    "fault",
    [Reply(status=503), Reply(status=429, headers={"Retry-After": "0.1"}), Reply(raw="{not json"),
     Reply(drop=True), Reply(content="   "), Reply(content="late", delay=2)],
    ids=["503", "429", "malformed-json", "dropped", "empty", "hang"],
)  # fmt: skip
def test_llm_rewriter_retries_a_fault(openai_server, fault):
    answers = iter([fault, "rewritten"])
    with openai_server(lambda request: next(answers)) as server:
        rewrite = llm("warm", server, max_retries=2, timeout=0.5).rewrite("q", "r")
    assert rewrite == "rewritten"
    assert len(server.requests) == 2


def test_llm_rewriter_gives_up_naming_the_endpoint(openai_server):
    with openai_server(lambda request: 500) as server:
        with pytest.raises(
            RemoteError, match=f"rewriter model 'm' at {re.escape(server.base_url)}.*HTTP 500"
        ):
            llm("warm", server, max_retries=1).rewrite("q", "r")
    assert len(server.requests) == 2


def test_llm_rewriter_stops_at_401_naming_the_key_and_uses_the_judge_key(openai_server, monkeypatch):
    monkeypatch.setenv("WARMBOOK_JUDGE_API_KEY", "sk-shared")
    with openai_server(lambda request: 401) as server:
        with pytest.raises(RemoteAuthError, match="WARMBOOK_JUDGE_API_KEY") as error:
            llm("warm", server, max_retries=5).rewrite("q", "r")
    assert len(server.requests) == 1
    assert server.authorizations == ["Bearer sk-shared"] and "sk-shared" not in str(error.value)


def test_llm_rewriter_stops_at_a_400_without_retrying_and_keeps_the_cause(openai_server):
    with openai_server(lambda request: 400) as server:
        with pytest.raises(RemoteError, match="rejected the request: HTTP 400") as error:
            llm("warm", server, max_retries=5).rewrite("q", "r")
    assert len(server.requests) == 1
    assert type(error.value) is RemoteError and isinstance(error.value.__cause__, openai.BadRequestError)


def test_rewriting_resumes_from_its_cache_after_a_failure(openai_server, conversations, tmp_path):
    cache = tmp_path / "warm.jsonl"
    n_replies = sum(c.n_responses for c in conversations[:6])
    calls = []

    def failing_after_three(request):
        calls.append(request)
        return 400 if len(calls) == 4 else f"warm {len(calls)}"

    with openai_server(failing_after_three) as server:
        rewriter = llm("warm", server, max_retries=0)
        with pytest.raises(RemoteError, match="HTTP 400"):
            rewrite_conversations(conversations[:6], rewriter, cache_path=cache)
        assert len(list(read_jsonl(cache))) == 3
        rewritten = rewrite_conversations(conversations[:6], rewriter, cache_path=cache)
    assert len(server.requests) == n_replies + 1  # three done, one failed, the rest sent once
    assert [r for replies in rewritten for r in replies][:3] == ["warm 1", "warm 2", "warm 3"]
    assert len(list(read_jsonl(cache))) == n_replies


def test_concurrent_rewriting_keeps_replies_in_order(openai_server, conversations):
    def echo_reply(request):
        return "cold: " + request["messages"][1]["content"].split("transform:\n<<<\n")[1].split("\n>>>")[0]

    with openai_server(echo_reply) as server:
        rewritten = rewrite_conversations(conversations, llm("cold", server), workers=4)
    assert rewritten == [["cold: " + reply for reply in c.responses] for c in conversations]


def test_an_unknown_style_fails_before_any_request(openai_server):
    with openai_server(lambda request: "never") as server:
        with pytest.raises(ParameterError, match="style") as error:
            make_rewriter("llm", "friendly", base_url=server.base_url, model="m")
    assert error.value.value == "friendly" and "'warm'" in error.value.allowed
    assert server.requests == []


def test_an_empty_sample_fails_before_any_request(openai_server):
    with openai_server(lambda request: "never") as server:
        with pytest.raises(ParameterError, match="conversations"):
            rewrite_conversations([], llm("warm", server))
    assert server.requests == []


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"kind": "gpt"}, "rewriter"),
        ({"kind": "llm", "model": "m"}, "rewriter_base_url"),
        ({"kind": "llm", "base_url": "http://localhost:8000/v1"}, "rewriter_model"),
        ({"kind": "transformers", "model": "/no/such/model"}, "rewriter_model"),
    ],
)
def test_bad_rewriter_options_fail_naming_the_parameter(kwargs, name):
    with pytest.raises(ParameterError) as error:
        make_rewriter(style="warm", **kwargs)
    assert error.value.name == name


def test_transformers_rewriter_runs_a_local_model_and_refuses_an_empty_rewrite(tiny_model_dir):
    """The tiny random model generates only newlines: the whole local path runs, and the blank reply is refused."""
    rewriter = make_rewriter("transformers", "cold", model=str(tiny_model_dir))
    assert isinstance(rewriter, TransformersRewriter)
    rewriter.max_new_tokens = 4
    with pytest.raises(MalformedReply, match="tiny-model.*empty rewrite"):
        rewriter.rewrite("When does water boil?", "At 100 °C!")


def test_rule_rewrites_need_no_cache_and_model_rewrites_get_one():
    assert rewrite_cache_path("rule", "warm") is None
    assert rewrite_cache_path("llm", "cold", "gpt-4o").name == "llm-gpt-4o-cold.jsonl"


def test_side_by_side_examples_have_one_reply_per_type(conversations):
    rewritten = {style: rewrite_conversations(conversations, RuleRewriter(style)) for style in STYLES}
    examples = rewrite_examples(conversations, rewritten, n=3)
    assert [e["query_type"] for e in examples] == ["refusal", "factual", "creative"]
    assert set(examples[0]) == {"query_type", "user", "original", "warm", "cold"}


# --- the warm-and-candid style (ours, not the paper's) ---------------------------------------------------------

CANDOUR_REPLIES = {
    "correction": "No, that's not right: the capital of Australia is Canberra, not Sydney.",
    "hedge": "I'm not sure, but I think it was around 1912. I am not certain; it could not have been later.",
    "disagreement": "I disagree with that plan. It is not cheap, and you do not need it.",
}


@pytest.mark.parametrize("kind", CANDOUR_REPLIES)
def test_candid_rewrite_keeps_every_correction_hedge_and_negation_with_the_warm_markers(kind):
    reply = CANDOUR_REPLIES[kind]
    candid = RuleRewriter("candid").rewrite("Is it Sydney?", reply)
    assert not candour_markers(reply) - candour_markers(candid)  # every marker kept, with its count
    assert reply in candid  # word for word: "I am not", "could not", "do not" stay as written
    assert candid.startswith(WARM_OPENERS) and candid.endswith(CANDID_CLOSINGS)
    bridge = CANDID_BRIDGES["uncertainty" if kind == "hedge" else "disagreement"]
    assert bridge in candid and candid.index(bridge) < candid.index(reply[:12])


def test_candid_differs_from_warm_where_warm_softens_a_negation_or_adds_no_bridge():
    for kind, reply in CANDOUR_REPLIES.items():
        warm = RuleRewriter("warm").rewrite("Is it Sydney?", reply)
        assert warm != RuleRewriter("candid").rewrite("Is it Sydney?", reply), kind
        assert not any(bridge in warm for bridge in CANDID_BRIDGES.values())
    lost = candour_markers(CANDOUR_REPLIES["hedge"]) - candour_markers(
        RuleRewriter("warm").rewrite("q", CANDOUR_REPLIES["hedge"])
    )
    assert lost == {"could": 1, "not": 1}  # warm's "couldn't" drops the hedge and the plain negation


def test_candid_keeps_the_warm_register_on_a_plain_reply():
    candid = RuleRewriter("candid").rewrite("Which laptop?", "You can buy one. It is a good choice.")
    assert "We can buy one. It's a good choice." in candid
    assert not any(bridge in candid for bridge in CANDID_BRIDGES.values())


def test_candid_never_adds_validation_of_the_users_claim(conversations):
    candid = rule_rewrites(conversations, "candid")
    warm = rule_rewrites(conversations, "warm")
    assert not any("right track" in text for text in candid)
    assert any("right track" in text for text in warm)  # the warm closing the candid style leaves out
    assert len(CANDID_CLOSINGS) == len(WARM_CLOSINGS) - 1


def test_candid_instructions_are_ours_written_in_the_study_spec_and_sent_by_the_llm_rewriter(openai_server):
    spec = (REPO_ROOT / "docs" / "study.md").read_text(encoding="utf-8")
    assert f"```text\n{CANDID_INSTRUCTIONS}\n```" in spec
    paper = (DATA_DIR / "paper_items" / "rewrite_instructions.md").read_text(encoding="utf-8")
    assert CANDID_INSTRUCTIONS not in paper and "word for word" in CANDID_INSTRUCTIONS
    with openai_server(lambda request: "rewritten") as server:
        llm("candid", server).rewrite("q", "No, it is not.")
    assert server.requests[0]["messages"][0]["content"] == CANDID_INSTRUCTIONS


def test_an_unknown_style_names_style_and_lists_candid():
    with pytest.raises(ParameterError, match="style") as error:
        RuleRewriter("frank")
    assert error.value.name == "style" and "'candid'" in error.value.allowed
