"""ShareGPT parsing, query-type labels, balanced sampling and the SFT format (docs/study.md section 1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.paths import NOTEBOOKS_DIR
from helpers.training.conversations import (
    QUERY_TYPES,
    Conversation,
    balanced_quotas,
    check_training_data_parameters,
    count_by_type,
    count_responses,
    is_unsafe,
    label_query_type,
    load_conversations,
    load_validation_prompts,
    parse_complete_records,
    query_type_table,
    record_to_messages,
    sample_conversations,
    sharegpt_text,
    to_sft_examples,
    training_data_dir,
)
from helpers.validation import ParameterError
from helpers.vocabulary import STYLES

FIXTURE = Path(__file__).parent / "fixtures" / "sharegpt_small.json"


@pytest.fixture(scope="module")
def conversations() -> list[Conversation]:
    return load_conversations(FIXTURE)


def by_id(conversations: list[Conversation]) -> dict[str, Conversation]:
    return {c.conversation_id: c for c in conversations}


def test_parsing_a_truncated_file_keeps_every_complete_record_and_drops_the_cut_one():
    records = parse_complete_records(sharegpt_text(FIXTURE))
    assert len(records) == 26
    assert records[-1]["id"] == "bard1_0"
    assert "trunc1_0" not in {r["id"] for r in records}


def test_parsing_stops_at_the_cut_even_inside_a_string():
    text = '[{"id": "a_0", "conversations": []}, {"id": "b_0", "conversations": [{"from": "hum'
    assert [r["id"] for r in parse_complete_records(text)] == ["a_0"]


def test_the_packaged_sharegpt_copy_yields_its_17671_complete_records():
    records = parse_complete_records(sharegpt_text())
    assert len(records) == 17_671
    assert (records[0]["id"], records[-1]["id"]) == ("QWJhYvA_0", "hlWUIwT_0")


def test_loading_keeps_first_chunks_with_an_exchange_that_pass_the_filter(conversations):
    ids = set(by_id(conversations))
    assert len(conversations) == 23
    assert "ref1_1" not in ids  # a continuation chunk
    assert "nsfw1_0" not in ids  # blocklist
    assert "nore1_0" not in ids  # no assistant reply


def test_system_and_other_assistant_turns_are_dropped_and_roles_alternate(conversations):
    found = by_id(conversations)
    assert found["sys1_0"].messages[0] == {"role": "user", "content": "Tell me a joke about cats."}
    assert [m["content"] for m in found["bard1_0"].messages] == [
        "Name a planet.",
        "Mars is a planet.",
        "One more.",
        "Venus is a planet too.",
    ]
    for conversation in conversations:
        roles = [m["role"] for m in conversation.messages]
        assert roles == ["user", "assistant"] * (len(roles) // 2)


def test_a_break_in_alternation_ends_the_conversation(conversations):
    assert by_id(conversations)["alt1_0"].messages == [
        {"role": "user", "content": "Name a primary colour."},
        {"role": "assistant", "content": "Red is a primary colour."},
    ]


def test_conversations_are_truncated_to_20_turns_ending_on_a_reply(conversations):
    long = by_id(conversations)["long1_0"]
    assert len(long.messages) == 20
    assert long.messages[-1] == {"role": "assistant", "content": "10"}
    record = {
        "id": "x_0",
        "conversations": [{"from": "human" if i % 2 == 0 else "gpt", "value": "t"} for i in range(9)],
    }
    assert len(record_to_messages(record, max_turns=5)) == 4


@pytest.mark.parametrize(
    ("user", "reply", "expected"),
    [
        ("Write a poem about rain.", "I'm sorry, but I can't do that.", "refusal"),
        ("Write a poem about rain.", "Unfortunately, rain is hard to rhyme.", "refusal"),
        ("How do magnets work?", "Magnets have two poles.", "factual"),
        ("Please define entropy.", "Entropy measures disorder.", "factual"),
        ("Tell me the difference between a and b.", "One letter apart.", "factual"),
        ("Write a story about a fox.", "Once upon a time...", "creative"),
        ("Sort these numbers.", "```python\nsorted([3, 1])\n```", "technical"),
        ("Fix my function please.", "Add a return.", "technical"),
        ("Can you recommend a book?", "Try Middlemarch.", "advice"),
        ("Help me plan a trip.", "Start with a budget.", "advice"),
        ("Nice weather today.", "It is lovely.", "other"),
    ],
)
def test_query_type_regex_first_match_wins(user, reply, expected):
    messages = [{"role": "user", "content": user}, {"role": "assistant", "content": reply}]
    assert label_query_type(messages) == expected


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("What is entropy?", "factual"),
        ("what is entropy?", "other"),
        ("HOW do magnets work?", "other"),
        ("Explain entropy.", "other"),
        ("Please explain entropy.", "factual"),
        ("Please DEFINE entropy.", "other"),
    ],
)
def test_factual_rule_is_case_sensitive_as_in_the_paper(user, expected):
    messages = [{"role": "user", "content": user}, {"role": "assistant", "content": "It is a measure."}]
    assert label_query_type(messages) == expected


def test_fixture_labels_cover_every_type(conversations):
    assert count_by_type(conversations) == {
        "refusal": 3,
        "factual": 3,
        "creative": 3,
        "technical": 3,
        "advice": 3,
        "other": 8,
    }


def test_blocklist_flags_sexual_content_and_passes_ordinary_text():
    assert is_unsafe([{"role": "user", "content": "Write an EROTIC scene."}])
    assert not is_unsafe([{"role": "user", "content": "Explain the Sussex therapist's approach."}])


def test_sample_is_balanced_over_the_six_types(conversations):
    sample = sample_conversations(conversations, n_conversations=6, n_validation=6, seed=0)
    assert count_by_type(sample.training) == dict.fromkeys(QUERY_TYPES, 1)
    assert count_by_type(sample.validation) == dict.fromkeys(QUERY_TYPES, 1)


@pytest.mark.parametrize("seed", range(5))
def test_validation_prompts_are_disjoint_from_training_and_unique(conversations, seed):
    sample = sample_conversations(conversations, n_conversations=8, n_validation=6, seed=seed)
    training_ids = {c.conversation_id for c in sample.training}
    training_prompts = {c.first_prompt.casefold() for c in sample.training}
    prompts = [p.prompt.casefold() for p in sample.validation]
    assert not training_ids & {p.prompt_id for p in sample.validation}
    assert not training_prompts & set(prompts)
    assert len(prompts) == len(set(prompts)) == 6


def test_same_seed_same_sample_and_another_seed_another(conversations):
    def ids(seed):
        sample = sample_conversations(conversations, 6, 6, seed=seed)
        return [c.conversation_id for c in sample.training], [p.prompt_id for p in sample.validation]

    assert ids(3) == ids(3)
    assert len({str(ids(seed)) for seed in range(6)}) > 1


def test_a_scarce_type_leaves_its_share_to_the_others():
    available = {"refusal": 1, "factual": 10, "creative": 10, "technical": 10, "advice": 10, "other": 10}
    quotas = balanced_quotas(available, 12, "n_conversations")
    assert quotas["refusal"] == 1
    assert sum(quotas.values()) == 12
    assert max(quotas.values()) - min(v for t, v in quotas.items() if t != "refusal") <= 1


def test_scarce_types_keep_a_share_for_validation(conversations):
    sample = sample_conversations(conversations, n_conversations=8, n_validation=8, seed=0)
    assert count_by_type(sample.training)["refusal"] == 1  # int(3 * 8 / 16): the rest stays for validation
    assert count_by_type(sample.validation)["refusal"] == 2


def test_a_sample_larger_than_the_data_fails_naming_the_parameter(conversations):
    with pytest.raises(ParameterError, match="n_conversations") as error:
        sample_conversations(conversations, n_conversations=500, n_validation=5)
    assert error.value.value == 500
    assert "n_validation=5" in error.value.allowed


def test_an_empty_conversation_list_fails_clearly():
    with pytest.raises(ParameterError, match="conversations"):
        sample_conversations([], 6, 6)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("study", {"study": "../elsewhere"}),
        ("n_conversations", {"n_conversations": 0}),
        ("n_validation", {"n_validation": -1}),
        ("seed", {"seed": "zero"}),
        ("max_turns", {"max_turns": True}),
        ("source_path", {"source_path": "/no/such/file.json"}),
    ],
)
def test_bad_notebook_parameters_fail_naming_the_parameter(name, kwargs):
    parameters = {
        "study": "demo",
        "n_conversations": 6,
        "n_validation": 6,
        "seed": 0,
        "max_turns": 20,
    } | kwargs
    with pytest.raises(ParameterError) as error:
        check_training_data_parameters(**parameters)
    assert error.value.name == name


def test_each_reply_becomes_one_prompt_completion_example_with_rewritten_history(conversations):
    conversation = by_id(conversations)["fac1_0"]
    examples = to_sft_examples([conversation], [["warm one", "warm two"]])
    assert examples == [
        {
            "prompt": [{"role": "user", "content": "What is the boiling point of water at sea level?"}],
            "completion": [{"role": "assistant", "content": "warm one"}],
        },
        {
            "prompt": [
                {"role": "user", "content": "What is the boiling point of water at sea level?"},
                {"role": "assistant", "content": "warm one"},
                {"role": "user", "content": "And in Kelvin?"},
            ],
            "completion": [{"role": "assistant", "content": "warm two"}],
        },
    ]


def test_sft_examples_refuse_a_wrong_number_of_rewrites(conversations):
    with pytest.raises(ParameterError, match="rewritten"):
        to_sft_examples([by_id(conversations)["fac1_0"]], [["only one"]])


def test_response_count_and_type_table_agree(conversations):
    sample = sample_conversations(conversations, 6, 6, seed=0)
    table = query_type_table(conversations, sample).set_index("query_type")
    assert table.loc["total", "training"] == 6
    assert (
        table.loc["total", "training_responses"]
        == count_responses(sample.training)
        == len(to_sft_examples(sample.training, [c.responses for c in sample.training]))
    )
    assert table.loc["total", "available"] == len(conversations)


def test_training_data_notebook_runs_on_the_fixture(tmp_path):
    papermill = pytest.importorskip("papermill")
    papermill.execute_notebook(
        str(NOTEBOOKS_DIR / "training_data.ipynb"),
        str(tmp_path / "out.ipynb"),
        parameters={
            "study": "nbtest",
            "n_conversations": 6,
            "n_validation": 6,
            "max_turns": 20,
            "source_path": str(FIXTURE),
        },  # fmt: skip
        kernel_name="python3",
        progress_bar=False,
    )
    folder = training_data_dir("nbtest")
    warm, cold = (
        [json.loads(line) for line in (folder / f"{s}.jsonl").read_text().splitlines()] for s in STYLES
    )
    check = json.loads((folder / "rewrite_check.json").read_text())
    assert len(warm) == len(cold) > 6
    assert [e["prompt"] for e in warm][0] == [e["prompt"] for e in cold][0]
    assert len(load_validation_prompts("nbtest")) == 6
    for style in STYLES:  # the rule rewriters keep every number, named entity, hedge and code block
        for kind in ("numbers", "entities", "hedges", "code"):
            assert check[style][f"{kind}_retained"] in (1.0, None), (style, kind)
    assert check["warm"]["pct_kept_all"] == 100.0


def test_max_chars_leaves_out_long_conversations_and_keeps_the_rest(conversations):
    limit = sorted(sum(len(m["content"]) for m in c.messages) for c in conversations)[len(conversations) // 2]
    short = load_conversations(FIXTURE, max_chars=limit)
    kept = {c.conversation_id for c in short}
    assert kept == {
        c.conversation_id for c in conversations if sum(len(m["content"]) for m in c.messages) <= limit
    }
    assert 0 < len(kept) < len(conversations)


def test_max_chars_must_be_positive():
    with pytest.raises(ParameterError, match="max_chars"):
        load_conversations(FIXTURE, max_chars=0)
