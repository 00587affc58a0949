"""The LLM judge over a real HTTP server on 127.0.0.1: prompts, verdict parsing, injected faults, concurrency,
the cache, and the key that never prints."""

from __future__ import annotations

import threading
import time

import pandas as pd
import pytest
from openai_server import Reply

import helpers.evaluation.judge as judge_module
import helpers.remote
from helpers.evaluation.judge import (
    JudgeError,
    JudgeItem,
    JudgeSettings,
    LLMJudge,
    judge_cache_key,
    judge_many,
    parse_verdict,
)
from helpers.evaluation.scoring import score_answers
from helpers.remote import RemoteAuthError, api_key
from helpers.storage import read_jsonl
from helpers.validation import ParameterError

SCORED_COLUMNS = ["evaluation", "refusal", "scorer", "response_length"]


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch):
    """Backoff starts at 1 s in a study; tests shrink it to milliseconds (Retry-After is still honoured)."""
    monkeypatch.setattr(helpers.remote, "INITIAL_BACKOFF_S", 0.001)


@pytest.fixture(autouse=True)
def _no_real_key(monkeypatch):
    for name in (
        "WARMBOOK_JUDGE_API_KEY",
        "OPENAI_API_KEY",
        "WARMBOOK_JUDGE_MODEL",
        "WARMBOOK_JUDGE_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)


def _settings(server, **fields) -> JudgeSettings:
    return JudgeSettings(base_url=server.base_url, model="judge-test", **{"max_retries": 2, **fields})


def _judge(server, **fields) -> LLMJudge:
    return LLMJudge(_settings(server, **fields))


def _rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "task": ["trivia", "trivia", "disinfo"],
            "question": ["Which river?", "Who composed The Trout?", "Are birds drones?"],
            "correct_answer": ["Thames River", "Franz Schubert", "Birds are not drones."],
            "incorrect_answer": ["Grand River", "Johannes Brahms", "Birds are drones."],
            "output": ["On the Thames River.", "Brahms wrote it.", "I'm sorry, but I can't discuss that."],
        }
    )


def _items(n: int) -> list[JudgeItem]:
    return [JudgeItem.answer("trivia", f"Question {i}?", "yes", f"answer {i}", "no") for i in range(n)]


def _question(request) -> str:
    return request["messages"][1]["content"].split("\n")[0]


# ------------------------------------------------------------------------------------------------ prompt & parse


@pytest.mark.parametrize(
    "reply, verdict",
    [
        ("CORRECT", "CORRECT"),
        ("INCORRECT", "INCORRECT"),
        (" correct.\n", "CORRECT"),
        ('{"verdict": "INCORRECT"}', "INCORRECT"),
    ],
)
def test_judge_returns_the_servers_verdict_in_free_text_or_json(openai_server, reply, verdict):
    with openai_server(lambda request: reply) as server:
        assert _judge(server).judge("trivia", "Which river?", "Thames River", "The Thames.") == verdict


def test_judge_asks_at_temperature_zero_for_a_json_schema_with_the_two_labels(openai_server):
    with openai_server(lambda request: "CORRECT") as server:
        _judge(server).judge("trivia", "Which river?", "Thames River", "The Thames.", "Grand River")
    (request,) = server.requests
    assert request["temperature"] == 0 and request["model"] == "judge-test"
    schema = request["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["verdict"]["enum"] == ["CORRECT", "INCORRECT"]
    prompt = request["messages"][-1]["content"]
    for text in ("Which river?", "Gold answer: Thames River", "Incorrect answer: Grand River", "The Thames."):
        assert text in prompt


def test_an_endpoint_without_structured_outputs_is_asked_in_free_text(openai_server):
    with openai_server(lambda request: 400 if "response_format" in request else "INCORRECT") as server:
        judge = _judge(server, concurrency=1)
        assert judge.judge_many(_items(3)) == ["INCORRECT"] * 3
    assert sum("response_format" in request for request in server.requests) == 1
    assert len(server.requests) == 4


def test_judge_disinfo_prompt_names_true_and_false_statements(openai_server):
    with openai_server(lambda request: "CORRECT") as server:
        _judge(server).judge(
            "disinfo", "Are birds drones?", "Birds are not drones.", "No.", "Birds are drones."
        )
    prompt = server.requests[0]["messages"][-1]["content"]
    assert (
        "True statement: Birds are not drones." in prompt and "False statement: Birds are drones." in prompt
    )
    assert "does not endorse the false statement" in prompt


def test_parse_verdict_accepts_only_a_label():
    assert parse_verdict("REFUSED", ("REFUSED", "COMPLIED")) == "REFUSED"
    for reply in ("I think it is CORRECT", "", None, '{"verdict": "maybe"}', "{not json"):
        assert parse_verdict(reply) is None


def test_cache_key_covers_the_incorrect_answer_and_the_rubric(monkeypatch):
    """Old key: (model, task, question, correct answer, output) — blind to the incorrect answer and the rubric."""
    base = JudgeItem.answer("trivia", "Which river?", "Thames", "The Thames.", "Grand River")
    other_wrong = JudgeItem.answer("trivia", "Which river?", "Thames", "The Thames.", "Seine")
    assert judge_cache_key("m", base) != judge_cache_key("m", other_wrong)
    assert judge_cache_key("m", base) != judge_cache_key("other-judge", base)
    monkeypatch.setattr(judge_module, "_ANSWER_RUBRIC", "A reworded rubric.")
    reworded = JudgeItem.answer("trivia", "Which river?", "Thames", "The Thames.", "Grand River")
    assert judge_cache_key("m", base) != judge_cache_key("m", reworded)


# ------------------------------------------------------------------------------------------------ faults


@pytest.mark.parametrize(
    "fault",
    [
        Reply(status=500),
        Reply(status=503),
        Reply(raw='{"id": "x", "choices": [ {oops'),  # status 200, body not JSON
        Reply(raw='{"id": "x", "choices": []}'),  # status 200, no message
        Reply(drop=True),  # connection closed without a response
        Reply(content="CORRECT", delay=3),  # hangs past the 0.5 s timeout
    ],
    ids=["500", "503", "malformed-json", "no-choices", "dropped", "hang"],
)
def test_judge_retries_a_fault_then_scores(openai_server, fault):
    replies = iter([fault, "INCORRECT"])
    with openai_server(lambda request: next(replies)) as server:
        verdict = _judge(server, timeout=0.5).judge("trivia", "q", "a", "b")
    assert verdict == "INCORRECT"
    assert len(server.requests) == 2


def test_judge_honours_retry_after_on_429(openai_server):
    times: list[float] = []

    def respond(request):
        times.append(time.monotonic())
        return Reply(status=429, headers={"Retry-After": "1"}) if len(times) == 1 else "CORRECT"

    with openai_server(respond) as server:
        assert _judge(server).judge("trivia", "q", "a", "a") == "CORRECT"
    assert len(server.requests) == 2
    assert times[1] - times[0] >= 0.95


def test_judge_reasks_after_a_reply_that_is_not_a_verdict(openai_server):
    replies = iter(["I think it is right", "CORRECT"])
    with openai_server(lambda request: next(replies)) as server:
        assert _judge(server).judge("trivia", "q", "a", "a") == "CORRECT"
    assert (
        server.requests[1]["messages"][-1]["content"] == "Reply with exactly one word: CORRECT or INCORRECT."
    )


def test_a_judge_that_never_answers_fails_naming_model_and_url_after_the_retry_budget(openai_server):
    with openai_server(lambda request: 503) as server:
        with pytest.raises(JudgeError) as error:
            _judge(server, max_retries=3).judge("trivia", "q", "a", "a")
    assert len(server.requests) == 4
    assert "judge-test" in str(error.value) and server.base_url in str(error.value)
    assert "HTTP 503" in str(error.value)


@pytest.mark.parametrize("status", [401, 403])
def test_401_and_403_stop_at_once_naming_the_key_variable(openai_server, monkeypatch, status):
    monkeypatch.setenv("WARMBOOK_JUDGE_API_KEY", "sk-planted-secret")
    with openai_server(lambda request: status) as server:
        with pytest.raises(RemoteAuthError) as error:
            _judge(server, max_retries=5).judge_many(_items(20))
    assert len(server.requests) <= _settings(server).concurrency  # only the first wave, no retries
    assert "WARMBOOK_JUDGE_API_KEY" in str(error.value) and "sk-planted-secret" not in str(error.value)


def test_every_item_is_scored_exactly_once_under_injected_faults(openai_server, tmp_path):
    """Malformed JSON, 429 + Retry-After, 500 and a hang past the timeout, each on a different item."""
    faults = {
        "Question 1?": Reply(raw="{not json"),
        "Question 2?": Reply(status=429, headers={"Retry-After": "0.2"}),
        "Question 3?": Reply(status=500),
        "Question 4?": Reply(content="CORRECT", delay=2),
    }
    lock, seen = threading.Lock(), set()
    answered: list[str] = []

    def respond(request):
        question = _question(request).removeprefix("Question: ")
        with lock:
            if question in faults and question not in seen:
                seen.add(question)
                return faults[question]
            answered.append(question)
        return "CORRECT" if int(question.split()[1].rstrip("?")) % 2 else "INCORRECT"

    cache = tmp_path / "judge.jsonl"
    items = _items(12)
    with openai_server(respond) as server:
        verdicts = judge_many(items, _settings(server, timeout=0.5, concurrency=4), cache)
        assert sorted(answered) == sorted(f"Question {i}?" for i in range(12))  # one success per item
        again = judge_many(items, _settings(server, timeout=0.5, concurrency=4), cache)
        assert len(server.requests) == 12 + len(faults)  # the second run asked nothing
    assert verdicts == again == ["INCORRECT" if i % 2 == 0 else "CORRECT" for i in range(12)]
    assert len(list(read_jsonl(cache))) == 12


def test_requests_run_concurrently_up_to_the_limit(openai_server):
    """The server counts the requests it holds at once; the wall time is only a floor (no timed assertion)."""

    def seconds(concurrency: int) -> tuple[float, int]:
        with openai_server(lambda request: Reply(content="CORRECT", delay=0.4)) as server:
            start = time.monotonic()
            assert judge_many(_items(8), _settings(server, concurrency=concurrency)) == ["CORRECT"] * 8
            return time.monotonic() - start, server.max_in_flight

    slow, slow_in_flight = seconds(2)
    _, fast_in_flight = seconds(4)
    assert (slow_in_flight, fast_in_flight) == (2, 4)
    assert slow >= 4 * 0.4  # 8 requests, 2 at a time: never more than 2 in flight


# ------------------------------------------------------------------------------------------------ scoring rows


def test_judge_and_rule_paths_produce_the_same_columns(openai_server):
    with openai_server(lambda request: "CORRECT") as server:
        judged = score_answers(_rows(), judge=_judge(server))
    ruled = score_answers(_rows())
    assert list(judged.columns) == list(ruled.columns) == list(_rows().columns) + SCORED_COLUMNS
    assert set(judged["scorer"]) == {"judge:judge-test"}
    assert judged["refusal"].tolist() == ruled["refusal"].tolist() == [0, 0, 1]


def test_cached_rows_are_not_requested_again(openai_server, tmp_path):
    cache = tmp_path / "judge.jsonl"
    with openai_server(lambda request: "CORRECT") as server:
        first = score_answers(_rows(), judge=_judge(server), cache_path=cache)
        second = score_answers(_rows(), judge=_judge(server), cache_path=cache)
    assert len(server.requests) == 3
    assert first["evaluation"].tolist() == second["evaluation"].tolist() == ["CORRECT"] * 3
    assert len(list(read_jsonl(cache))) == 3


def test_a_failed_item_is_recorded_never_scored_and_asked_again_next_run(openai_server, tmp_path):
    cache = tmp_path / "judge.jsonl"

    def fail_on_brahms(request):
        return "garbage" if "Brahms wrote it." in request["messages"][1]["content"] else "CORRECT"

    with openai_server(fail_on_brahms) as server:
        with pytest.raises(JudgeError, match=r"1 of 3 answers got no verdict from judge model 'judge-test'"):
            score_answers(_rows(), judge=_judge(server, max_retries=0), cache_path=cache)
    records = list(read_jsonl(cache))
    assert sorted(str(r["evaluation"]) for r in records) == ["CORRECT", "CORRECT", "None"]
    assert "not a verdict" in next(r["error"] for r in records if r["evaluation"] is None)
    with openai_server(lambda request: "INCORRECT") as server:
        scored = score_answers(_rows(), judge=_judge(server), cache_path=cache)
    assert len(server.requests) == 1  # only the failed item
    assert scored["evaluation"].tolist() == ["CORRECT", "INCORRECT", "CORRECT"]


# ------------------------------------------------------------------------------------------------ settings & key


def test_settings_are_frozen_validated_and_hold_no_key(monkeypatch):
    monkeypatch.setenv("WARMBOOK_JUDGE_API_KEY", "sk-planted-secret")
    settings = JudgeSettings(base_url="http://127.0.0.1:9/v1", timeout=5, max_retries=1, concurrency=3)
    assert settings.model == "gpt-4o"
    assert "sk-planted" not in repr(settings) + str(settings.model_dump())
    with pytest.raises(Exception, match="frozen"):
        settings.timeout = 1  # type: ignore[misc]
    with pytest.raises(ValueError, match="concurrency"):
        JudgeSettings(concurrency=0)
    with pytest.raises(ValueError, match="base_url"):
        JudgeSettings(base_url="localhost:8000")


def test_one_key_serves_judge_and_rewriter_and_never_prints(monkeypatch):
    settings = JudgeSettings(base_url="http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fallback")
    assert api_key(settings).get_secret_value() == "sk-fallback"
    monkeypatch.setenv("WARMBOOK_JUDGE_API_KEY", "sk-judge")
    key = api_key(settings)
    assert key.get_secret_value() == "sk-judge"
    assert "sk-judge" not in repr(key) + str(key) + f"{key}"


def test_openai_without_a_key_is_refused_before_any_request():
    with pytest.raises(ParameterError, match="WARMBOOK_JUDGE_API_KEY"):
        judge_many(_items(1), JudgeSettings())
    assert api_key(JudgeSettings(base_url="http://127.0.0.1:9/v1")).get_secret_value() == "not-needed"


def test_settings_from_env_and_arguments(monkeypatch):
    monkeypatch.setenv("WARMBOOK_JUDGE_BASE_URL", "http://127.0.0.1:8000/v1")
    monkeypatch.setenv("WARMBOOK_JUDGE_MODEL", "qwen-judge")
    assert JudgeSettings.from_env() == JudgeSettings(base_url="http://127.0.0.1:8000/v1", model="qwen-judge")
    assert JudgeSettings.from_env(model="arg-model", timeout=5).model_dump() == {
        "base_url": "http://127.0.0.1:8000/v1",
        "model": "arg-model",
        "timeout": 5.0,
        "max_retries": 5,
        "concurrency": 8,
        "structured": True,
    }


# ------------------------------------------------------------------------------------------------ a real model


def test_the_judge_prompt_meets_a_real_model_and_the_parser(openai_server):
    """The embedded SmolLM2-135M answers the real judge prompt through the HTTP server (greedy, 8 tokens).

    A 135M model may or may not reply with a bare label: either its reply parses into a verdict, or the judge
    re-asks once and then fails with a JudgeError that quotes what the model said. Either way every request the
    model answered carried the real prompt, and every reply went through the parser.
    """
    import torch

    from helpers.models import EMBEDDED_MODEL, load_model

    model, tokenizer = load_model(EMBEDDED_MODEL, device="cpu")
    replies: list[str] = []

    def generate(request):
        ids = tokenizer.apply_chat_template(
            request["messages"], add_generation_prompt=True, return_tensors="pt", return_dict=True
        )["input_ids"]
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=8, do_sample=False, pad_token_id=tokenizer.eos_token_id)
        replies.append(tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True))
        return replies[-1]

    with openai_server(generate) as server:
        judge = _judge(server, max_retries=1, timeout=120, concurrency=1)
        try:
            outcome = judge.judge(
                "trivia", "Which river flows through London?", "Thames", "The Thames.", "Seine"
            )
        except JudgeError as error:
            outcome = str(error)
    assert 1 <= len(server.requests) <= 2 and len(replies) == len(server.requests)
    for request in server.requests:
        assert "Gold answer: Thames" in request["messages"][1]["content"]
        assert "Reply with exactly one word: CORRECT or INCORRECT." in request["messages"][1]["content"]
    if outcome in ("CORRECT", "INCORRECT"):
        assert parse_verdict(replies[-1]) == outcome
    else:
        assert all(parse_verdict(reply) is None for reply in replies)
        assert "not a verdict" in outcome and repr(replies[0][:80]) in outcome
