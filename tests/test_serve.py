"""The local OpenAI-compatible server answers the real ``openai`` client, and the judge, with a tiny model."""

import threading

import openai
import pytest

from helpers.evaluation.judge import JudgeItem, JudgeSettings, LLMJudge
from helpers.models import load_model
from helpers.serve import LocalChatModel, make_server


@pytest.fixture(scope="module")
def server(tiny_model_dir):
    """The server on 127.0.0.1 (a free port) in a thread, serving the tiny random model under its folder name."""
    name = str(tiny_model_dir)
    lm, tokenizer = load_model(name, device="cpu")
    httpd = make_server(LocalChatModel(name, lm, tokenizer), "127.0.0.1", 0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield name, f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def _client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="not-needed", max_retries=0, timeout=30)


def test_a_chat_completion_has_the_openai_shape_and_respects_max_tokens(server):
    name, base_url = server
    completion = _client(base_url).chat.completions.create(
        model=name,
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello?"}],
        temperature=0.8,
        max_tokens=4,
    )
    choice = completion.choices[0]
    assert completion.model == name
    assert isinstance(choice.message.content, str) and choice.message.role == "assistant"
    assert 1 <= completion.usage.completion_tokens <= 4
    assert choice.finish_reason in ("stop", "length")


def test_the_model_list_names_the_served_model(server):
    name, base_url = server
    assert [m.id for m in _client(base_url).models.list()] == [name]


def test_a_bad_temperature_is_a_400_naming_the_field(server):
    name, base_url = server
    with pytest.raises(openai.BadRequestError) as caught:
        _client(base_url).chat.completions.create(
            model=name, messages=[{"role": "user", "content": "Hi"}], temperature=-1
        )
    assert caught.value.status_code == 400
    assert caught.value.body["param"] == "temperature" and "temperature" in caught.value.body["message"]


def test_a_conversation_with_two_user_turns_is_a_400_naming_messages(server):
    name, base_url = server
    turns = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hey"},
        {"role": "user", "content": "?"},
    ]
    with pytest.raises(openai.BadRequestError) as caught:
        _client(base_url).chat.completions.create(model=name, messages=turns)
    assert caught.value.body["param"] == "messages"


def test_the_judge_gets_a_verdict_for_every_answer_through_the_enum_schema(server):
    name, base_url = server
    judge = LLMJudge(JudgeSettings(base_url=base_url, model=name, max_retries=0, concurrency=2))
    items = [
        JudgeItem.answer("trivia", "Capital of France?", "Paris", answer, "Lyon")
        for answer in ("Paris.", "It is Lyon.", "I am not sure.")
    ]
    assert set(judge.judge_many(items)) <= {"CORRECT", "INCORRECT"}
    assert judge._structured  # the schema was accepted: no fall-back to free text


def test_a_schema_other_than_one_enum_property_is_a_400_naming_response_format(server):
    name, base_url = server
    schema = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}}
    with pytest.raises(openai.BadRequestError) as caught:
        _client(base_url).chat.completions.create(
            model=name,
            messages=[{"role": "user", "content": "Hi"}],
            response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
        )
    assert caught.value.body["param"] == "response_format"
