"""A small local OpenAI-compatible server, so the judge and the LLM rewriter run offline against a local model.

The demo scores with rules and rewrites with rules because the paper's GPT-4o is not reachable offline. A class
that wants to see the LLM path (``evaluate.judge_base_url``, ``training_data.rewriter_base_url``) needs an
endpoint; this one serves any model :func:`helpers.models.load_model` loads (the embedded SmolLM2 by default)::

    python -m helpers serve --model embedded:SmolLM2-135M-Instruct --port 8000
    # judge_base_url: http://127.0.0.1:8000/v1   judge_model: embedded:SmolLM2-135M-Instruct

It speaks the two routes the project's clients use: ``GET /v1/models`` and ``POST /v1/chat/completions``.

- Free text is generated with :func:`helpers.generation.generate_responses`, the evaluation's own code, at the
  request's ``temperature``, ``max_tokens`` and ``seed``: the same chat template, stop tokens and sampling as an
  evaluation answer, so what the judge or the rewriter says here is what the project's generation would say.
- A ``response_format`` JSON schema of one string property with an ``enum`` (the judge's verdict schema) is
  answered with the most likely of the enum's values (its log-probability as the whole reply), sampled at the
  request's temperature — what a guided-choice engine does. A 135M model asked for a one-word verdict in free
  text rambles instead (it said "The capital of France is" to every judge prompt we tried), so without this the
  judge exercise could not run. Any other schema is refused with a 400, which the judge answers by falling back
  to free text.
- A conversation is an optional system message and one user message: that is every request the judge and the
  rewriter send (the judge's follow-up turn only follows a reply that is not a verdict, which the enum path never
  gives), and it is what the evaluation's generation takes.

Bad input is a 400 whose JSON error names the field (``{"error": {"message", "type", "param"}}``, OpenAI's
shape), so a student sees what to fix. Requests are answered one at a time (a lock around the model): on a
2-core CPU two generations at once are not faster than one after the other.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import torch

from helpers.generation import GenerationSettings, generate_responses, prompt_token_ids

DEFAULT_MAX_TOKENS = 512
"""Cap when a request gives none (OpenAI's is the model's context): the rewriter sends no ``max_tokens``."""


class RequestError(ValueError):
    """A request the server cannot answer as sent: HTTP 400 naming ``param``."""

    def __init__(self, param: str, message: str):
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class ChatRequest:
    """A validated chat-completion request: the prompt, its system message and how to answer it."""

    model: str
    prompt: str
    system_prompt: str | None
    temperature: float
    max_tokens: int
    seed: int
    choice: tuple[str, tuple[str, ...]] | None = None  # (property, allowed values) of an enum schema


def _number(body: dict[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise RequestError(name, f"'{name}' must be a number from {low:g} to {high:g}, got {value!r}")
    return float(value)


def _integer(body: dict[str, Any], name: str, default: int) -> int:
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RequestError(name, f"'{name}' must be a positive integer, got {value!r}")
    return value


def _conversation(messages: Any) -> tuple[str | None, str]:
    """``(system prompt, user prompt)`` of an optional system message followed by one user message."""
    if not isinstance(messages, list) or not messages:
        raise RequestError("messages", "'messages' must be a non-empty list of {role, content} objects")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            raise RequestError(f"messages[{i}].content", f"message {i} needs 'content' as a string")
    roles = [m.get("role") for m in messages]
    if roles not in (["user"], ["system", "user"]):
        raise RequestError(
            "messages",
            f"this server answers an optional system message and one user message (got roles {roles}), "
            "as the project's generation does",
        )
    system = messages[0]["content"] if roles[0] == "system" else None
    return system, messages[-1]["content"]


def _enum_choice(response_format: Any) -> tuple[str, tuple[str, ...]] | None:
    """``(property, values)`` of a JSON schema with one string enum property; None for plain text."""
    if response_format is None or response_format == {"type": "text"}:
        return None
    refusal = RequestError(
        "response_format",
        "'response_format' must be absent, {'type': 'text'}, or a JSON schema of one string property with an "
        "'enum' (free text is then asked for instead)",
    )
    if not isinstance(response_format, dict) or response_format.get("type") != "json_schema":
        raise refusal
    schema = (response_format.get("json_schema") or {}).get("schema") or {}
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict) or len(properties) != 1:
        raise refusal
    [(name, spec)] = properties.items()
    values = spec.get("enum") if isinstance(spec, dict) else None
    if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
        raise refusal
    return name, tuple(values)


def parse_request(body: Any, served_model: str) -> ChatRequest:
    """Validate a ``/v1/chat/completions`` body; :class:`RequestError` names the first bad field."""
    if not isinstance(body, dict):
        raise RequestError("body", "the request body must be a JSON object")
    if body.get("model") != served_model:
        raise RequestError("model", f"'model' must be {served_model!r} (the model this server serves)")
    if body.get("stream"):
        raise RequestError("stream", "streaming is not supported: send 'stream': false")
    if body.get("n", 1) != 1:
        raise RequestError("n", "'n' must be 1")
    system, prompt = _conversation(body.get("messages"))
    seed = body.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int | None):
        raise RequestError("seed", f"'seed' must be an integer, got {seed!r}")
    cap_field = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
    return ChatRequest(
        model=served_model,
        prompt=prompt,
        system_prompt=system,
        temperature=_number(body, "temperature", 1.0, 0.0, 2.0),
        max_tokens=_integer(body, cap_field, DEFAULT_MAX_TOKENS),
        seed=seed or 0,
        choice=_enum_choice(body.get("response_format")),
    )


@dataclass
class LocalChatModel:
    """A loaded model answering :class:`ChatRequest` objects, one at a time."""

    name: str
    model: Any
    tokenizer: Any
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, request: ChatRequest) -> tuple[str, int, int, str]:
        """``(content, prompt tokens, completion tokens, finish reason)`` for one request."""
        [prompt_ids] = prompt_token_ids(self.tokenizer, [request.prompt], request.system_prompt)
        with self._lock:
            if request.choice is not None:
                prop, values = request.choice
                value = self._choose(prompt_ids, values, request)
                content = json.dumps({prop: value})
                return content, len(prompt_ids), len(self.tokenizer(value)["input_ids"]), "stop"
            settings = GenerationSettings(
                request.temperature, request.max_tokens, 1, request.seed, request.system_prompt
            )
            [text] = generate_responses(
                self.model, self.tokenizer, [request.prompt], settings, model_id=self.name, desc="serving"
            )
        # The generation returns text, so the answer is counted by encoding it again; decode-then-encode can
        # split tokens differently, but the generation never passes the cap, so the count stops there too.
        used = min(len(self.tokenizer(text, add_special_tokens=False)["input_ids"]), request.max_tokens)
        return text, len(prompt_ids), used, "length" if used >= request.max_tokens else "stop"

    def _choose(self, prompt_ids: list[int], values: tuple[str, ...], request: ChatRequest) -> str:
        """The enum value the model finds most likely as its whole reply (ended by its stop token), sampled at
        the request's temperature from the softmax of those log-probabilities (greedy at 0)."""
        stop = self.tokenizer.eos_token_id
        scores = []
        with torch.inference_mode():
            for value in values:
                reply = self.tokenizer(value, add_special_tokens=False)["input_ids"] + [stop]
                ids = torch.tensor([prompt_ids + reply], device=self.model.device)
                logits = self.model(input_ids=ids).logits[0, len(prompt_ids) - 1 : -1].float()
                log_probs = torch.log_softmax(logits, dim=-1)
                scores.append(
                    float(log_probs.gather(1, torch.tensor(reply, device=ids.device)[:, None]).sum())
                )
        if request.temperature == 0:
            return values[max(range(len(values)), key=scores.__getitem__)]
        weights = torch.softmax(torch.tensor(scores) / request.temperature, dim=0)
        digest = hashlib.sha256(
            f"{request.seed}|{request.system_prompt}|{request.prompt}".encode()
        ).hexdigest()
        generator = torch.Generator().manual_seed(int(digest[:15], 16))
        return values[int(torch.multinomial(weights, 1, generator=generator))]


def _completion(chat: LocalChatModel, request: ChatRequest) -> dict[str, Any]:
    content, prompt_tokens, completion_tokens, finish = chat.answer(request)
    number = int(time.time() * 1000)
    return {
        "id": f"chatcmpl-{number}",
        "object": "chat.completion",
        "created": number // 1000,
        "model": chat.name,
        "choices": [
            {"index": 0, "finish_reason": finish, "message": {"role": "assistant", "content": content}}
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def make_server(chat: LocalChatModel, host: str = "127.0.0.1", port: int = 8000) -> ThreadingHTTPServer:
    """An HTTP server (not yet serving) answering the OpenAI routes with ``chat``; port 0 picks a free one."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the openai client expects of real endpoints

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server API)
            return  # one line per request would drown the progress of the run using the server

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, param: str | None, message: str) -> None:
            error_type = "invalid_request_error" if status == 400 else "not_found_error"
            self._send(status, {"error": {"message": message, "type": error_type, "param": param}})

        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            if self.path.rstrip("/") != "/v1/models":
                self._error(404, None, f"no route {self.path}: GET /v1/models, POST /v1/chat/completions")
                return
            entry = {"id": chat.name, "object": "model", "created": 0, "owned_by": "warmbook"}
            self._send(200, {"object": "list", "data": [entry]})

        def do_POST(self) -> None:  # noqa: N802 (http.server API)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._error(404, None, f"no route {self.path}: GET /v1/models, POST /v1/chat/completions")
                return
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                self._error(400, "body", "the request body is not valid JSON")
                return
            try:
                request = parse_request(body, chat.name)
            except RequestError as error:
                self._error(400, error.param, str(error))
                return
            self._send(200, _completion(chat, request))

    return ThreadingHTTPServer((host, port), Handler)


def serve(model: str, host: str = "127.0.0.1", port: int = 8000, device: str = "auto") -> None:
    """Load ``model`` as the evaluation does and answer requests until interrupted (Ctrl-C)."""
    from helpers.models import load_model

    lm, tokenizer = load_model(model, device=device)
    server = make_server(LocalChatModel(model, lm, tokenizer), host, port)
    print(f"Serving {model} at http://{host}:{server.server_address[1]}/v1 (Ctrl-C stops it)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
