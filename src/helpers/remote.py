"""OpenAI-compatible endpoints (the paper's GPT-4o judge and rewriter): settings, the API key and retries.

A paper-sized study makes hundreds of thousands of paid calls (docs/design.md; issues 11 and 13), so every call
survives the faults real endpoints show: a 429 (waiting what its ``Retry-After`` asks), a 5xx, a timeout, a
dropped connection and a status-200 reply whose body is not JSON are retried with exponential backoff, up to
``max_retries`` times; a 401/403 stops at once, naming the variable to set; every error names the endpoint's
model and base URL. The ``openai`` client's own retries are switched off, so one budget counts every fault.

One key serves judge and rewriter (README, "The paper's study on GPUs"): ``WARMBOOK_JUDGE_API_KEY``, else
``OPENAI_API_KEY``. It lives in a pydantic ``SecretStr``, which prints as ``**********``, and never in the
settings, which are written into run records.
"""

from __future__ import annotations

import email.utils
import json
import os
import random
import re
import time
from typing import Any

import openai
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from helpers.validation import ParameterError

KEY_VARIABLE = "WARMBOOK_JUDGE_API_KEY"
FALLBACK_KEY_VARIABLE = "OPENAI_API_KEY"
OPENAI_BASE_URL = "https://api.openai.com/v1"
#: The first wait after a fault; it doubles with each retry (with jitter) up to MAX_BACKOFF_S.
INITIAL_BACKOFF_S = 1.0
MAX_BACKOFF_S = 60.0
#: The longest ``Retry-After`` honoured as given; a longer one is cut to this.
MAX_RETRY_AFTER_S = 300.0


class EndpointSettings(BaseModel):
    """Where and how an OpenAI-compatible model is called. Frozen; no key (see :func:`api_key`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str | None = Field(
        None, description="OpenAI-compatible base URL (vLLM, llama.cpp, Ollama...); None: OpenAI's API."
    )
    model: str = Field(min_length=1, description="The endpoint's model name (paper: gpt-4o).")
    timeout: float = Field(60.0, gt=0, description="Seconds one request may take before it is retried.")
    max_retries: int = Field(
        5,
        ge=0,
        description="Retries of one item after a fault (429, 5xx, timeout, dropped connection, malformed "
        "reply); after the last one the item is recorded as failed and retried on the next run.",
    )
    concurrency: int = Field(8, gt=0, description="Requests in flight at the same time.")

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"https?://\S+$", value):
            raise ValueError("None (OpenAI) or the http(s) URL of an OpenAI-compatible endpoint")
        return value

    def describe(self) -> str:
        """How errors name the endpoint: its model and base URL."""
        return f"model {self.model!r} at {self.base_url or OPENAI_BASE_URL}"


def api_key(settings: EndpointSettings) -> SecretStr:
    """The key for ``settings``' endpoint: ``WARMBOOK_JUDGE_API_KEY``, else ``OPENAI_API_KEY``.

    OpenAI's API needs one (refused here, before any request); a local server without authentication gets a
    placeholder.
    """
    key = os.environ.get(KEY_VARIABLE) or os.environ.get(FALLBACK_KEY_VARIABLE)
    if key:
        return SecretStr(key)
    if settings.base_url is None:
        raise ParameterError(
            KEY_VARIABLE, None, f"an API key for OpenAI's API (or set {FALLBACK_KEY_VARIABLE})"
        )
    return SecretStr("not-needed")


class RemoteError(RuntimeError):
    """An endpoint gave no usable reply after every retry, or refused a request that no retry can fix."""


class RemoteAuthError(RemoteError):
    """401/403: the key is missing, wrong or lacks access. Retrying cannot help, so the run stops."""


class MalformedReply(ValueError):
    """A status-200 reply with no usable content (no choices, no message, not the requested format)."""


def _retry_after(error: openai.APIStatusError) -> float | None:
    """Seconds the server asked to wait (``retry-after-ms``, ``Retry-After`` in seconds or as an HTTP date)."""
    headers = error.response.headers
    try:
        if "retry-after-ms" in headers:
            return float(headers["retry-after-ms"]) / 1000
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return float(value)
        except ValueError:
            date = email.utils.parsedate_to_datetime(value)
            return date.timestamp() - time.time()
    except (TypeError, ValueError):
        return None


def fault_delay(settings: EndpointSettings, error: Exception, attempt: int) -> float:
    """Seconds to wait before retrying after ``error`` on attempt ``attempt`` (0-based); raises if hopeless.

    429 waits what ``Retry-After`` asks (at most MAX_RETRY_AFTER_S), other faults back off exponentially with
    jitter. 401/403 raise :class:`RemoteAuthError` naming the key variable; other 4xx raise :class:`RemoteError`.
    """
    if isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
        raise RemoteAuthError(
            f"{settings.describe()} refused the API key (HTTP {error.status_code}): set {KEY_VARIABLE} "
            f"(or {FALLBACK_KEY_VARIABLE}) to a key with access to this model."
        ) from error
    retryable = isinstance(
        error,
        openai.APIConnectionError | openai.APIResponseValidationError | json.JSONDecodeError | MalformedReply,
    ) or (
        isinstance(error, openai.APIStatusError)
        and (error.status_code in (408, 409, 429) or error.status_code >= 500)
    )
    if not retryable:
        raise RemoteError(f"{settings.describe()} rejected the request: {describe_fault(error)}") from error
    backoff = min(MAX_BACKOFF_S, INITIAL_BACKOFF_S * 2**attempt) * random.uniform(0.5, 1.0)
    if isinstance(error, openai.APIStatusError) and error.status_code == 429:
        asked = _retry_after(error)
        if asked is not None and asked >= 0:
            return min(asked, MAX_RETRY_AFTER_S)
    return backoff


def describe_fault(error: Exception) -> str:
    """A short, key-free description of one fault for error messages and failure records."""
    if isinstance(error, openai.APITimeoutError):
        return "timed out"
    if isinstance(error, openai.APIConnectionError):
        return "connection failed or dropped"
    if isinstance(error, openai.APIStatusError):
        return f"HTTP {error.status_code}"
    if isinstance(error, json.JSONDecodeError):
        return "malformed reply (status 200, body is not JSON)"
    return f"{type(error).__name__}: {error}"


def reply_content(completion: object) -> str:
    """The assistant message of a chat completion; :class:`MalformedReply` when there is none."""
    choices = getattr(completion, "choices", None)
    if not choices or getattr(choices[0], "message", None) is None:
        raise MalformedReply("the reply has no message")
    return choices[0].message.content or ""


def _client_options(settings: EndpointSettings) -> dict[str, Any]:
    """The client's endpoint, key and timeout, with its own retries off (the caller's loop counts every fault)."""
    return {
        "base_url": settings.base_url or OPENAI_BASE_URL,
        "api_key": api_key(settings).get_secret_value(),
        "timeout": settings.timeout,
        "max_retries": 0,
    }


def sync_client(settings: EndpointSettings) -> openai.OpenAI:
    """A blocking client."""
    return openai.OpenAI(**_client_options(settings))


def async_client(settings: EndpointSettings) -> openai.AsyncOpenAI:
    """An asyncio client, for many requests in flight."""
    return openai.AsyncOpenAI(**_client_options(settings))
