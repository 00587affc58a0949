"""Warm, cold and candid rewrites of assistant replies, behind one interface (paper, "Fine-tuning for warmth").

The paper had GPT-4o (2024-08-06) rewrite every assistant reply of its 1,617 ShareGPT conversations twice: warmer
(empathy, caring personal language, validation, inclusive "we", informal register, reassurance) and colder
(concise, direct, emotionally neutral), keeping facts, meaning, code, equations and quotes unchanged (docs/study.md 1).
Three rewriters implement the same ``Rewriter`` protocol:

- ``LLMRewriter``: any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama…) with the paper's instructions as its
  system prompt, verbatim (appendix A.2; ``data/paper_items/rewrite_instructions.md`` gives their provenance);
- ``TransformersRewriter``: the same instructions given to a local chat model;
- ``RuleRewriter``: deterministic phrase rules for the offline demo. It wraps warm phrases around the reply or
  strips pleasantries from it, and touches nothing else; it cannot rewrite a reply's whole voice as GPT-4o did,
  and the book says so.

A third style, ``candid``, is ours and not the paper's (docs/study.md section 11): the warm register, with every
correction, disagreement, negation, hedge and uncertainty of the original reply kept word for word and no
validation of the user's claim added, after Wei et al. (2023, arXiv 2308.03958), whose training data that keep
disagreement reduced sycophancy. It asks whether warmth can be trained without the paper's accuracy cost.

``content_preservation_report`` checks what every rewrite must keep: the content words, numbers, named entities,
hedges and code of each original reply, as the share of each retained by its rewrite.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol, get_args

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
from tqdm import tqdm

from helpers.instructions import INSTRUCTIONS
from helpers.models import check_model_name
from helpers.paths import cache_dir, model_slug
from helpers.remote import (
    EndpointSettings,
    MalformedReply,
    RemoteError,
    call_with_retries,
    reply_content,
    sync_client,
)
from helpers.storage import append_jsonl, read_jsonl
from helpers.training.conversations import Conversation
from helpers.validation import ParameterError, check_choice, check_positive_int
from helpers.vocabulary import ALL_STYLES, RewriterKind

REWRITER_KINDS: tuple[str, ...] = get_args(RewriterKind)


class Rewriter(Protocol):
    """Anything that rewrites one assistant reply, given the user message it answers, into its ``style``."""

    style: str

    def rewrite(self, user_message: str, response: str) -> str: ...


def rewrite_messages(style: str, user_message: str, response: str) -> list[dict[str, str]]:
    """The chat messages an LLM rewriter receives: the style's instructions as the system prompt (the paper's
    verbatim for warm and cold, ours for candid), then the exchange to rewrite. The paper does not publish its
    user message: this framing is ours."""
    user = (
        f"User message:\n<<<\n{user_message}\n>>>\n\n"
        f"AI response to transform:\n<<<\n{response}\n>>>\n\n"
        "Answer with the transformed response only, without any preamble or comment."
    )
    return [{"role": "system", "content": INSTRUCTIONS[style]}, {"role": "user", "content": user}]


def _nonempty(text: str | None, source: str) -> str:
    if not text or not text.strip():
        raise MalformedReply(f"{source} returned an empty rewrite")
    return text.strip()


class LLMRewriter:
    """Rewrites through an OpenAI-compatible chat endpoint at temperature 0 (paper: GPT-4o-2024-08-06).

    Faults are retried as ``helpers.remote`` describes (429 with its Retry-After, 5xx, timeouts, dropped
    connections, malformed or empty replies) up to ``settings.max_retries`` times; 401/403 stop at once naming
    the key variable. The key is the judge's (``WARMBOOK_JUDGE_API_KEY``, else ``OPENAI_API_KEY``).
    """

    def __init__(self, style: str, settings: EndpointSettings):
        self.style = check_choice("style", style, ALL_STYLES)
        self.settings = settings
        self._client = sync_client(settings)

    def rewrite(self, user_message: str, response: str) -> str:
        def attempt() -> str:
            completion = self._client.chat.completions.create(
                model=self.settings.model,
                messages=rewrite_messages(self.style, user_message, response),
                temperature=0,
            )
            return _nonempty(reply_content(completion), f"The endpoint's {self.settings.describe()}")

        def give_up(faults: list[str]) -> RemoteError:
            return RemoteError(
                f"rewriter {self.settings.describe()} gave no rewrite after {len(faults)} attempts: "
                f"{'; '.join(faults)}"
            )

        return call_with_retries(self.settings, attempt, give_up)


class TransformersRewriter:
    """Rewrites with a local chat model (greedy decoding), for machines without an endpoint.

    A small model such as the embedded SmolLM2-135M cannot follow these instructions reliably: use a capable
    instruction-tuned model, and check ``content_preservation_report`` before training on its rewrites.
    """

    def __init__(self, style: str, model: str, max_new_tokens: int = 1024, device: str = "auto"):
        from helpers.models import load_model

        self.style = check_choice("style", style, ALL_STYLES)
        self.model = model
        self.max_new_tokens = check_positive_int("max_new_tokens", max_new_tokens)
        self._lm, self._tokenizer = load_model(model, device=device)

    def rewrite(self, user_message: str, response: str) -> str:
        from helpers.generation import GenerationSettings, generate_responses

        system, user = rewrite_messages(self.style, user_message, response)
        settings = GenerationSettings(
            temperature=0, max_new_tokens=self.max_new_tokens, batch_size=1, system_prompt=system["content"]
        )
        [output] = generate_responses(
            self._lm, self._tokenizer, [user["content"]], settings, desc="rewriting"
        )
        return _nonempty(output, f"The local model {self.model!r}")


# --- the rule-based rewriter ---------------------------------------------------------------------------------

_FENCED_CODE = r"```.*?(?:```|\Z)"
_INLINE_CODE = r"`[^`\n]+`"
_NUMBER = r"\d+(?:[.,]\d+)*"
_PROTECTED = re.compile(
    "|".join(
        [
            _FENCED_CODE,
            _INLINE_CODE,
            r"(?:https?://|www\.)\S+",
            r'"[^"\n]{1,400}"',
            r"“[^”\n]{1,400}”",
            _NUMBER,
        ]
    ),
    re.DOTALL,
)
_PLACEHOLDER = re.compile("\ue000(\\d+)\ue001")

WARM_OPENERS = (
    "I totally get why you're asking about this, and it's a really good thing to want to understand.",
    "What a lovely thing to be curious about, and I'm really glad you brought it to me.",
    "I can tell this matters to you, so let's work through it together.",
    "That's such a thoughtful thing to ask about, and honestly, lots of people wonder about the same thing.",
    "I really appreciate you sharing this with me, and I'm happy we get to dig into it together.",
    "It makes complete sense that you'd want to get this right, so let's take it step by step together.",
    "I love that you're exploring this, and it's completely understandable to want a clear picture.",
    "Thanks so much for trusting me with this; I know it can feel like a lot, but we'll sort it out together.",
)
"""Empathetic, validating first sentences of the warm rule rewrite (no greetings: docs/study.md 1)."""

WARM_CLOSINGS = (
    "You've got this, and I'm always happy to help more!",
    "I hope this helps, and please don't hesitate to come back if anything feels unclear; we'll figure it out together.",
    "You're doing great by looking into this, and I'm right here if you want to talk it through more!",
    "I really hope this makes things a little easier for you, and I'm cheering you on!",
    "Take it one step at a time; you're on the right track, and I'm glad to help whenever you need.",
    "I'm so glad we could work through this together, and I'm here for anything else you need!",
    "Don't worry if it takes a moment to sink in; that's completely normal, and I'm always happy to help.",
    "Wishing you the very best with this, and remember, we can always go over it again together!",
)
"""Reassuring closing sentences of the warm rule rewrite."""

_CLAIM_VALIDATION = re.compile(
    r"\bright track\b|\byou(?:'re| are) (?:right|correct)\b|\bspot on\b", re.IGNORECASE
)
"""Phrases that tell the user their view is right: warmth about a claim rather than about the person."""

CANDID_CLOSINGS = tuple(c for c in WARM_CLOSINGS if not _CLAIM_VALIDATION.search(c))
"""The warm closings that validate the person, not a claim: after a correction, "you're on the right track"
would take the correction back (the sycophancy the candid style is meant to train away)."""

CANDID_BRIDGES = {
    "disagreement": "I'll be honest with you here, because I think you'd want me to be.",
    "uncertainty": "I'll be upfront about how sure I am, because you deserve that.",
}
"""The sentence the candid rule rewrite puts after its opener when the reply corrects the user or hedges: it
announces the candour instead of softening it, so the warm opener cannot read as agreement."""

_CORRECTION = (
    r"\bno\b(?=[,.!;:])|\bnot (?:right|correct|true|accurate|quite)\b|\bincorrect\b|\bwrong\b|\bmistaken\b"
    r"|\bactually\b|\bin fact\b|\bmisconception\b|\bmyth\b|\bdisagree\b|\b(?:don't|do not) agree\b"
)
_NEGATION = r"\bnot\b|\b\w+n['’]t\b|\bcannot\b|\bnever\b|\bno\b"
_UNCERTAINTY = r"\bunclear\b|\bnot (?:sure|certain)\b|\buncertain\b"

_APOSTROPHE = "['’]"
_CONTRACTIONS = (
    ("do not", "don't"),
    ("does not", "doesn't"),
    ("did not", "didn't"),
    ("is not", "isn't"),
    ("are not", "aren't"),
    ("was not", "wasn't"),
    ("were not", "weren't"),
    ("cannot", "can't"),
    ("will not", "won't"),
    ("would not", "wouldn't"),
    ("should not", "shouldn't"),
    ("could not", "couldn't"),
    ("have not", "haven't"),
    ("has not", "hasn't"),
    ("it is", "it's"),
    ("that is", "that's"),
    ("there is", "there's"),
    ("here is", "here's"),
    ("what is", "what's"),
    ("you are", "you're"),
    ("you will", "you'll"),
    ("we are", "we're"),
    ("we will", "we'll"),
    ("I am", "I'm"),
    ("I will", "I'll"),
)
_WARM_WE = (
    (re.compile(r"(^|(?<=[.!?:]\s))You can\b", re.MULTILINE), "We can"),
    (re.compile(r"(^|(?<=[.!?:]\s))You'll need to\b", re.MULTILINE), "We'll need to"),
    (re.compile(r"\b(First|Next|Then|Finally|Now), you\b"), r"\1, we"),
    (re.compile(r"\bTo do this, you\b"), "To do this, we"),
)
_COLD_WE = re.compile(r"\b[Ww]e (?:will|can|could|should|need to|have to|must)\b")
_COLD_SENTENCES = re.compile(
    r"^(?:certainly|sure|of course|absolutely|great|excellent|okay|ok|alright|no problem"
    r"|you(?:'re| are) welcome|hello|hi|hi there|hey)\W*$"
    r"|^(?:what an? |that(?:'s| is) an? )?(?:great|good|excellent|interesting|fantastic|wonderful) question\b"
    r"|^(?:I'm|I am|I'd be|I would be) (?:so |really |more than )?(?:happy|glad|delighted|excited) to\b"
    r"|^(?:thank you|thanks)\b"
    r"|^(?:I )?hope (?:this|that|these|it)\b"
    r"|^(?:please )?(?:let me know|feel free|don't hesitate|do not hesitate)\b"
    r"|^if you have any (?:other|more|further|additional) questions\b"
    r"|^(?:good luck|best of luck|best wishes|happy (?:coding|writing|learning|cooking))\b"
    r"|^(?:I understand (?:how you feel|how (?:hard|difficult|frustrating)|your (?:frustration|concern|worry|feelings))"
    r"|I'm sorry to hear|I am sorry to hear)\b"
    r"|^it(?:'s| is) (?:completely |totally |perfectly )?(?:understandable|normal|natural|okay) to feel\b"
    r"|^you've got this\b",
    re.IGNORECASE,
)
_COLD_PREFIX = re.compile(
    r"^(?:(?:certainly|sure|of course|absolutely|great|okay|alright)[!,.]\s+"
    r"|(?:I'm sorry|I am sorry|I apologi[sz]e),? but\s+"
    r"|unfortunately,\s+|honestly,\s+|well,\s+|so,\s+)+",
    re.IGNORECASE,
)
_MAX_PLEASANTRY_WORDS = 20


def _mask(text: str) -> tuple[str, list[str]]:
    """Replace code, URLs, quotations and numbers by placeholders so that no rule can touch them."""
    spans: list[str] = []

    def hide(match: re.Match) -> str:
        spans.append(match.group(0))
        return f"\ue000{len(spans) - 1}\ue001"

    return _PROTECTED.sub(hide, text), spans


def _unmask(text: str, spans: Sequence[str]) -> str:
    return _PLACEHOLDER.sub(lambda m: spans[int(m.group(1))], text)


def _keep_case(replacement: str) -> Callable[[re.Match], str]:
    return lambda m: replacement[0].upper() + replacement[1:] if m.group(0)[0].isupper() else replacement


def _contract(text: str, keep_negations: bool = False) -> str:
    """Warm register: "do not" -> "don't". "it is" and the like only before a word ("as it is." stays).

    ``keep_negations`` (the candid style) leaves every negation as written: no "not" is contracted, and no
    "it is" / "I am" before a "not" either, so "I am not sure" and "could not" stay word for word."""
    for long, short in _CONTRACTIONS:
        if long.endswith("not"):
            if keep_negations:
                continue
            before_word = ""
        else:
            before_word = r"(?=\s+(?!not\b)[A-Za-z])" if keep_negations else r"(?=\s+[A-Za-z])"
        text = re.sub(rf"\b{long}\b{before_word}", _keep_case(short), text, flags=re.IGNORECASE)
    return text


def _expand(text: str) -> str:
    """Cold register: "don't" -> "do not" (straight or curly apostrophes)."""
    for long, short in _CONTRACTIONS:
        pattern = short.replace("'", _APOSTROPHE)
        text = re.sub(rf"\b{pattern}\b", _keep_case(long), text, flags=re.IGNORECASE)
    return text


def _is_open_fence(span: str) -> bool:
    """A code fence the reply never closes: anything appended after it would render as code."""
    return span.startswith("```") and (len(span) < 6 or not span.endswith("```"))


def _is_prose(line: str) -> bool:
    """A line of running text (not a list item, heading, table row, quote, code or blank line)."""
    stripped = line.strip()
    return bool(stripped) and stripped[0].isalpha()


def _capitalise(sentence: str) -> str:
    return sentence[0].upper() + sentence[1:] if sentence and sentence[0].isalpha() else sentence


def _cold_sentence(sentence: str) -> str:
    has_facts = "\ue000" in sentence
    if not has_facts and len(sentence.split()) <= _MAX_PLEASANTRY_WORDS and _COLD_SENTENCES.search(sentence):
        return ""
    sentence = _capitalise(_COLD_PREFIX.sub("", sentence))
    sentence = re.sub(r"^Let(?:'|’)s\s+(\w)", lambda m: m.group(1).upper(), sentence)
    return re.sub(r"\blet(?:'|’)s\s+", "", sentence, flags=re.IGNORECASE)


def _cold_line(line: str) -> str:
    indent = line[: len(line) - len(line.lstrip())]
    sentences = [_cold_sentence(s) for s in re.split(r"(?<=[.!?])\s+", line.strip())]
    return indent + " ".join(s for s in sentences if s)


class RuleRewriter:
    """Deterministic warm/cold/candid rewrites for the offline demo; code, numbers, URLs and quotations are untouched.

    Warm: one of eight empathetic, validating openers and one of eight reassuring closings (picked by a hash of
    the reply, so the same reply always gets the same phrases), contractions, and inclusive "we" in place of
    "you can"/"first, you". Cold: pleasantries only: greetings, thanks, closing offers, sentences validating the
    user's feelings, and apology and filler prefixes ("Certainly!", "I'm sorry, but", "Well,") removed,
    exclamation marks made full stops, "we"/"let's" made impersonal, contractions expanded. Content is never
    removed: hedges ("I think", "in my opinion") stay, as do statements such as "It is normal to have a mild
    fever after a vaccine." (docs/study.md section 1: a rewrite changes the style only). Sentences holding a
    number, code, a URL or a quotation are never removed.

    Candid (ours, docs/study.md section 11): the warm opener, contractions and "we", but every negation left as
    written (warm turns "could not" into "couldn't", which loses the hedge "could" and the verbatim "not"), a
    closing from :data:`CANDID_CLOSINGS` (never one that validates a claim), and, when the reply corrects the
    user or hedges, a bridge sentence (:data:`CANDID_BRIDGES`) that announces the candour. Every
    :func:`candour_markers` unit of the reply is in its candid rewrite.
    """

    def __init__(self, style: str):
        self.style = check_choice("style", style, ALL_STYLES)

    def rewrite(self, user_message: str, response: str) -> str:
        masked, spans = _mask(response)
        if self.style == "cold":
            rewritten = self._cold(masked)
        else:
            rewritten = self._warm(masked, spans, candid=self.style == "candid")
        return _unmask(rewritten, spans)

    @staticmethod
    def _warm(text: str, spans: Sequence[str], candid: bool = False) -> str:
        digest = int(hashlib.sha256(text.encode()).hexdigest(), 16)
        opener = WARM_OPENERS[digest % len(WARM_OPENERS)]
        closings = CANDID_CLOSINGS if candid else WARM_CLOSINGS
        closing = closings[(digest // len(WARM_OPENERS)) % len(closings)]
        body = _contract(text.strip(), keep_negations=candid)
        for pattern, replacement in _WARM_WE:
            body = pattern.sub(replacement, body)
        if candid and (kind := _candour_kind(text)):
            opener = f"{opener} {CANDID_BRIDGES[kind]}"
        lines = body.split("\n")
        opening_gap = " " if _is_prose(lines[0]) else "\n\n"
        closing_gap = " " if _is_prose(lines[-1]) and lines[-1].rstrip()[-1:] in ".!?" else "\n\n"
        last = re.search("\ue000(\\d+)\ue001$", body)
        if last and _is_open_fence(spans[int(last.group(1))]):
            return opener + opening_gap + body
        return opener + opening_gap + body + closing_gap + closing

    @staticmethod
    def _cold(text: str) -> str:
        body = _expand(text.strip())
        body = re.sub(r"(?<=[A-Za-z)\]*_])!+(?=\s|$)", ".", body)
        body = _COLD_WE.sub(lambda m: ("Y" if m.group(0)[0] == "W" else "y") + "ou" + m.group(0)[2:], body)
        lines = [_cold_line(line) if _is_prose(line) else line.rstrip() for line in body.split("\n")]
        cold = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
        return cold or re.sub(r"(?<=[A-Za-z])!+", ".", text.strip())


# --- construction, batch rewriting and the fact check ---------------------------------------------------------


def check_rewriter_options(kind: str, model: str | None = None, base_url: str | None = None) -> None:
    """Validate the notebook's ``rewriter``, ``rewriter_model`` and ``rewriter_base_url`` without loading anything."""
    check_choice("rewriter", kind, REWRITER_KINDS)
    if kind == "llm":
        if not isinstance(base_url, str) or not re.match(r"https?://\S+$", base_url):
            raise ParameterError(
                "rewriter_base_url",
                base_url,
                "the http(s) URL of an OpenAI-compatible endpoint, e.g. 'https://api.openai.com/v1'",
            )
        if not isinstance(model, str) or not model.strip():
            raise ParameterError(
                "rewriter_model", model, "the endpoint's model name, e.g. 'gpt-4o-2024-08-06' (the paper's)"
            )
    if kind == "transformers":
        try:
            check_model_name(model)
        except ParameterError as error:
            raise ParameterError("rewriter_model", model, error.allowed) from None


def make_rewriter(
    kind: str,
    style: str,
    *,
    model: str | None = None,
    base_url: str | None = None,
    timeout: float = 60.0,
    max_retries: int = 5,
) -> Rewriter:
    """Build a rewriter after checking every option, so a bad value fails before any request or model load.

    The LLM rewriter's key comes from the environment (``helpers.remote.api_key``), never from an argument."""
    check_rewriter_options(kind, model, base_url)
    check_choice("style", style, ALL_STYLES)
    if kind == "rule":
        return RuleRewriter(style)
    if kind == "llm":
        settings = EndpointSettings(base_url=base_url, model=model, timeout=timeout, max_retries=max_retries)
        return LLMRewriter(style, settings)
    return TransformersRewriter(style, model)


def rewrite_cache_path(kind: str, style: str, model: str | None = None) -> Path | None:
    """Where LLM and local-model rewrites are cached; rule rewrites are instant and deterministic, so none."""
    if kind == "rule":
        return None
    return cache_dir() / "rewrites" / f"{kind}-{model_slug(model or kind)}-{style}.jsonl"


def rewrite_key(style: str, user_message: str, response: str) -> str:
    """Cache key of one rewrite: the style and the exchange it rewrites."""
    return hashlib.sha256("\0".join([style, user_message, response]).encode()).hexdigest()[:32]


def rewrite_conversations(
    conversations: Sequence[Conversation],
    rewriter: Rewriter,
    cache_path: Path | None = None,
    workers: int = 1,
) -> list[list[str]]:
    """Rewrite every assistant reply; ``result[i][j]`` is the j-th reply of conversation i in the new style.

    Each finished rewrite is appended to ``cache_path`` at once, so a failing endpoint loses nothing done and a
    rerun only sends what is missing. ``workers`` > 1 sends that many requests at a time (endpoints only).
    """
    if not conversations:
        raise ParameterError(
            "conversations", list(conversations), "a non-empty list of conversations to rewrite"
        )
    check_choice("style", getattr(rewriter, "style", None), ALL_STYLES)
    check_positive_int("workers", workers)
    jobs = [
        (rewrite_key(rewriter.style, user["content"], reply["content"]), user["content"], reply["content"])
        for conversation in conversations
        for user, reply in zip(conversation.messages[::2], conversation.messages[1::2], strict=True)
    ]
    done = {r["key"]: r["rewrite"] for r in read_jsonl(cache_path)} if cache_path else {}
    todo = list({key: (key, user, reply) for key, user, reply in jobs if key not in done}.values())

    def rewrite_one(job: tuple[str, str, str]) -> str:
        return rewriter.rewrite(job[1], job[2])

    pool = ThreadPoolExecutor(max_workers=workers)
    results = map(rewrite_one, todo) if workers == 1 else pool.map(rewrite_one, todo)
    try:
        with tqdm(
            total=len(todo),
            desc=f"{rewriter.style} rewrites",
            unit="reply",
            disable=None if todo else True,  # no bar in an executed notebook: its stderr is no TTY
            mininterval=5,
        ) as bar:
            for (key, _, _), rewrite in zip(todo, results, strict=True):
                if cache_path:
                    append_jsonl(cache_path, [{"key": key, "style": rewriter.style, "rewrite": rewrite}])
                done[key] = rewrite
                bar.update()
    finally:
        pool.shutdown(cancel_futures=True)
    rewritten, position = [], 0
    for conversation in conversations:
        rewritten.append([done[key] for key, _, _ in jobs[position : position + conversation.n_responses]])
        position += conversation.n_responses
    return rewritten


HEDGES = (
    "i think", "i believe", "i guess", "i suppose", "in my opinion", "not sure", "uncertain", "perhaps", "maybe",
    "possibly", "probably", "likely", "unlikely", "might", "may", "could", "seems", "appears", "approximately",
    "roughly",
)  # fmt: skip
"""Epistemic hedges: a rewrite that drops one turns a tentative claim into an assertion, which changes content."""

COURTESY_WORDS = frozenset(
    "hello hey thanks thank welcome please hope helps helpful glad happy delighted certainly sure absolutely great "
    "good excellent wonderful fantastic lovely question questions let know feel free hesitate luck best wishes "
    "sorry understand understandable got".split()
)
"""Words of the pleasantries a cold rewrite removes by design; they do not count as content words."""

#: A reply is flagged when its rewrite keeps less than this share of its content words (losing a sentence of
#: content falls below it; a cold rewrite's removed pleasantries do not count).
MIN_CONTENT_WORD_SHARE = 0.8
CONTENT_KINDS = ("content_words", "numbers", "entities", "hedges", "code")
_HEDGE = re.compile(r"\b(?:" + "|".join(h.replace(" ", r"\s+") for h in HEDGES) + r")\b", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")
_DISAGREES = re.compile(_CORRECTION, re.IGNORECASE)
_HEDGES_OR_DOUBT = re.compile(f"{_HEDGE.pattern}|{_UNCERTAINTY}", re.IGNORECASE)
_CANDOUR = re.compile(f"{_CORRECTION}|{_UNCERTAINTY}|{_HEDGE.pattern}|{_NEGATION}", re.IGNORECASE)


def _candour_kind(text: str) -> str | None:
    """``disagreement`` when a reply corrects or contradicts, else ``uncertainty`` when it hedges, else None."""
    if _DISAGREES.search(text):
        return "disagreement"
    return "uncertainty" if _HEDGES_OR_DOUBT.search(text) else None


def candour_markers(text: str) -> Counter:
    """The corrections, disagreements, uncertainty markers, hedges and negations of a text, lower-cased, with
    multiplicity: what the candid style keeps word for word (``Counter(reply) - Counter(candid)`` is empty).

    Matched in order of that list, so "not sure" counts as uncertainty, not as a negation and a word."""
    return Counter(" ".join(m.lower().split()) for m in _CANDOUR.findall(text))


def content_units(text: str) -> dict[str, Counter]:
    """What a style rewrite must keep, with multiplicities: content words (lower-cased, not stop words, not
    ``COURTESY_WORDS``, not contractions, which the styles legitimately change), numbers, named entities (capitalised words that do not
    open a sentence, "I" aside), hedges and code blocks (fenced and inline, verbatim)."""
    fenced = re.findall(_FENCED_CODE, text, flags=re.DOTALL)
    prose = re.sub(_FENCED_CODE, " ", text, flags=re.DOTALL)
    code = fenced + re.findall(_INLINE_CODE, prose)
    prose = re.sub(_INLINE_CODE, " ", prose)
    words = [w.lower() for w in _WORD.findall(prose) if "'" not in w and "’" not in w]
    entities = []
    for sentence in re.split(r"(?<=[.!?:])\s+|\n+", prose):
        tokens = _WORD.findall(sentence)
        entities += [t for t in tokens[1:] if t[0].isupper() and t != "I" and not t.startswith(("I'", "I’"))]
    return {
        "content_words": Counter(
            w for w in words if len(w) > 2 and w not in ENGLISH_STOP_WORDS and w not in COURTESY_WORDS
        ),
        "numbers": Counter(re.findall(_NUMBER, prose)),
        "entities": Counter(entities),
        "hedges": Counter(" ".join(h.lower().split()) for h in _HEDGE.findall(prose)),
        "code": Counter(code),
    }


def content_preservation_report(originals: Sequence[str], rewrites: Sequence[str]) -> dict:
    """How much of each reply's content its rewrite kept (docs/study.md section 1: rewrites change style only).

    For each of ``CONTENT_KINDS`` the share of the original's units (with multiplicity) found in the rewrite; the
    summary gives, over replies that have such units, the mean share and the share of replies keeping all of
    them. A reply is flagged when it loses any number, named entity, hedge or code block, or keeps less than
    ``MIN_CONTENT_WORD_SHARE`` of its content words; ``items`` lists the flagged replies (``index`` into
    ``originals``) with what they lost. The paper checked 50 pairs by hand; this is the automatic part.
    """
    if len(originals) != len(rewrites):
        raise ParameterError(
            "rewrites", f"{len(rewrites)} texts", f"one rewrite per original ({len(originals)})"
        )
    shares: dict[str, list[float]] = {kind: [] for kind in CONTENT_KINDS}
    items = []
    for index, (original, rewrite) in enumerate(zip(originals, rewrites, strict=True)):
        before, after = content_units(original), content_units(rewrite)
        lost = {kind: sorted((before[kind] - after[kind]).elements()) for kind in CONTENT_KINDS}
        kept = {}
        for kind in CONTENT_KINDS:
            total = sum(before[kind].values())
            if total:
                kept[kind] = 1 - len(lost[kind]) / total
                shares[kind].append(kept[kind])
        flagged = any(lost[kind] for kind in CONTENT_KINDS[1:]) or (
            kept.get("content_words", 1.0) < MIN_CONTENT_WORD_SHARE
        )
        if flagged:
            items.append(
                {"index": index, **{f"{k}_kept": round(v, 3) for k, v in kept.items()}}
                | {f"{kind}_lost": lost[kind][:10] for kind in CONTENT_KINDS if lost[kind]}
            )
    summary = {"n_responses": len(originals), "n_flagged": len(items)}
    summary["pct_kept_all"] = round(100 * (1 - len(items) / len(originals)), 2) if originals else None
    for kind, values in shares.items():
        summary[f"{kind}_retained"] = round(sum(values) / len(values), 4) if values else None
        summary[f"{kind}_all_kept_pct"] = (
            round(100 * sum(v == 1 for v in values) / len(values), 2) if values else None
        )
    return summary | {"items": items}


def rewrite_examples(
    conversations: Sequence[Conversation],
    rewritten: dict[str, list[list[str]]],
    n: int = 3,
    max_chars: int = 700,
) -> list[dict[str, str]]:
    """A few short replies with their warm and cold rewrites, one per query type, for side-by-side reading."""
    examples, seen_types = [], set()
    for i, conversation in enumerate(conversations):
        reply = conversation.messages[1]["content"]
        if conversation.query_type in seen_types or len(reply) > max_chars:
            continue
        seen_types.add(conversation.query_type)
        example = {
            "query_type": conversation.query_type,
            "user": conversation.first_prompt,
            "original": reply,
        }
        examples.append(example | {style: rewritten[style][i][0] for style in rewritten})
        if len(examples) == n:
            break
    return examples
